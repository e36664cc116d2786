"""Hostile posts, damaged files and interrupted runs never break the data directory, and the
CLI never prints a traceback or lets a post's escape sequences reach the terminal."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from corpus.post import Post
from corpus.readers import read_source
from index.errors import CorruptIndexError, CorruptStoreError, DataError, StaleIndexError
from index.indexer import update
from index.lexical import LexicalIndex
from index.paths import DataDir
from index.store import Store
from search import Searcher, check
from tests.conftest import FIXTURE_POSTS
from tests.test_cli import run


def fixture_posts() -> list[Post]:
    return [p for p in read_source(FIXTURE_POSTS) if isinstance(p, Post)]


def write_jsonl(path: Path, records: list[object], raw: bytes = b"") -> Path:
    lines = [json.dumps(r, ensure_ascii=False) if not isinstance(r, str) else r for r in records]
    path.write_bytes("\n".join(lines).encode() + b"\n" + raw)
    return path


def lexical_ids(data: DataDir, query: str) -> list[int]:
    with Searcher.open(data.root) as s:
        return [h.post_id for h in s.search(query, mode="lexical", limit=50)]


# -- data that once poisoned the data directory -----------------------------------------------
def test_a_date_no_index_can_hold_is_a_problem_for_that_post_only(tmp_path):
    src = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": 900001, "title": "far future", "date": "9999-12-31", "body": "b"},
            {"id": 900002, "title": "long ago", "date": "1500-01-01", "body": "b"},
            {"id": 900003, "title": "fine", "date": "2020-01-01", "body": "鸭子"},
        ],
    )
    md = tmp_path / "old.md"
    md.write_text("---\nid: 900004\ntitle: old\ndate: 1500-01-01\n---\nbody\n", "utf-8")
    data = DataDir(tmp_path / "d")
    report = update(data, [src, md], vectors=False)
    assert report.new == 1
    assert [p.line for p in report.problems] == [1, 2, 4]
    assert all("outside" in p.message for p in report.problems)
    assert update(data, [], vectors=False, rebuild=True).lexical_updated == 1
    assert lexical_ids(data, "鸭子") == [900003]


@pytest.mark.parametrize(
    "record",
    [
        '{"id": 1e400, "title": "t", "body": "b"}',
        '{"id": 5, "title": "t", "body": "b", "views": 1e999}',
        '{"id": 9223372036854775808, "title": "t", "body": "b"}',
        '{"id": 5, "title": "t", "body": "b", "views": 9223372036854775808}',
        '{"id": 1.5, "title": "t", "body": "b"}',
        '{"id": true, "title": "t", "body": "b"}',
    ],
)
def test_numbers_that_are_not_post_ids_are_reported_and_skipped(tmp_path, record):
    src = write_jsonl(tmp_path / "p.jsonl", [record, {"id": 7, "title": "ok", "body": "b"}])
    report = update(DataDir(tmp_path / "d"), [src], vectors=False)
    assert report.new == 1 and len(report.problems) == 1 and report.problems[0].line == 1
    with Store.open(DataDir(tmp_path / "d").store) as store:
        assert store.ids() == {7}


def test_encoding_binary_and_duplicates_are_reported_by_line(tmp_path):
    src = tmp_path / "p.jsonl"
    good = json.dumps({"id": 1, "title": "一", "body": "b"}, ensure_ascii=False).encode()
    dup = json.dumps({"id": 1, "title": "二", "body": "b"}, ensure_ascii=False).encode()
    src.write_bytes(good + b"\n" + b'{"id": 2, "title": "\xff\xfe", "body": "b"}\n' + dup + b"\n")
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(bytes(range(256)) * 64)
    problems = [str(p) for p in read_source(src) if not isinstance(p, Post)]
    assert problems == [
        f"{src}:2: not valid UTF-8 (byte 21 of the line)",
        f"{src}:3: duplicate id 1 (first at line 1; skipped)",
    ]
    assert [str(p) for p in read_source(binary)] == [f"{binary}: not a text file"]
    posts = [p for p in read_source(src) if isinstance(p, Post)]
    assert [(p.id, p.title) for p in posts] == [(1, "一")]


def test_markdown_problems_name_their_line(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: t\nid: 5\nviews: lots\n---\nbody\n", "utf-8")
    (tmp_path / "b.md").write_text("---\ntitle: t\nid: [6\n---\nbody\n", "utf-8")
    lines = sorted((Path(p.source).name, p.line) for p in read_source(tmp_path))
    assert lines[0] == ("a.md", 4)
    assert lines[1][0] == "b.md" and lines[1][1] is not None


def test_strict_leaves_the_store_exactly_as_it_was(tmp_path):
    data = DataDir(tmp_path / "d")
    update(data, fixture_posts()[:3], vectors=False)
    before = data.store.read_bytes()
    src = write_jsonl(
        tmp_path / "p.jsonl",
        [{"id": 5001, "title": "new", "body": "b"}, "{broken", {"id": 5002, "title": "x"}],
    )
    with pytest.raises(DataError, match=r"p\.jsonl:2.*nothing was stored"):
        update(data, [src], vectors=False, strict=True)
    with Store.open(data.store) as store:
        assert store.ids() == {p.id for p in fixture_posts()[:3]}
    assert data.store.read_bytes() == before


def test_an_oversized_post_is_reported_not_indexed(tmp_path):
    src = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": 1, "title": "huge", "body": "梯度" * 600_000},
            {"id": 2, "title": "ok", "body": "b"},
        ],
    )
    report = update(DataDir(tmp_path / "d"), [src], vectors=False)
    assert report.new == 1 and "limit 1,000,000" in str(report.problems[0])


# -- the command line ---------------------------------------------------------------------------
def test_cli_failures_are_one_line_with_distinct_status(tmp_path, fixture_data):
    root = fixture_data.root
    for args in (["show", str(2**63)], ["similar", str(2**70)]):
        result = run(*args, data=root)
        assert result.returncode == 1 and result.stderr.startswith("search: no post")
    nouser = run("query", "x", data="~no-such-user-here/x")
    assert nouser.returncode == 2 and nouser.stderr.count("\n") == 1
    for args in (["query", "x", "--mode", "fuzzy"], ["query"], ["show", "abc"], ["nosuch"]):
        usage = run(*args, data=root)
        assert usage.returncode == 2 and usage.stderr.count("\n") == 1, usage.stderr
        assert usage.stderr.startswith("search: ")
    for args in (
        ["query", "\udcff"],
        ["query", "--tag", "\udcff", "x"],
        ["query", "RoPE", "--year", "0000"],
    ):
        result = run(*args, data=root)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr


def test_an_unexpected_error_is_one_line_and_not_no_results(tmp_path, monkeypatch, capsys):
    from search import cli

    def boom(self):
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(cli.Context, "searcher", boom)
    monkeypatch.setattr("sys.argv", ["search", "--data-dir", str(tmp_path), "stats"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == cli.EXIT_INTERNAL not in (0, 1, 2)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeError: something broke" in err


def test_a_closed_pipe_ends_quietly(fixture_data):
    import subprocess
    import sys

    cmd = f"{sys.executable} -m search.cli --data-dir {fixture_data.root} query 模型梯度矩阵 -n 50"
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {cmd} | head -c 10 >/dev/null"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 141 and "Traceback" not in done.stderr


ESC = "\x1b]2;pwned\x07\x1b]52;c;aGk=\x07\x1b[2J\x9b31m"


def test_no_escape_sequence_from_a_post_reaches_the_terminal(tmp_path):
    post = {
        "id": 4242,
        "title": f"鸭子{ESC}标题",
        "body": f"正文 鸭子 {ESC} 结束",
        "tags": [f"t{ESC}"],
        "url": f"https://kexue.fm/archives/4242{ESC}",
    }
    src = write_jsonl(tmp_path / "p.jsonl", [post])
    assert run("index", "--no-vectors", str(src), data=tmp_path / "d").returncode == 0
    outputs = [
        run("query", "鸭子", "--mode", "lexical", data=tmp_path / "d", env={"TERM": "xterm"}),
        run("show", "4242", data=tmp_path / "d"),
        run("show", "4242", "--raw", data=tmp_path / "d"),
        run("similar", "4242", data=tmp_path / "d"),
    ]
    for result in outputs:
        for bad in ("\x1b", "\x07", "\x9b"):
            assert bad not in result.stdout + result.stderr
    assert "鸭子␛]2;pwned␇" in outputs[0].stdout
    as_json = run("query", "鸭子", "--mode", "lexical", "--json", data=tmp_path / "d")
    assert "\x1b" not in as_json.stdout and "\\u001b" in as_json.stdout
    assert "\\u009b" in as_json.stdout
    assert json.loads(as_json.stdout)[0]["title"] == post["title"]  # the data itself is intact


# -- damaged and interrupted data directories ---------------------------------------------------
@pytest.fixture
def built(tmp_path) -> DataDir:
    data = DataDir(tmp_path / "d")
    update(data, fixture_posts(), vectors=False)
    return data


def test_a_damaged_sqlite_page_is_a_one_line_error(built):
    raw = bytearray(built.store.read_bytes())
    with sqlite3.connect(built.store) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    for i in range(2 * page, len(raw), 97):
        raw[i] ^= 0xA5
    built.store.write_bytes(bytes(raw))
    for w in built.root.glob("store.sqlite-*"):
        w.unlink()
    with pytest.raises(CorruptStoreError), Searcher.open(built.root) as s:
        s.search("鸭子", mode="lexical")
        [s.get(p) for p in range(1001, 1019)]
    result = run("query", "鸭子", data=built.root)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert not check(built).ok


def test_a_garbled_manifest_is_named_and_search_index_fixes_it(built):
    with sqlite3.connect(built.store) as conn:
        conn.execute("UPDATE meta SET value='{not json' WHERE key='lexical.tokenizer'")
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('vectors.dim', 'many')")
    with pytest.raises(CorruptIndexError, match="manifest"):
        Searcher.open(built.root)
    assert not check(built).ok
    update(built, [], vectors=False)
    assert lexical_ids(built, "鸭子") == [1013]


def test_a_damaged_row_is_named_and_importing_it_again_fixes_it(built):
    with sqlite3.connect(built.store) as conn:
        conn.execute("UPDATE posts SET date='not a date', tags='{' WHERE id=1013")
    with pytest.raises(CorruptStoreError, match="post 1013"):
        Searcher.open(built.root).meta  # noqa: B018
    assert any("post 1013" in f.problem for f in check(built).findings)
    report = update(built, [FIXTURE_POSTS], vectors=False)
    assert report.changed == 1
    assert lexical_ids(built, "鸭子") == [1013] and check(built).ok


def test_garbled_lexical_files_are_noticed_and_rebuilt(built):
    target = built.lexical.resolve()
    for f in target.iterdir():
        if f.suffix in (".pos", ".idx", ".term"):
            raw = bytearray(f.read_bytes())
            for i in range(0, len(raw), 5):
                raw[i] ^= 0x5A
            f.write_bytes(bytes(raw))
    with pytest.raises(CorruptIndexError):
        lexical_ids(built, '"位置编码"')
    assert [f.part for f in check(built).findings] == ["lexical"]
    assert update(built, [], vectors=False).lexical_updated == 18  # noticed: rebuilt
    assert lexical_ids(built, '"位置编码"')[:1] == [1001]


def test_a_file_where_the_lexical_index_should_be(built):
    LexicalIndex.wipe(built.lexical)
    built.lexical.write_text("not an index")
    with pytest.raises(CorruptIndexError, match="not a lexical index"):
        Searcher.open(built.root)
    assert update(built, [], vectors=False).lexical_updated == 18
    assert lexical_ids(built, "鸭子") == [1013]


def test_an_empty_or_never_completed_lexical_index_says_so(tmp_path, built):
    with sqlite3.connect(built.store) as conn:
        conn.execute("DELETE FROM meta WHERE key='lexical.tokenizer'")
    with pytest.raises(StaleIndexError, match="never completed"):
        Searcher.open(built.root)
    update(built, [], vectors=False)
    LexicalIndex.wipe(built.lexical)
    LexicalIndex.open(built.lexical, create=True)  # what a kill mid-build left before the swap
    with pytest.raises(StaleIndexError, match="empty"):
        Searcher.open(built.root)


def test_readers_keep_answering_while_the_index_is_rebuilt(built):
    reader = Searcher.open(built.root)
    answers: list[list[int]] = []
    building = threading.Event()

    def slow(stage: str, done: int, total: int | None) -> None:
        if stage == "lexical":
            building.set()
            time.sleep(0.01)

    worker = threading.Thread(
        target=update,
        args=(built, []),
        kwargs={"rebuild": True, "vectors": False, "progress": slow},
    )
    worker.start()
    building.wait(10)
    while worker.is_alive():
        answers.append([h.post_id for h in reader.search("鸭子", mode="lexical")])
        answers.append(lexical_ids(built, "鸭子"))  # a reader opened mid-rebuild
    worker.join()
    reader.close()
    assert len(answers) > 4 and all(a == [1013] for a in answers)
    assert len(list(built.root.glob("lexical.*"))) == 2  # the one replaced stays until
    update(built, [], rebuild=True, vectors=False)  # the next rebuild removes it
    assert len(list(built.root.glob("lexical.*"))) == 2
