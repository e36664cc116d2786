"""Who may talk to the server, and how much they may send: the Host header, the bearer token,
the size of a request body, and the headers every answer carries. Pure ASGI, in front of the
app, so a refused request costs nothing.

- Without a token the server listens on loopback only, and answers only requests addressed to a
  loopback name: a web page cannot reach it by pointing a domain of its own at 127.0.0.1 (DNS
  rebinding), since its requests would carry that domain as Host.
- With a token, every request but the public ones (the page and its files, the API's schema,
  /healthz: nothing from the index) needs `Authorization: Bearer TOKEN`, compared in constant
  time.
- A request body is read whole before the app sees it, up to `max_body` bytes: past that the
  answer is a 413 and the rest is never read.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
PUBLIC_PATHS = frozenset({"/", "/healthz", "/docs", "/openapi.json", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


def _host_name(host: str) -> str:
    """`host[:port]` without the port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _refuse(send: Send, status: int, message: str, headers: Iterable = ()) -> None:
    body = json.dumps({"error": message, "detail": None}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """ASGI middleware: checks Host (`hosts`, None: any), the bearer `token` (None: no
    token) and the body size (`max_body` bytes), and adds SECURITY_HEADERS to every answer."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, hosts: Iterable[str] | None, max_body: int
    ) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.hosts = frozenset(h.lower() for h in hosts) if hosts is not None else None
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if self.hosts is not None:
            host = _host_name(headers.get("host", "")).lower()
            if host not in self.hosts:
                await _refuse(
                    send, 400, f"this server answers only to {', '.join(sorted(self.hosts))}"
                )
                return
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if self.token and not public and scope.get("method") != "OPTIONS":
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token
            ):
                await _refuse(
                    send,
                    401,
                    "a bearer token is required (Authorization: Bearer TOKEN)",
                    [(b"www-authenticate", b'Bearer realm="kexue-search"')],
                )
                return

        if scope.get("method") in ("POST", "PUT", "PATCH"):
            body = await self._body(headers, receive)
            if body is None:
                await _refuse(send, 413, f"the request body is over {self.max_body:,} bytes")
                return
            receive = _replay(body, receive)

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_secured)

    async def _body(self, headers: Headers, receive: Receive) -> bytes | None:
        """The whole body, or None when it is over the limit (then not read any further)."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            return None
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app the body already read, then waits on the client."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
