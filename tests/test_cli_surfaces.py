"""The CLI behaves like the tools people already use (each case was once a trap for a new
user): free words, options anywhere, colour rules, wrapping, facets, URLs, stdin, JSON."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys

from rich.cells import cell_len

from tests.test_cli import run

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def ids(result: subprocess.CompletedProcess[str]) -> list[int]:
    return [h["post_id"] for h in json.loads(result.stdout)]


def test_several_words_without_quotes_search_for_all_of_them(fixture_data):
    root = fixture_data.root
    quoted = run("query", "RoPE 外推", "--json", "--mode", "lexical", data=root)
    loose = run("query", "RoPE", "外推", "--json", "--mode", "lexical", data=root)
    assert quoted.returncode == loose.returncode == 0 and ids(quoted) == ids(loose)
    excluded = run("query", "--mode", "lexical", "--json", "--", "-综述", "RoPE", data=root)
    inline = run("query", "RoPE -综述", "--mode", "lexical", "--json", data=root)
    assert excluded.returncode == 0 and ids(excluded) == ids(inline) and ids(inline)


def test_the_groups_options_work_after_the_command_too(fixture_data):
    after = run("query", "鸭子", "--json", "--data-dir", str(fixture_data.root), "-q")
    assert after.returncode == 0 and ids(after) == [1013] and after.stderr == ""


def test_colour_only_on_a_terminal_unless_asked(fixture_data):
    root = fixture_data.root
    plain = run("query", "鸭子", "--mode", "lexical", data=root, env={"NO_COLOR": ""})
    assert plain.returncode == 0 and "\x1b" not in plain.stdout + plain.stderr
    always = run("--color", "always", "query", "鸭子", "--mode", "lexical", data=root)
    assert ANSI.search(always.stdout)
    forced = run("query", "鸭子", "--mode", "lexical", data=root, env={"FORCE_COLOR": "1"})
    assert ANSI.search(forced.stdout)
    never = run(
        "query",
        "鸭子",
        "--color",
        "never",
        "--mode",
        "lexical",
        data=root,
        env={"FORCE_COLOR": "1"},
    )
    assert "\x1b" not in never.stdout


def test_narrow_terminals_wrap_under_the_hit_without_splitting_words(fixture_data):
    result = run(
        "--color", "always", "query", "扩散", "--mode", "lexical",
        data=fixture_data.root, env={"COLUMNS": "60"},
    )  # fmt: skip
    lines = ANSI.sub("", result.stdout).splitlines()
    assert lines and all(cell_len(line.rstrip()) <= 60 for line in lines)
    body = [line for line in lines if line.strip() and not re.match(r"\s*\d+\.", line)]
    assert body and all(line.startswith("    ") for line in body)  # under the hit
    text = "\n".join(lines)
    assert "2022-06-13" in text and "classifier-free" in text.replace("\n    ", " ")


def test_facets_list_values_with_counts(fixture_data):
    root = fixture_data.root
    cats = json.loads(run("categories", "--json", data=root).stdout)
    assert cats[0] == {"value": "信息时代", "count": 11, "latest": "2025-02-08"}
    assert [c["count"] for c in cats] == sorted((c["count"] for c in cats), reverse=True)
    newest = json.loads(run("tags", "--sort", "newest", "--json", data=root).stdout)
    assert [t["latest"] for t in newest] == sorted((t["latest"] for t in newest), reverse=True)
    table = run("tags", "-n", "2", data=root)
    assert table.returncode == 0 and len(table.stdout.strip().splitlines()) == 2


def test_a_filter_naming_nothing_is_an_error_with_the_nearest_names(fixture_data):
    bad = run("query", "梯度 category:数学", data=fixture_data.root)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "search: no category 数学; did you mean 数学研究?"
    tag = run("query", "梯度", "--tag", "notatag", data=fixture_data.root)
    assert tag.returncode == 2 and tag.stderr.startswith("search: no tag notatag")


def test_an_empty_answer_explains_itself(fixture_data):
    none = run(
        "query", "鸭子", "zzzqqq", "--mode", "lexical", "--tag", "RoPE", data=fixture_data.root
    )
    assert none.returncode == 1
    assert "no post contains zzzqqq" in none.stderr and "tag:RoPE" in none.stderr


def test_posts_by_url_and_queries_from_stdin(fixture_data):
    root = fixture_data.root
    shown = json.loads(
        run("show", "https://spaces.ac.cn/archives/1013", "--json", data=root).stdout
    )
    assert shown["post_id"] == 1013 and "id" not in shown  # the same key as every hit
    related = run("similar", "https://kexue.fm/archives/1005", "--jsonl", data=root)
    lines = related.stdout.splitlines()
    assert related.returncode == 0 and lines and all(json.loads(x)["post_id"] for x in lines)
    piped = run("query", "-", "--json", "--mode", "lexical", data=root, input="鸭子 半圆\n")
    assert ids(piped) == [1013]
    wrong = run("show", "https://example.org/nothing", data=root)
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1


def test_show_pages_with_styles_and_the_title(fixture_data):
    """On a terminal: the pager gets styled text (and less gets -R), the title inside it."""
    env = {**os.environ, "PAGER": "cat", "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(fixture_data.root), "show", "1009"]
    out = b""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on a pseudo-terminal
        os.execvpe(cmd[0], cmd, env)
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    assert "\x1b[" in text  # styled
    assert "Attention中除以根号d的缘由" in ANSI.sub("", text)
    plain = run("show", "1009", "--no-pager", data=fixture_data.root)
    assert plain.returncode == 0 and "Attention中除以根号d的缘由" in plain.stdout
