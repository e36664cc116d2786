"""The MCP server with the SDK's own client: in-process (initialize, list tools, call each,
read a resource, errors as tool errors) and over stdio in a subprocess, as a client runs it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters

from search.server.live import LiveIndex
from search.server.mcp import build_mcp

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def live(fixture_data):
    index = LiveIndex(fixture_data.root, load_model=False)
    yield index
    index.close()


def run(coroutine_fn):
    return anyio.run(coroutine_fn)


def test_initialize_list_and_call_every_tool(live):
    async def session():
        async with Client(build_mcp(live), mode="legacy") as client:
            assert client.server_info.name == "kexue-search"
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"search", "get_post", "similar", "links"}
            schema = tools["search"].input_schema
            assert schema["required"] == ["query"]
            assert schema["properties"]["mode"]["enum"] == ["hybrid", "lexical", "semantic"]
            assert tools["search"].annotations.read_only_hint is True

            found = await client.call_tool("search", {"query": "RoPE 外推", "limit": 3})
            assert not found.is_error
            hits = found.structured_content["hits"]
            assert hits[0]["post_id"] == 1001 and hits[0]["url"] == "https://kexue.fm/archives/1001"
            assert "RoPE" in hits[0]["snippet"] and found.structured_content["total"] >= 1
            assert json.loads(found.content[0].text)["hits"][0]["title"] == hits[0]["title"]

            filtered = await client.call_tool(
                "search", {"query": "优化", "category": "数学研究", "since": "2010"}
            )
            assert {h["category"] for h in filtered.structured_content["hits"]} == {"数学研究"}

            post = (await client.call_tool("get_post", {"post_id": 1009})).structured_content
            assert post["title"] == "Attention中除以根号d的缘由"
            assert post["date"] == "2021-10-04" and "\\sqrt{d}" in post["body"]

            related = await client.call_tool("similar", {"post_id": 1005, "limit": 2})
            assert related.structured_content["hits"][0]["post_id"] == 1006

    run(session)


def test_errors_are_tool_errors_with_one_line(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            for name, args, words in (
                ("get_post", {"post_id": 4242}, "no post 4242"),
                ("similar", {"post_id": 4242}, "no post 4242"),
                ("search", {"query": "tag:没有这个"}, "no tag"),
                ("search", {"query": "x" * 1001}, "1,000"),
                ("search", {"query": "RoPE", "limit": 1000}, "limit"),
            ):
                result = await client.call_tool(name, args)
                assert result.is_error, (name, args)
                text = result.content[0].text
                assert words in text and "Traceback" not in text
            # The server is still there after all of that.
            ok = await client.call_tool("get_post", {"post_id": 1001})
            assert not ok.is_error

    run(session)


def test_a_resource_per_post(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            templates = (await client.list_resource_templates()).resource_templates
            assert [t.uri_template for t in templates] == ["kexue://posts/{post_id}"]
            read = await client.read_resource("kexue://posts/1001")
            content = read.contents[0]
            assert content.mime_type == "text/markdown"
            assert content.text.startswith("# 旋转位置编码RoPE的长度外推\n")
            assert "https://kexue.fm/archives/1001" in content.text and "## 背景" in content.text
            with pytest.raises(MCPError, match="no post 4242"):
                await client.read_resource("kexue://posts/4242")

    run(session)


def test_over_stdio_as_a_client_starts_it(fixture_data):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-c",
            "import sys; from search.server import run_mcp; run_mcp(sys.argv[1])",
            str(fixture_data.root),
        ],
        env=env,
        cwd=str(ROOT),
    )

    async def session():
        with anyio.fail_after(60):
            async with Client(params, mode="legacy") as client:
                assert client.server_info.name == "kexue-search"
                assert len((await client.list_tools()).tools) == 4
                result = await client.call_tool("search", {"query": "扩散模型", "limit": 2})
                assert not result.is_error and result.structured_content["hits"]

    run(session)
