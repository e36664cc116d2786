"""The graph over HTTP (`/posts/{id}/links`, `/series`, `/series/{name}`) and MCP (`get_post`
with links and series, the `links` tool), on the hand-written graph fixture."""

from __future__ import annotations

import urllib.parse

import anyio
import httpx
import pytest
from mcp import Client

import index
from index.paths import DataDir
from search.server import create_app
from search.server.live import LiveIndex
from search.server.mcp import build_mcp
from tests.graph_fixture import HOSTILE_TITLE, graph_posts
from tests.test_server import running


@pytest.fixture(scope="module")
def graph_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("graph-server")
    index.update(DataDir(root), graph_posts(), vectors=False)
    return root


@pytest.fixture(scope="module")
def client(graph_root):
    app = create_app(graph_root, load_model=False, render_workers=0)
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


def test_post_links(client):
    r = client.get("/posts/2003/links")
    assert r.status_code == 200
    d = r.json()
    assert d["post_id"] == 2003 and d["title"] == "位置编码之路：3、长度外推"
    assert [c["post_id"] for c in d["cites"]] == [2002, 2001, 2999]
    assert d["cites"][2]["in_archive"] is False and d["cites"][2]["title"] is None
    assert d["cites"][0]["sentence"] == "旋转编码见上一篇。"
    assert d["series"]["index"] == 3 and d["series"]["previous"]["post_id"] == 2002
    assert client.get("/posts/2001/links").json()["cited_by"][2]["title"] == HOSTILE_TITLE
    missing = client.get("/posts/4242/links")
    assert missing.status_code == 404 and missing.json()["error"] == "no post 4242"


def test_series(client):
    listed = client.get("/series").json()["series"]
    assert [(s["name"], s["size"]) for s in listed] == [
        ("位置编码之路", 3),
        ("扩散杂谈", 3),
        ("矩阵迭代", 2),
    ]
    one = client.get("/series/" + urllib.parse.quote("扩散")).json()
    assert one["name"] == "扩散杂谈" and [p["part"] for p in one["posts"]] == [1, 2, 11]
    nothing = client.get("/series/" + urllib.parse.quote("没有"))
    assert nothing.status_code == 404 and "no series" in nothing.json()["error"]
    schema = client.get("/openapi.json").json()
    assert {"/posts/{post_id}/links", "/series", "/series/{name}"} <= set(schema["paths"])
    slashed = client.get("/series/" + urllib.parse.quote("a/b", safe=""))
    assert slashed.status_code == 404 and "no series" in slashed.json()["error"]


@pytest.fixture(scope="module")
def live(graph_root):
    live = LiveIndex(graph_root, load_model=False)
    yield live
    live.close()


def test_mcp_get_post_and_links(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            post = (await client.call_tool("get_post", {"post_id": 2002})).structured_content
            assert post["cites"] == [{"post_id": 2001, "title": "位置编码之路：1、正弦位置编码"}]
            assert post["cited_by_count"] == 1 and post["cited_by"][0]["post_id"] == 2003
            assert post["series"]["name"] == "位置编码之路" and post["series"]["index"] == 2
            assert post["series"]["next"]["post_id"] == 2003
            assert "正弦" in post["body"]
            lone = (await client.call_tool("get_post", {"post_id": 2009})).structured_content
            assert lone["series"] is None and lone["cites"] == [] and lone["cited_by_count"] == 0

            found = (await client.call_tool("links", {"post_id": 2001})).structured_content
            assert [c["post_id"] for c in found["cited_by"]] == [2002, 2003, 2011]
            assert found["cited_by"][0]["sentence"].startswith("在《位置编码之路：1")
            error = await client.call_tool("links", {"post_id": 4242})
            assert error.is_error and "no post 4242" in error.content[0].text

    anyio.run(session)
