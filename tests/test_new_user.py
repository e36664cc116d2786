"""The small frictions a new user met (issue 24), end to end as they met them: the CLI in
subprocesses, the MCP server through the SDK's client (tests/test_mcp.py has the rest), the TUI
and the page's API in their own test files."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from tests.test_cli import run


def on_a_terminal(*args: str, data) -> tuple[int, str]:
    """Run the CLI with stdout on a pseudo-terminal: (exit status, what it showed)."""
    primary, secondary = pty.openpty()
    cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(data), *args]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.Popen(cmd, stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    proc.wait(timeout=120)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")


# -- 2: search embed ------------------------------------------------------------------------
def test_embed_stdin_keeps_a_row_per_line_blank_ones_too(fixture_data, tmp_path):
    npy = tmp_path / "v.npy"
    result = run("embed", "-", "--npy", str(npy), data=fixture_data.root, input="a\nb\n\nc\n")
    assert result.returncode == 0, result.stderr
    rows = np.load(npy)
    assert rows.shape == (4, 384)
    alone = json.loads(run("embed", "", "--json", data=fixture_data.root).stdout)
    assert np.allclose(rows[2], alone[0], atol=1e-6)  # the blank line is the empty string
    crlf = run("embed", "-", "--json", data=fixture_data.root, input="a\r\n\r\nb")
    assert len(json.loads(crlf.stdout)) == 3
    empty = run("embed", "-", data=fixture_data.root, input="")
    assert empty.returncode == 2 and "no line" in empty.stderr


def test_embed_on_a_terminal_prints_a_summary_not_384_lines(fixture_data):
    status, shown = on_a_terminal("embed", "梯度惩罚", "gradient penalty", data=fixture_data.root)
    assert status == 0
    lines = shown.strip().splitlines()
    assert len(lines) == 3, shown
    assert "2 vectors of 384 float32" in lines[0] and "梯度惩罚" in lines[1]
    status, shown = on_a_terminal("embed", "梯度惩罚", "--json", data=fixture_data.root)
    assert status == 0 and len(json.loads(shown)[0]) == 384


# -- 3: a closed pipe is 141 ----------------------------------------------------------------
@pytest.mark.parametrize(
    "args", [("show", "1001", "--no-pager"), ("show", "1001", "--json"), ("stats", "--json")]
)
def test_output_into_a_closed_pipe_exits_141(fixture_data, args):
    """`search show 9948 --no-pager | head -1`: the reader is gone before the post is written
    (here always: the pipe is closed before the command starts writing)."""
    cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(fixture_data.root), *args]
    read, write = os.pipe()
    os.close(read)
    proc = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


# -- 4: ids and addresses as pasted ---------------------------------------------------------
@pytest.mark.parametrize(
    "ref",
    [
        "kexue.fm/archives/1001",
        "www.kexue.fm/archives/1001",
        "spaces.ac.cn/archives/1001",
        "WWW.Spaces.ac.cn/archives/1001/comment-page-1#comments",
        "https://www.kexue.fm/archives/1001",
        "//kexue.fm/archives/1001",
    ],
)
def test_show_takes_an_address_as_pasted(fixture_data, ref):
    result = run("show", ref, "--json", data=fixture_data.root)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["post_id"] == 1001


def test_an_address_elsewhere_without_a_scheme_is_refused(fixture_data):
    result = run("show", "example.com/archives/1001", data=fixture_data.root)
    assert result.returncode == 2 and "neither a post id nor a post's URL" in result.stderr


def test_a_first_word_with_a_dash_says_to_put_double_dash_first(fixture_data):
    result = run("query", "-综述", "RoPE", data=fixture_data.root)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "search query -- -综述" in result.stderr and "Traceback" not in result.stderr
    other = run("query", "--bogus", "RoPE", data=fixture_data.root)
    assert other.returncode == 2 and " -- " not in other.stderr
    escape = run("query", "-\x1b[31mx", "RoPE", data=fixture_data.root)
    assert escape.returncode == 2 and "\x1b" not in escape.stderr and "-- -␛[31mx" in escape.stderr


# -- 5: a reversed date range ---------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("RoPE", "--since", "2023", "--until", "2022"),
        ("RoPE since:2023-06", "--until", "2023-05-31"),
        ("RoPE since:2024 until:2022",),
    ],
)
def test_a_reversed_date_range_is_an_error(fixture_data, args):
    result = run("query", *args, "--mode", "lexical", data=fixture_data.root)
    assert result.returncode == 2, result.stdout
    assert "date range is reversed" in result.stderr and result.stderr.count("\n") == 1
    same_day = run(
        "query",
        "RoPE",
        "--since",
        "2023-03-10",
        "--until",
        "2023-03-10",
        "--mode",
        "lexical",
        data=fixture_data.root,
    )
    assert same_day.returncode == 0


# -- 6: round trips -------------------------------------------------------------------------
def test_show_json_can_be_indexed_again(fixture_data, tmp_path):
    shown = run("show", "1001", "--json", data=fixture_data.root)
    pretty = tmp_path / "post.json"
    pretty.write_text(shown.stdout, encoding="utf-8")
    compact = tmp_path / "posts.jsonl"
    second = run("show", "1009", "--json", data=fixture_data.root).stdout
    compact.write_text(json.dumps(json.loads(second), ensure_ascii=False) + "\n", encoding="utf-8")
    array = tmp_path / "array.json"
    array.write_text(json.dumps([json.loads(shown.stdout), {"post_id": 7}]), encoding="utf-8")
    new = tmp_path / "data"
    result = run("index", "--no-vectors", "--json", str(pretty), str(compact), str(array), data=new)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["new"] == 2 and len(report["problems"]) == 1
    assert "record 2" in report["problems"][0]
    again = run("show", "1001", "--json", data=new)
    assert json.loads(again.stdout) == json.loads(shown.stdout)
    several = tmp_path / "several.json"  # for i in ...; do search show $i --json; done
    several.write_text(shown.stdout + second + "\n{broken", encoding="utf-8")
    result = run("index", "--no-vectors", "--json", str(several), data=tmp_path / "data2")
    report = json.loads(result.stdout)
    assert report["new"] == 2 and len(report["problems"]) == 1
    line = (shown.stdout + second).count("\n") + 2
    assert report["problems"][0].startswith(f"{several}:{line}: malformed JSON")


# -- 9: stats for people --------------------------------------------------------------------
def test_stats_in_human_units_and_raw_in_json(fixture_data):
    result = run("stats", data=fixture_data.root)
    assert result.returncode == 0
    text = result.stdout
    assert "store size" in text and " kB" in text
    assert "[" not in text and "None" not in text  # no Python reprs
    assert "models" in text
    raw = json.loads(run("stats", "--json", data=fixture_data.root).stdout)
    assert isinstance(raw["store_bytes"], int) and raw["models"] == []


# -- 10: glossary, a term at a time ---------------------------------------------------------
def test_glossary_looks_up_each_term_and_lists_the_unknown(fixture_data):
    result = run("glossary", "梯度", "位置编码", data=fixture_data.root)
    assert result.returncode == 0, result.stderr
    assert "gradient → 梯度" in result.stdout and "→ 位置编码" in result.stdout
    together = run("glossary", "梯度 位置编码", data=fixture_data.root)
    assert together.stdout == result.stdout
    mixed = run("glossary", "gradient", "clipping", "zebra", "没有的词", data=fixture_data.root)
    assert mixed.returncode == 0
    assert "gradient clipping → 梯度裁剪" in mixed.stdout
    assert "no glossary entry for: zebra, 没有的词" in mixed.stderr
    none = run("glossary", "zebra", "quux", data=fixture_data.root)
    assert none.returncode == 1 and "zebra, quux" in none.stderr


def test_post_ref_reads_what_users_paste():
    from search import post_ref

    assert post_ref(" 8265 ") == 8265 and post_ref("kexue.fm/archives/8265/") == 8265
    assert post_ref("HTTPS://WWW.KEXUE.FM/archives/8265#comments") == 8265
    assert post_ref("https://example.com/archives/3") == 3  # a saved mirror's address
    for text in ("0", "²", "①", "9" * 5000, "spaces.ac.cn", "example.com/archives/1", "RoPE"):
        assert post_ref(text) is None, text
    assert post_ref("https://kexue.fm/archives/" + "9" * 5000) is None


def test_the_http_api_says_a_date_range_is_reversed(fixture_data):
    import httpx

    from search.server import create_app
    from tests.test_server import running

    app = create_app(fixture_data.root, load_model=False)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        bad = c.get("/search", params={"q": "RoPE", "since": "2024", "until": "2022"})
        assert bad.status_code == 400
        assert bad.json()["error"] == (
            "the date range is reversed: since 2024-01-01 is after until 2022-12-31"
        )
        one_year = c.get("/search", params={"q": "RoPE", "since": "2023", "until": "2023"})
        assert one_year.status_code == 200 and one_year.json()["hits"]
        unreadable = c.get("/search", params={"q": "RoPE", "since": "2023-13", "until": "2"})
        assert unreadable.status_code == 400 and "2023-13" in unreadable.json()["error"]


def test_numbers_no_index_holds_are_no_post_and_other_digits_no_id(fixture_data):
    for number in ("0", str(2**63), "9" * 5000):
        result = run("show", number, data=fixture_data.root)
        assert result.returncode == 1 and result.stderr.startswith("search: no post"), number
        assert result.stderr.count("\n") == 1 and len(result.stderr) < 200
    for text in ("²", "①"):
        result = run("similar", text, data=fixture_data.root)
        assert result.returncode == 2 and "neither a post id" in result.stderr
