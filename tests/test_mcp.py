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


# -- issue 24 item 1: for agents ------------------------------------------------------------
def test_argument_errors_are_one_line_naming_the_argument(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            for name, args, words in (
                ("search", {"query": "RoPE", "limit": 1000}, "limit: "),
                ("search", {"query": 5}, "query: "),
                ("search", {"query": "x", "mode": "fuzzy"}, "mode: "),
                ("get_post", {}, "post_id: Field required"),
                ("get_post", {"post_id": 1001, "max_chars": 0}, "max_chars: "),
            ):
                result = await client.call_tool(name, args)
                assert result.is_error, (name, args)
                text = result.content[0].text
                assert words in text and "\n" not in text, text
                assert "pydantic" not in text and "validation error" not in text

    run(session)


def test_get_post_in_parts_by_id_or_url(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            whole = (await client.call_tool("get_post", {"post_id": 1001})).structured_content
            assert whole["offset"] == 0 and whole["next_offset"] is None
            body = whole["body"]
            assert whole["body_chars"] == len(body) > 200
            parts, offset = [], 0
            while offset is not None:
                args = {"post_id": "kexue.fm/archives/1001", "max_chars": 200, "offset": offset}
                part = (await client.call_tool("get_post", args)).structured_content
                assert part["offset"] == offset and len(part["body"]) <= 200
                assert part["title"] == whole["title"] and part["body_chars"] == len(body)
                parts.append(part["body"])
                offset = part["next_offset"]
            assert len(parts) >= 2 and "".join(parts) == body
            assert all(p.endswith("\n") for p in parts[:-1])  # cut at a line's end
            for ref in ("https://www.kexue.fm/archives/1009", "spaces.ac.cn/archives/1009", "1009"):
                got = await client.call_tool("get_post", {"post_id": ref})
                assert got.structured_content["post_id"] == 1009, ref
            past = await client.call_tool("get_post", {"post_id": 1001, "offset": len(body)})
            assert past.is_error and "past the body's end" in past.content[0].text
            bad = await client.call_tool("get_post", {"post_id": "https://example.com/"})
            assert bad.is_error and "archive number or its URL" in bad.content[0].text
            related = await client.call_tool("similar", {"post_id": "kexue.fm/archives/1005"})
            assert related.structured_content["hits"][0]["post_id"] == 1006

    run(session)


def test_a_reversed_date_range_is_a_tool_error(live):
    async def session():
        async with Client(build_mcp(live)) as client:
            result = await client.call_tool(
                "search", {"query": "RoPE", "since": "2024", "until": "2022"}
            )
            assert result.is_error and "date range is reversed" in result.content[0].text

    run(session)


# -- issue 23 item 8: a bad resource, a client that hangs up ---------------------------------
def test_a_resource_that_names_no_post_logs_no_traceback(live, caplog):
    async def session():
        async with Client(build_mcp(live)) as client:
            for uri in ("kexue://posts/abc", "kexue://posts/" + "9" * 5000):
                with pytest.raises(MCPError, match="no post"):
                    await client.read_resource(uri)

    with caplog.at_level("INFO"):
        run(session)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= 30], caplog.text


@pytest.fixture(scope="module")
def vector_root(tmp_path_factory, embedder):
    from index.indexer import update
    from index.paths import DataDir
    from tests.conftest import FIXTURE_POSTS

    data = DataDir(tmp_path_factory.mktemp("mcp-vectors"))
    update(data, [FIXTURE_POSTS], embedder=embedder)
    return data.root


@pytest.mark.model
def test_the_first_search_is_hybrid_the_models_load_at_start(vector_root):
    """The models start loading with the server; a hybrid search waits for them rather than
    answering lexically with a warning."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "search.cli", "--data-dir", str(vector_root), "mcp"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )

    async def session():
        with anyio.fail_after(90):
            async with Client(params) as client:
                q = "why divide the attention logits by the square root of the dimension"
                result = await client.call_tool("search", {"query": q, "limit": 3})
                assert not result.is_error
                answer = result.structured_content
                assert answer["mode"] == "hybrid" and answer["warnings"] == []
                assert answer["hits"][0]["post_id"] == 1009

    run(session)


def _hang_up_after(root: Path, delay: float, mode: str) -> tuple[int, str]:
    """Start `search mcp`, initialize, ask a search and close its stdin `delay` s later, as a
    client that goes away does: the harness's own client (bench/mcp_hangup.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import mcp_hangup

    status, stderr, _ = mcp_hangup.hang_up(root, delay, [{"query": "RoPE 外推", "mode": mode}])
    return status, stderr


@pytest.mark.model
@pytest.mark.parametrize(("delay", "mode"), [(0.2, "hybrid"), (0.2, "lexical"), (1.0, "lexical")])
def test_a_client_hanging_up_while_the_models_load_ends_the_server_cleanly(
    vector_root, delay, mode
):
    """It used to abort (SIGABRT, "terminate called without an active exception"): ONNX
    Runtime's threads still loading while the interpreter finalized."""
    status, stderr = _hang_up_after(vector_root, delay, mode)
    assert status == 0, stderr[-2000:]
    assert "terminate called" not in stderr and "Traceback" not in stderr


@pytest.mark.model
def test_models_that_never_come_keep_one_search_waiting_at_most(vector_root, monkeypatch):
    import time

    import search.server.mcp as mcp_module

    monkeypatch.setattr(mcp_module, "MODEL_WAIT", 2.0)
    index = LiveIndex(vector_root, load_model=False)
    # As if stuck: the library says "loading" and nothing will ever load them.
    monkeypatch.setattr(type(index.current.searcher), "model_state", property(lambda s: "loading"))

    async def session():
        async with Client(build_mcp(index)) as client:
            for least, most in ((2.0, 10.0), (0.0, 1.5)):  # waited once, then not again
                started = time.monotonic()
                result = await client.call_tool("search", {"query": "RoPE 外推"})
                took = time.monotonic() - started
                answer = result.structured_content
                assert answer["mode"] == "lexical" and "still loading" in answer["warnings"][0]
                assert least <= took < most, took

    try:
        run(session)
    finally:
        monkeypatch.undo()
        index.close()


@pytest.mark.model
def test_the_hang_up_harness_counts_no_abort(vector_root):
    sys.path.insert(0, str(ROOT / "bench"))
    import mcp_hangup

    summary = mcp_hangup.run(vector_root, trials=2, most=1.0, seed=3)
    assert summary.trials == 2 and summary.aborted == [] and summary.failed == []
