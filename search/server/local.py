"""`search serve`'s Unix socket in the data directory, and the CLI's client for it.

A cold `search query` loads both models (~0.5 s and ~350 MB); a running `search serve` has them
loaded. So `search serve` also listens on DATA/serve.sock (mode 0600: its owner only; removed at
exit), and `search query` first asks there, with the same HTTP API and JSON, and prints the
answer as it would its own. Any failure (no server, a stale socket left by a killed one, an
error answer, a server still loading its models) falls back to answering in-process, silently:
the socket only ever makes a query faster, never different.

The client is the standard library's `http.client` with its connection opened on the Unix
socket (its `connect` overridden): importing httpx cost 0.13-0.18 s here, most of the budget
of an answer through the server.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.client

SOCKET_NAME = "serve.sock"
#: Set (to anything but empty or 0) to always answer in-process, as `--no-server` does.
NO_SERVER_ENV = "KEXUE_SEARCH_NO_SERVER"
# A live server accepts at once; a stale socket file refuses at once. The read timeout covers a
# hybrid search on a busy server (tens of ms) with a wide margin; past it, in-process answers.
CONNECT_TIMEOUT = 0.2
READ_TIMEOUT = 10.0


def socket_path(root: Path) -> Path:
    return Path(root) / SOCKET_NAME


def disabled() -> bool:
    return os.environ.get(NO_SERVER_ENV, "").strip() not in ("", "0")


# -- the server's side --------------------------------------------------------------------------
def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(CONNECT_TIMEOUT)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind_unix(path: Path) -> tuple[socket.socket | None, str | None]:
    """A listening socket at `path` (mode 0600), or None and why not: another live server
    holds it, or the folder refuses (read-only, a path too long for a socket). A stale file
    left by a killed server is replaced."""
    if path.exists() or path.is_symlink():
        if _answers(path):
            return None, f"another server answers on {path}"
        with contextlib.suppress(OSError):
            path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mask = os.umask(0o177)  # created 0600: no moment when others may connect
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        return None, f"cannot listen on {path} ({exc.strerror or exc})"
    finally:
        os.umask(mask)
    sock.set_inheritable(True)
    return sock, None


def release(path: Path, sock: socket.socket, made: os.stat_result) -> None:
    """Close `sock` and remove its file `path` (`made`: its stat at bind) if that is still
    this socket's, not a later server's."""
    sock.close()
    with contextlib.suppress(OSError):
        now = os.stat(path)
        if (now.st_dev, now.st_ino) == (made.st_dev, made.st_ino):
            path.unlink()


# -- the client's side --------------------------------------------------------------------------
def _connect(path: Path) -> http.client.HTTPConnection:
    """An HTTP connection whose socket is the Unix socket at `path` (imported here: a query
    with no server to ask pays nothing for the HTTP client)."""
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(CONNECT_TIMEOUT)
            try:
                sock.connect(str(path))
            except BaseException:
                sock.close()
                raise
            sock.settimeout(self.timeout)
            self.sock = sock

    return UnixConnection("localhost", timeout=READ_TIMEOUT)  # the Host the server answers


def ask(root: Path, route: str, params: dict[str, Any]) -> Any | None:
    """The server's JSON answer to GET `route`?`params` on the data directory's socket; None
    when there is none to be had (no server, an error status, a broken answer)."""
    path = socket_path(root)
    if disabled() or not path.exists():
        return None
    import http.client
    import json
    from urllib.parse import urlencode

    query = urlencode([(k, v) for k, vs in params.items() for v in _values(vs)])
    headers = {"Accept": "application/json"}
    token = os.environ.get("KEXUE_SEARCH_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn = _connect(path)
    try:
        conn.request("GET", f"{route}?{query}" if query else route, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            return None
        return json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def result_from_json(answer: dict[str, Any]) -> Any:
    """The `SearchResult` whose `to_dict` the server sent (its MathML aside): what the CLI
    prints from, so that the answer prints exactly as one made in-process."""
    import datetime as dt

    from search import Explanation, FloorReport, Hit, ListPart, SearchResult, Snippet

    def explanation(d: dict[str, Any] | None) -> Explanation | None:
        if d is None:
            return None
        lists = {
            name: ListPart(p["rank"], p["score"], p["contribution"])
            for name, p in d["lists"].items()
        }
        primary = next(  # the list the semantic fields were read from
            (
                name
                for name, p in lists.items()
                if name != "bm25" and (p.rank, p.score) == (d["semantic_rank"], d["semantic_score"])
            ),
            None,
        )
        return Explanation(
            lists,
            d["fused_score"],
            d["floor"],
            d["exact"],
            primary,
            tuple(d["formula_tokens"]),
        )

    hits = tuple(
        Hit(
            h["post_id"],
            h["title"],
            h["url"],
            dt.date.fromisoformat(h["date"]) if h["date"] else None,
            h["category"],
            tuple(h["tags"]),
            h["score"],
            Snippet(
                h["snippet"]["text"],
                tuple(tuple(x) for x in h["snippet"]["highlights"]),
                h["snippet"]["offset"],
                tuple(tuple(x) for x in h["snippet"]["formulas"]),
            ),
            explanation(h.get("explain")),
        )
        for h in answer["hits"]
    )
    floor = answer.get("floor")
    return SearchResult(
        hits,
        answer["total"],
        answer["offset"],
        answer["mode"],
        tuple(answer["warnings"]),
        answer["took_ms"],
        tuple(answer["unknown"]),
        FloorReport(floor["best"], floor["score"], floor["gate"], floor["passed"])
        if floor
        else None,
    )
