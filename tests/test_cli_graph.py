"""`search links`, `search series` and the footer of `search show`, end to end in subprocesses."""

from __future__ import annotations

import json

import pytest

import index
from index.paths import DataDir
from tests.graph_fixture import HOSTILE_TITLE, graph_posts
from tests.test_cli import run


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("graph-cli")
    index.update(DataDir(root), graph_posts(), vectors=False)
    return root


def test_links_json(data):
    result = run("links", "https://spaces.ac.cn/archives/2003", "--json", data=data)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["post_id"] == 2003 and found["title"] == "位置编码之路：3、长度外推"
    assert [c["post_id"] for c in found["cites"]] == [2002, 2001, 2999]
    assert found["cites"][2] == {
        "post_id": 2999,
        "title": None,
        "url": "https://kexue.fm/archives/2999",
        "date": None,
        "sentence": "另有一篇尚未收录的文章：https://kexue.fm/archives/2999?from=rss 讨论了插值。",
        "mentions": 1,
        "in_archive": False,
    }
    assert found["series"]["name"] == "位置编码之路" and found["series"]["next"] is None
    assert found["series"]["previous"]["post_id"] == 2002


def test_links_for_people(data):
    result = run("links", "2001", data=data)
    assert result.returncode == 0
    out = result.stdout
    assert "cites (0)" in out and "cited by (3)" in out
    assert "2002  2021-02-01  位置编码之路：2、旋转位置编码" in out
    assert "“在《位置编码之路：1、正弦位置编码》中我们讨论了正弦编码。”" in out
    assert "series 位置编码之路 (1/3)" in out


def test_links_of_a_missing_post(data):
    result = run("links", "4242", data=data)
    assert result.returncode == 1 and "no post 4242" in result.stderr


def test_untrusted_titles_stay_text(data):
    result = run("links", "2001", "--color", "always", data=data)
    assert "\x1b]0;" not in result.stdout and "␛]0;pwn" in result.stdout
    assert "[bold red]标记[/]" in result.stdout  # shown as written, not read as markup
    as_json = json.loads(run("links", "2012", "--json", data=data).stdout)
    assert as_json["cited_by"][0]["title"] == HOSTILE_TITLE


def test_series_list_and_one(data):
    listed = run("series", data=data)
    assert listed.returncode == 0
    lines = [line.split() for line in listed.stdout.splitlines()]
    assert [line[:2] for line in lines] == [
        ["位置编码之路", "3"],
        ["扩散杂谈", "3"],
        ["矩阵迭代", "2"],
    ]
    as_json = json.loads(run("series", "--json", data=data).stdout)
    assert as_json[0] == {
        "name": "位置编码之路", "size": 3, "confirmed": True,
        "first": "2021-01-01", "last": "2021-03-01",
    }  # fmt: skip
    one = json.loads(run("series", "扩散", "--json", data=data).stdout)
    assert [(p["post_id"], p["part"]) for p in one["posts"]] == [(2004, 1), (2005, 2), (2006, 11)]
    text = run("series", "矩阵迭代", data=data).stdout
    assert "2007" in text and text.index("2007") < text.index("2008")


def test_unknown_series(data):
    result = run("series", "扩散杂淡", data=data)
    assert result.returncode == 1 and "did you mean 扩散杂谈?" in result.stderr


def test_show_footer(data):
    shown = run("show", "2002", data=data)
    assert shown.returncode == 0
    footer = shown.stdout.split("\n---\n")[-1]
    assert "series 位置编码之路 (2/3)" in footer
    assert "previous: 2001 位置编码之路：1、正弦位置编码" in footer
    assert "next: 2003 位置编码之路：3、长度外推" in footer
    assert "cited by 1 (search links 2002)" in footer
    raw = run("show", "2002", "--raw", data=data).stdout
    assert "cited by" not in raw  # the markdown source alone
    lone = run("show", "2009", data=data).stdout
    assert "\n---\n" not in lone  # no series, no citations: no footer


def test_query_within_a_series(data):
    def found(*args):
        result = run("query", *args, "--mode", "lexical", "-n", "50", "--json", data=data)
        assert result.returncode in (0, 1), result.stderr
        return {h["post_id"] for h in json.loads(result.stdout or "[]")}

    assert found("采样") == {2005, 2006}  # the diffusion series; no other post samples
    assert found("位置编码") >= {2001, 2002}
    assert found("编码", "--series", "位置编码") == {2001, 2002, 2003}
    assert found("编码 series:扩散") == set()
    assert found("采样", "--series", "扩散杂谈") == {2005, 2006}
    unknown = run("query", "编码", "--series", "没有这个系列", data=data)
    assert unknown.returncode == 2 and "no series" in unknown.stderr
