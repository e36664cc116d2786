"""`search serve` and `search mcp`: the archive's search over HTTP (an API and a page) and
over MCP (for LLM agents), both over a live index that follows `search index` commits.

- `serve(data_dir, host=, port=, token=, cors=, say=)`: the HTTP API and the page (blocks);
- `run_mcp(data_dir)`: the MCP server on stdin/stdout (blocks);
- `create_app(data_dir, ...)`: the ASGI app itself, for tests and other servers.

Imports load on first use: the MCP server never imports uvicorn, nor the HTTP server the MCP SDK.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.server.app import create_app
    from search.server.listen import serve
    from search.server.mcp import build_mcp
    from search.server.stdio import run_mcp

_LAZY = {
    "create_app": "search.server.app",
    "serve": "search.server.listen",
    "run_mcp": "search.server.stdio",
    "build_mcp": "search.server.mcp",
}
__all__ = ["build_mcp", "create_app", "run_mcp", "serve"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search.server' has no attribute {name!r}")
