"""`search serve`: the app on uvicorn, loopback unless there is a token."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable, Iterable

from search import DataDir, DataError

# A connection must deliver a whole request within this many seconds of opening, of its last
# answer, or of the request's first byte: uvicorn's keep-alive timer starts only after an answer
# and every byte received resets it, so a client sending nothing, or a byte every few seconds
# (slowloris), held its connection for ever (1,500 of them for 90 s, none closed).
REQUEST_TIMEOUT = 15.0
MIN_TOKEN_CHARS = 16  # ~96 bits from `secrets.token_urlsafe(12)`: not guessable over a network
TOKEN_HINT = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only ever means this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_access(host: str, token: str | None) -> None:
    """Refuse (DataError) to listen beyond loopback without a token, or with a weak one."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise DataError(
            f"the token has {len(token)} characters; use at least {MIN_TOKEN_CHARS} ({TOKEN_HINT})"
        )
    if not token and not is_loopback(host):
        raise DataError(
            f"refusing to listen on {host} without a token: anyone who can reach it could "
            f"use it (pass --token or set KEXUE_SEARCH_TOKEN; {TOKEN_HINT})"
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a DataError naming why not (the port is taken, ...)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP named outright: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP, and with Nagle on a keep-alive answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise DataError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.set_inheritable(True)
    return sock


def bounded_protocol(request_timeout: float) -> type[asyncio.Protocol] | str:
    """uvicorn's HTTP protocol (httptools) with a deadline for each request to arrive whole;
    "auto" (no deadline) where httptools is missing."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard]
        return "auto"

    class BoundedRequestProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(request_timeout, self._expire)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()  # the request has its own 15 s from its first byte

        def on_message_complete(self) -> None:
            self._disarm()  # the request is in: answering it takes what it takes
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            idle = self.cycle is None or self.cycle.response_complete
            if idle and not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return BoundedRequestProtocol


def _log_to_stderr() -> None:
    """The server's own notes (index generations served, the model's state) on stderr; other
    libraries keep their defaults (warnings only)."""
    logger = logging.getLogger("kexue_search")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def serve(
    data_dir: str | os.PathLike[str] | DataDir | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token: str | None = None,
    cors: str | Iterable[str] | None = None,
    cache: int | None = None,
    say: Callable[[str], None] = print,
    request_timeout: float = REQUEST_TIMEOUT,
) -> None:
    """Serve the HTTP API and the page until interrupted (blocks).

    Raises DataError before listening: no index, a non-loopback `host` without a `token`, a
    port that is taken. `cache`: search answers kept (None: the default; 0: none). `say`
    hears where it listens and whether a token is required. `request_timeout`: seconds a
    connection has to deliver each request whole (idle and slow clients are closed).
    """
    check_access(host, token)
    import uvicorn

    from search.server.app import create_app
    from search.server.local import bind_unix, release, socket_path

    data = data_dir if isinstance(data_dir, DataDir) else DataDir.resolve(data_dir)
    sock = bind(host, port)
    try:
        extra = {} if cache is None else {"cache": cache}
        app = create_app(data, token=token, cors=cors, **extra)
    except BaseException:
        sock.close()
        raise
    where = sock.getsockname()
    shown = f"[{where[0]}]" if ":" in where[0] else where[0]
    access = "a bearer token is required" if token else "no token: loopback only"
    say(f"kexue-search on http://{shown}:{where[1]}/ ({access}; API docs at /docs)")
    _log_to_stderr()
    # `search query` on this data directory answers through this server (search/server/local.py)
    local_path = socket_path(data.root)
    local, why_not = bind_unix(local_path)
    made = os.stat(local_path) if local is not None else None
    if local is None:
        logging.getLogger("kexue_search.server").warning(
            "queries on this data directory answer in-process: %s", why_not
        )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        server_header=False,
        # Keep-alive past a client's pause between searches (the page debounces at 150 ms);
        # short enough that idle connections do not pile up.
        timeout_keep_alive=15,
        timeout_graceful_shutdown=5,
        http=bounded_protocol(request_timeout),
    )

    def remove_socket() -> None:
        if local is not None and made is not None:
            release(local_path, local, made)

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Here, not after `run`: on SIGTERM uvicorn raises the signal again once it has
            # shut down, and the default action ends the process before any `finally`.
            await super().shutdown(sockets)
            remove_socket()

    try:
        Server(config).run(sockets=[sock] if local is None else [sock, local])
    finally:
        sock.close()
        remove_socket()
