"""Hardening, round two (issue 23): hostile input through every reader, the CLI's exits, what
reaches a terminal, damaged and read-only data directories, unbounded resources."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corpus.crawler import crawl
from corpus.post import Post, Problem
from corpus.readers import read_source
from tests.conftest import FIXTURE_POSTS
from tests.test_cli import run


@pytest.fixture(scope="module")
def data(fixture_data):
    return fixture_data.root


# -- item 9: the CLI never ends in exit 3 on input ---------------------------------------------
@pytest.mark.parametrize("command", ["show", "similar"])
@pytest.mark.parametrize("ref", ["²", "①", "https://kexue.fm/archives/" + "9" * 5000, "x"])
def test_a_post_reference_that_is_no_id_is_a_usage_error(data, command, ref):
    result = run(command, ref, data=data)
    assert result.returncode == 2, result.stderr
    assert "neither a post id nor a post's URL" in result.stderr
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 300


@pytest.mark.parametrize("command", ["show", "similar"])
@pytest.mark.parametrize("ref", ["9" * 5000, "99999999999999999999"])
def test_a_number_past_every_post_id_is_no_post(data, command, ref):
    result = run(command, ref, data=data)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("search: no post 999") and len(result.stderr) < 200


def test_a_malformed_url_to_index_is_reported_not_a_crash(tmp_path):
    result = run("index", "--no-vectors", "http://[::1", data=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "not a usable URL" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        "[" * 100_000,
        '{"qid": "q", "query": "x", "relevant": {"1": 1e400}}',
        '{"qid": "q", "query": "x", "relevant": {"' + "9" * 5000 + '": 1}}',
    ],
)
def test_eval_on_a_hostile_query_file_is_a_data_error(data, tmp_path, line):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    result = run("eval", str(path), "--mode", "lexical", data=data)
    assert result.returncode == 2, result.stderr
    assert "not a judged query" in result.stderr and result.stderr.count("\n") == 1


def test_an_ascii_stdout_is_one_line_and_exit_2(data):
    result = run("query", "RoPE", "--mode", "lexical", data=data, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 2, result.stderr
    assert "cannot show this text" in result.stderr and "internal error" not in result.stderr


def test_a_closed_stdout_is_one_line_and_exit_2(data):
    script = 'exec "$0" -m search.cli --data-dir "$1" query RoPE --mode lexical >&-'
    result = subprocess.run(
        ["sh", "-c", script, sys.executable, str(data)],
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "standard output is closed" in result.stderr


# -- item 12: a failed write is a failure --------------------------------------------------------
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_embed_to_a_full_disk_fails_and_writes_nothing_beside_it(data, tmp_path):
    result = run("embed", "RoPE", "--npy", "/dev/full", data=data)
    assert result.returncode == 2, result.stderr
    assert "No space left on device: /dev/full" in result.stderr
    assert "wrote" not in result.stderr
    assert not Path("/dev/full.npy").exists()


def test_embed_writes_the_file_it_names(data, tmp_path):
    import numpy as np

    target = tmp_path / "vectors.bin"  # no .npy suffix: the name is kept as given
    result = run("embed", "RoPE", "--npy", str(target), data=data)
    assert result.returncode == 0, result.stderr
    assert np.load(target).shape[0] == 1 and not (tmp_path / "vectors.bin.npy").exists()


# -- a loopback site for the crawler ---------------------------------------------------------------
@contextlib.contextmanager
def site(routes: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """A loopback HTTP server answering `routes` (path → (Content-Type, body)); 404 otherwise."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = routes.get(self.path)
            if found is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            kind, body = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def post_page(post_id: int, title: str, body: str) -> str:
    return (
        '<html><head><meta charset="utf-8"></head><body><div class="Post">'
        f'<div class="title-wrap"><h1><a href="https://kexue.fm/archives/{post_id}">{title}</a>'
        '</h1><span class="submitted">By 苏剑林 | 2022-02-02 | </span></div>'
        f'<div id="PostContent">{body}</div></div></body></html>'
    )


HTML = "text/html; charset=utf-8"
HOSTILE = "rope\x1b]52;c;UFdORUQ=\x1b\\"  # OSC 52: write the clipboard


# -- item 2: nothing from a post or a site reaches the terminal raw --------------------------------
def test_a_did_you_mean_suggestion_prints_no_escape_sequence(tmp_path):
    src = tmp_path / "p.jsonl"
    post = {"id": 5, "title": "t", "body": "x 鸭子", "tags": [HOSTILE], "category": HOSTILE}
    src.write_text(json.dumps(post) + "\n", encoding="utf-8")
    assert run("index", "--no-vectors", str(src), data=tmp_path / "d").returncode == 0
    for flt in ("tag:rop", "category:rop"):
        result = run("query", f"x {flt}", "--mode", "lexical", data=tmp_path / "d")
        assert result.returncode == 2, result.stderr
        assert "did you mean" in result.stderr
        assert "\x1b" not in result.stderr and "\x1b" not in result.stdout


def test_a_skipped_file_name_prints_no_escape_sequence(tmp_path):
    bad = tmp_path / "a\x1b]0;pwned\x07\x1b[2J.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    result = run("index", "--no-vectors", str(bad), data=tmp_path / "d")
    assert "skipped" in result.stderr and "malformed JSON" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def test_a_crawled_title_prints_no_escape_sequence(tmp_path):
    title = "\x1b]0;owned\x07\x1b[2J\x1b]52;c;UFdORUQ=\x07标题"
    routes = {"/archives/42": (HTML, post_page(42, title, "<p>正文</p>").encode())}
    with site(routes) as root:
        result = run("index", "--no-vectors", f"{root}/archives/42", data=tmp_path / "d")
    assert result.returncode == 0, result.stderr
    assert "标题" in result.stderr and "1 new" in result.stderr
    assert not any(c in result.stderr for c in "\x1b\x07\x9b\x9d")


# -- item 3: hostile input is one Problem with its file and line; the other posts are read -------
def read_all(*sources: Path) -> tuple[list[Post], list[Problem]]:
    items = [item for s in sources for item in read_source(s)]
    return [p for p in items if isinstance(p, Post)], [p for p in items if isinstance(p, Problem)]


def page_file(tmp_path: Path, name: str, body: str, head: str = '<meta charset="utf-8">') -> Path:
    path = tmp_path / name
    path.write_text(post_page(8, "标题", body).replace('<meta charset="utf-8">', head), "utf-8")
    return path


def test_a_json_lines_id_of_5000_digits_is_a_problem_for_its_line(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text(
        '{"id": %s, "title": "t", "body": "b"}\n{"id": 7, "title": "ok", "body": "b"}\n'
        % ("9" * 5000),
        encoding="utf-8",
    )
    posts, problems = read_all(src)
    assert [p.id for p in posts] == [7]
    assert [(p.line, "malformed JSON" in p.message) for p in problems] == [(1, True)]


def test_a_page_holding_the_math_placeholder_keeps_its_text_and_its_math(tmp_path):
    path = page_file(tmp_path, "8.html", "<p>KXMATH7X and KXMATH0X beside $x^2$</p>")
    posts, problems = read_all(path)
    assert not problems
    assert posts[0].body == "KXMATH7X and KXMATH0X beside $x^2$"


def test_a_private_use_character_beside_math_is_kept(tmp_path):
    path = page_file(tmp_path, "8.html", "<p>a\ue000 $x$ b<br>c $y$ \ue001</p>")
    posts, problems = read_all(path)
    assert not problems
    assert "a\ue000 $x$ b" in posts[0].body and "c $y$ \ue001" in posts[0].body


def test_a_page_nested_3000_deep_is_a_problem_and_the_folder_goes_on(tmp_path):
    page_file(tmp_path, "8.html", "<div>" * 3000 + "x $y$" + "</div>" * 3000)
    (tmp_path / "9.html").write_text(post_page(9, "好的", "<p>正文</p>"), "utf-8")
    posts, problems = read_all(tmp_path)
    assert [p.id for p in posts] == [9]
    assert len(problems) == 1 and "nested too deeply" in problems[0].message
    assert problems[0].source.endswith("8.html")


@pytest.mark.parametrize("charset", ["rot13", "base64", "hex", "no-such-codec"])
def test_a_saved_page_declaring_a_charset_that_is_no_text_codec_is_read(tmp_path, charset):
    path = tmp_path / "8.html"
    page = post_page(8, "标题", "<p>正文 $x$ é</p>").replace("utf-8", charset)
    path.write_bytes(page.encode("gb18030"))  # not UTF-8, so the declared charset is sniffed
    posts, problems = read_all(path)
    assert len(posts) + len(problems) == 1


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefg"], "abcdefgh", strict=True)
)


@pytest.mark.parametrize("field", ["tags", "category", "title"])
def test_a_yaml_alias_bomb_in_front_matter_is_refused_at_once(tmp_path, field):
    extra = "" if field == "title" else "title: t\n"
    (tmp_path / "9-bomb.md").write_text(f"---\nid: 9\n{BOMB}{field}: *h\n{extra}---\nb\n", "utf-8")
    (tmp_path / "10-ok.md").write_text("---\nid: 10\ntitle: 好\n---\n正文\n", "utf-8")
    started = time.monotonic()
    posts, problems = read_all(tmp_path)
    assert time.monotonic() - started < 5
    assert [p.id for p in posts] == [10]
    assert len(problems) == 1 and "aliases" in problems[0].message
    assert problems[0].line == 5  # the first line using an alias


def test_ordinary_yaml_front_matter_still_reads(tmp_path):
    path = tmp_path / "11-a.md"
    path.write_text("---\nid: 11\ntitle: 'A: b'\ntags: [x, y]\ndate: 2020-01-02\n---\nz\n", "utf-8")
    posts, problems = read_all(path)
    assert not problems and posts[0].tags == ("x", "y") and posts[0].title == "A: b"


def crawl_all(root: str, **kwargs: object) -> list[Post | Problem]:
    return list(crawl(root, delay=0, sleep=lambda _s: None, **kwargs))


@pytest.mark.parametrize(
    "body",
    [
        "<p>KXMATH7X $x$</p>",
        "<p>\ue000 $x$<br>$y$</p>",
        "<div>" * 3000 + "$x$" + "</div>" * 3000,
    ],
)
def test_a_hostile_crawled_page_is_a_problem_or_a_post_never_a_crash(body):
    routes = {"/archives/8": (HTML, post_page(8, "标题", body).encode())}
    with site(routes) as root:
        items = crawl_all(f"{root}/archives/8")
    assert len(items) == 1


@pytest.mark.parametrize("charset", ["rot13", "base64"])
def test_a_page_and_robots_txt_in_a_charset_that_is_no_text_codec(charset):
    kind = f"text/html; charset={charset}"
    routes = {
        "/robots.txt": (f"text/plain; charset={charset}", b"User-agent: *\nAllow: /\n"),
        "/archives/8": (kind, post_page(8, "标题", "<p>正文 $x$</p>").encode()),
    }
    with site(routes) as root:
        items = crawl_all(f"{root}/archives/8")
    assert [type(i) for i in items] == [Post]


def test_an_archive_listing_linking_a_5000_digit_id_lists_the_others():
    listing = f'<a href="/archives/{"9" * 5000}">x</a> <a href="/archives/8">y</a>'
    routes = {
        "/content.html": (HTML, listing.encode()),
        "/archives/8": (HTML, post_page(8, "标题", "<p>正文</p>").encode()),
    }
    with site(routes) as root:
        items = crawl_all(root)
    assert [i.id for i in items if isinstance(i, Post)] == [8]


@pytest.mark.parametrize(
    "line", ["Crawl-delay: ²", "Crawl-delay: " + "9" * 5000, "Request-rate: ²/1"]
)
def test_robots_txt_numbers_that_are_not_numbers_are_ignored(line):
    routes = {
        "/robots.txt": ("text/plain", f"User-agent: *\n{line}\nAllow: /\n".encode()),
        "/archives/8": (HTML, post_page(8, "标题", "<p>正文</p>").encode()),
    }
    with site(routes) as root:
        items = crawl_all(f"{root}/archives/8")
    assert [type(i) for i in items] == [Post]


# -- item 1: one post cannot freeze anything: every pass over its text is linear -----------------
ITEM1_BODY = "旋转位置编码 外推 " + "\\begin{a}" * 111_000  # 999k characters, inside every limit
UNCLOSED = ["\\begin{a}", "\\[", "\\(", "```a\n", "~~~a\n", "\\begin{a}\\end{b}", "$$", "$"]


def test_the_linear_patterns_match_exactly_what_their_regexes_match():
    import random

    from corpus.latex import DISPLAY_MATH, FENCE, MATHJAX

    pieces = ["$", "$$", "\\", "\\begin{a}", "\\end{a}", "\\begin{b}", "\\end{b}", "\\[", "\\]"]
    pieces += ["\\(", "\\)", "x", " ", "\n", "```", "~~~", "```a", "\t", "中", "\\$"]
    rng = random.Random(23)
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        pos = rng.randint(0, len(text))
        for pattern in (DISPLAY_MATH, MATHJAX, FENCE):
            for args in ((text,), (text, pos), (text, 0, pos)):
                want = [(m.span(), m.groupdict()) for m in pattern.regex.finditer(*args)]
                assert [(m.span(), m.groupdict()) for m in pattern.finditer(*args)] == want, args


def test_every_math_pass_over_400k_characters_of_unclosed_openers_is_quick():
    # In a child process with a deadline: the quadratic regexes this replaces took minutes and
    # held the GIL, so a timer in this process could not have stopped them.
    code = f"""
import time
from corpus.latex import MATHJAX, math_spans
from corpus.post import Post
from index.chunking import chunk_post
for unit in {UNCLOSED!r}:
    body = "旋转位置编码 外推 " + unit * (400_000 // len(unit))
    for name, f in [("math_spans", math_spans), ("mathjax", lambda t: list(MATHJAX.finditer(t))),
                    ("chunk", lambda t: chunk_post(Post(id=1, title="t", body=t)))]:
        started = time.perf_counter()
        f(body)
        took = time.perf_counter() - started
        assert took < 1.5, (unit, name, took)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_item_1_post_is_indexed_queried_and_shown_in_seconds(tmp_path):
    src = tmp_path / "bomb.jsonl"
    src.write_text(json.dumps({"id": 31337, "title": "big bomb", "body": ITEM1_BODY}) + "\n")
    indexed = run("index", "--no-vectors", str(src), data=tmp_path / "d")
    assert indexed.returncode == 0, indexed.stderr
    for args in (["query", "big bomb", "--mode", "lexical"], ["show", "31337", "--raw"]):
        started = time.monotonic()
        result = run(*args, data=tmp_path / "d")
        assert result.returncode == 0, result.stderr
        assert time.monotonic() - started < 15


# -- item 10: bounded resources ------------------------------------------------------------------
@contextlib.contextmanager
def serving(data_root: Path, request_timeout: float) -> Iterator[tuple[str, int]]:
    """`search serve` in a child process (its own GIL) on a free loopback port."""
    code = (
        "import sys\nfrom search.server.listen import serve\n"
        "serve(sys.argv[1], port=0, say=lambda m: print(m, flush=True), "
        "request_timeout=float(sys.argv[2]))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(data_root), str(request_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    try:
        line = child.stdout.readline()  # "kexue-search on http://127.0.0.1:PORT/ (...)"
        assert "http://" in line, line
        host, port = line.split("http://")[1].split("/")[0].rsplit(":", 1)
        yield host, int(port)
    finally:
        child.terminate()
        child.wait(timeout=30)


def test_idle_and_dripping_connections_are_closed_and_the_server_still_answers(fixture_data):
    import socket

    import httpx

    with serving(fixture_data.root, request_timeout=1.0) as (host, port):
        idle = [socket.create_connection((host, port)) for _ in range(50)]
        drip = [socket.create_connection((host, port)) for _ in range(50)]
        for s in drip:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # a header line every 0.3 s: never complete
            for s in drip:
                with contextlib.suppress(OSError):
                    s.sendall(b"X-a: b\r\n")
            time.sleep(0.3)
        for s in idle + drip:  # each closed by the server: recv sees the end, not a timeout
            s.settimeout(3)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1024) == b""
            s.close()
        assert time.monotonic() - started < 10
        answer = httpx.get(f"http://{host}:{port}/healthz", timeout=5)
        assert answer.status_code == 200


def test_the_tokenizer_caches_stay_bounded_over_distinct_words():
    from index.tokenize import TOKEN_CACHE_SIZE, index_tokens, inner_words, is_word, sub_parts

    index_tokens("旋转位置编码RoPE2 的外推")  # the path every query and post takes
    for i in range(TOKEN_CACHE_SIZE + 1000):  # as many distinct query words as that
        word = f"词{i}x"
        is_word(word), sub_parts(word), inner_words(word)
    for cached in (is_word, sub_parts, inner_words):
        assert cached.cache_info().maxsize == TOKEN_CACHE_SIZE
        assert cached.cache_info().currsize <= TOKEN_CACHE_SIZE


@pytest.mark.parametrize("command", [["query", "-", "--mode", "lexical"], ["embed", "-"]])
def test_stdin_is_read_within_a_bound(data, command):
    with open("/dev/zero", "rb") as zero:
        result = subprocess.run(
            [sys.executable, "-m", "search.cli", "--data-dir", str(data), *command],
            stdin=zero,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert "standard input holds more than 1 MB" in result.stderr


@pytest.mark.parametrize("suffix", [".md", ".html", ".jsonl"])
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_source_that_is_a_device_is_a_problem_not_a_hang(tmp_path, suffix, device):
    if not Path(device).exists():
        pytest.skip(f"no {device}")
    (tmp_path / f"8-a{suffix}").symlink_to(device)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": 7, "title": "好", "body": "正文"}) + "\n", "utf-8")
    started = time.monotonic()
    posts, problems = read_all(tmp_path / f"8-a{suffix}", good)
    assert time.monotonic() - started < 5
    assert [p.id for p in posts] == [7] and len(problems) == 1
    assert problems[0].message in ("not a regular file", "not a text file")


def test_a_fifo_source_is_a_problem_not_a_hang(tmp_path):
    fifo = tmp_path / "8-a.md"
    os.mkfifo(fifo)
    posts, problems = read_all(fifo)
    assert not posts and [p.message for p in problems] == ["not a regular file"]


def test_a_source_file_over_8_mb_is_a_problem(tmp_path):
    from corpus.files import MAX_FILE_BYTES

    big = tmp_path / "8-big.html"
    big.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    posts, problems = read_all(big)
    assert not posts and "larger than 8 MB" in problems[0].message


def test_a_crawl_delay_past_the_cap_stops_the_crawl_at_once():
    from corpus.crawler import MAX_CRAWL_DELAY

    routes = {
        "/robots.txt": ("text/plain", b"User-agent: *\nCrawl-delay: 3600\nAllow: /\n"),
        "/archives/8": (HTML, post_page(8, "标题", "<p>正文</p>").encode()),
    }
    slept: list[float] = []
    with site(routes) as root:
        items = list(crawl(f"{root}/archives/8", sleep=slept.append))
    assert all(s <= MAX_CRAWL_DELAY for s in slept)
    assert [type(i) for i in items] == [Problem] and "3600" in items[0].message


# -- item 11: a read-only data directory is read, and writing to it says why it cannot ------------
def read_only_run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`search --data-dir root ARGS` with `root` read-only: a read-only bind mount for root (who
    ignores permissions), the permissions otherwise."""
    cli = [sys.executable, "-m", "search.cli", "--data-dir", str(root), *args]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
        try:
            return subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
    script = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'
    wrapped = ["unshare", "-m", "sh", "-c", script, "sh", str(root), *cli]
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("root without a mount namespace: no way to make a directory read-only")
    return subprocess.run(wrapped, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def read_only_data(fixture_data, tmp_path):
    import shutil

    root = tmp_path / "ro"
    shutil.copytree(fixture_data.root, root, symlinks=True)
    return root


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["query", "RoPE", "--mode", "lexical"], "RoPE"),
        (["show", "1001", "--raw"], "# "),
        (["stats"], "posts"),
        (["check"], "sound"),
    ],
)
def test_a_read_only_data_directory_is_read(read_only_data, args, expect):
    import tempfile

    copies = Path(tempfile.gettempdir()).glob("kexue-lexical-ro.*")
    before = set(copies)
    result = read_only_run(read_only_data, *args)
    assert result.returncode == 0, result.stderr
    assert expect in result.stdout + result.stderr
    after = set(Path(tempfile.gettempdir()).glob("kexue-lexical-ro.*"))
    assert after <= before  # the private copy of the index is gone with the process


def test_indexing_into_a_read_only_data_directory_says_it_is_read_only(read_only_data):
    result = read_only_run(read_only_data, "index", "--no-vectors", str(FIXTURE_POSTS))
    assert result.returncode == 2, result.stderr
    assert "is read-only" in result.stderr and "restore" not in result.stderr
    assert result.stderr.count("\n") == 1


# -- item 6: damaged index files are found by check, named in one line, and repaired ------------
def damage(file: Path, how: str) -> None:
    if how == "delete":
        file.unlink()
    elif how == "truncate":
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    else:  # garble the head: the file keeps its size and its footer
        data = bytearray(file.read_bytes())
        n = min(64, len(data) // 2)
        data[:n] = bytes(b ^ 0x5A for b in data[:n])
        file.write_bytes(bytes(data))


@pytest.fixture
def data_copy(fixture_data, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(fixture_data.root, root, symlinks=True)
    return root


@pytest.mark.parametrize("how", ["garble", "truncate", "delete"])
@pytest.mark.parametrize("ext", ["term", "idx", "pos", "store", "fast", "fieldnorm"])
def test_check_finds_every_damaged_lexical_file(data_copy, ext, how):
    from search import check

    damage(next((data_copy / "lexical").glob(f"*.{ext}")), how)
    report = check(data_copy)
    assert not report.ok and report.repairable
    assert [f.part for f in report.findings] == ["lexical"]
    assert f".{ext}" in report.findings[0].problem


@pytest.mark.parametrize(("ext", "how"), [("term", "garble"), ("pos", "garble"), ("pos", "delete")])
def test_a_damaged_lexical_file_is_one_line_exit_2_and_repair_fixes_it(data_copy, ext, how):
    damage(next((data_copy / "lexical").glob(f"*.{ext}")), how)
    query = run("query", "RoPE", "--mode", "lexical", data=data_copy)
    assert query.returncode == 2, query.stderr
    assert query.stderr.count("\n") == 1 and "panicked" not in query.stderr
    assert f".{ext}" in query.stderr
    checked = run("check", data=data_copy)
    assert checked.returncode == 2 and f".{ext}" in checked.stderr
    repaired = run("check", "--repair", data=data_copy)
    assert repaired.returncode == 0, repaired.stderr
    assert run("query", "RoPE", "--mode", "lexical", data=data_copy).returncode == 0


def test_check_finds_garbled_vectors_and_repair_restores_them(tmp_path, embedder):
    import numpy as np

    from index.indexer import update
    from index.paths import DataDir
    from index.vectors import FILE
    from search import check

    data = DataDir(tmp_path / "d")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec,))
    faiss_file = data.vectors / FILE
    raw = bytearray(faiss_file.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 1536] = np.full(384, 0.5, np.float32).tobytes()  # one vector's worth
    faiss_file.write_bytes(bytes(raw))
    report = check(data)
    assert [f.part for f in report.findings] == ["vectors"] and report.repairable
    assert "differ" in report.findings[0].problem
    repaired = run("check", "--repair", data=data.root)
    assert repaired.returncode == 0, repaired.stderr
    assert check(data).ok


@pytest.mark.parametrize("unit", ["\\[", "$$ ", "$", "\\begin{a}"])
def test_a_120_kb_page_of_math_openers_parses_in_a_second_or_two(unit):
    from corpus.html import parse_post_html

    html = post_page(8, "标题", unit * (120_000 // len(unit)))
    started = time.monotonic()
    parse_post_html(html)
    assert time.monotonic() - started < 3  # was 78 s (\\[), 30 s ($$), 10 s ($)


def test_math_across_breaks_still_reads_as_one_formula():
    from corpus.html import parse_post_html

    post = parse_post_html(post_page(8, "标题", "a $x$<br>b $$y<br>z$$ c<br>d"))
    assert post.body == "a $x$  \nb $$y\nz$$ c  \nd"


def test_a_json_lines_line_over_8_mb_is_a_problem_and_the_next_line_is_read(tmp_path):
    from corpus.files import MAX_FILE_BYTES

    src = tmp_path / "p.jsonl"
    with src.open("wb") as fh:
        fh.write(b'{"id": 1, "title": "t", "body": "' + b"x" * (MAX_FILE_BYTES + 10) + b'"}\n')
        fh.write(json.dumps({"id": 7, "title": "ok", "body": "b"}).encode() + b"\n")
    posts, problems = read_all(src)
    assert [p.id for p in posts] == [7]
    assert [(p.line, "longer than 8 MB" in p.message) for p in problems] == [(1, True)]


def test_the_did_you_mean_message_itself_holds_no_control_character(tmp_path):
    # The TUI shows the library's message as is: it must be safe at the source too.
    from index.indexer import update
    from index.paths import DataDir
    from search import Searcher, UnknownFilterError

    src = tmp_path / "p.jsonl"
    post = {"id": 5, "title": "t", "body": "x 鸭子", "tags": [HOSTILE], "category": HOSTILE}
    src.write_text(json.dumps(post) + "\n", encoding="utf-8")
    data = DataDir(tmp_path / "d")
    update(data, [src], vectors=False)
    with Searcher.open(data.root) as s:
        for flt in ("tag:rop", "category:rop"):
            with pytest.raises(UnknownFilterError) as raised:
                s.search(f"x {flt}", mode="lexical")
            assert "did you mean" in str(raised.value)
            assert str(raised.value).isprintable()


def test_a_busy_keep_alive_connection_is_not_cut(fixture_data):
    import httpx

    with (
        serving(fixture_data.root, request_timeout=1.0) as (host, port),
        httpx.Client(timeout=5) as client,  # one connection, kept alive
    ):
        for _ in range(5):  # 3 s in all, each pause under the 1 s deadline
            assert client.get(f"http://{host}:{port}/healthz").status_code == 200
            time.sleep(0.6)
        answer = client.get(f"http://{host}:{port}/search", params={"q": "RoPE"})
        assert answer.status_code == 200
