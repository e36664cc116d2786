"""`search mcp`'s entry: the index opened, and its models loading, before the MCP SDK loads.

Importing the SDK (search/server/mcp.py: mcp, mcp_types, pydantic) took 0.75-1.0 s of the
2.0-2.6 s from `search mcp`'s start to its first hybrid answer here; the models' loading (ONNX
Runtime's session, USE's arrays) runs beside it in a background thread instead of after it.
"""

from __future__ import annotations

import os

from search import DataDir


def run_mcp(data_dir: str | os.PathLike[str] | DataDir | None) -> None:
    """Serve MCP on stdin/stdout until the client hangs up (blocks); raises DataError before
    starting when the data directory has no index."""
    from search.server.live import LiveIndex

    live = LiveIndex(data_dir)  # starts loading the models when there are vectors
    try:
        from search.server.mcp import serve_live
    except BaseException:
        live.close()
        raise
    serve_live(live)
