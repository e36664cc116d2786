"""The HTTP API and the search page: a FastAPI app over a live index.

Endpoints are plain functions (FastAPI runs them in its thread pool: the library is
thread-safe and its work is CPU-bound); every answer that is not a success is JSON
`{"error": "...", "detail": ...}` with one line of meaning and the status that fits, never a
traceback. The page's three files are read once from the package: no request reaches the
filesystem.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search import DataDir, FacetSort, Mode, QuerySyntaxError, Sort, parse_query
from search.server import schemas
from search.server.guard import LOOPBACK_NAMES, Guard
from search.server.live import LiveIndex
from search.server.service import (
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_SIMILAR,
    RESULT_CACHE,
    Service,
    ServiceError,
)
from search.server.tex import node_package

log = logging.getLogger("kexue_search.server")

# One process renders readers (renderer.py): a second would only take the core searches use.
RENDER_WORKERS = 1
# 64 texts of 2,000 Chinese characters: ~400 kB of JSON in UTF-8, ~770 kB with \u escapes.
MAX_BODY_BYTES = 1_000_000
NPY = "application/x-npy"
# The page runs only its own script and styles, fetches only this server, never frames or is
# framed; post images may come from any https host (kexue.fm's and the sites it links). Post
# HTML reaches the DOM through one Trusted Types policy, and only there.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types post-html"
)
PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": schemas.Error, "description": text}
    for code, text in (
        (400, "Query syntax error"),
        (401, "A bearer token is required"),
        (404, "No such post (or series)"),
        (413, "Over a limit"),
        (422, "Invalid parameters"),
        (503, "The index or the model cannot be used now"),
    )
}


def _error(status: int, message: str, detail: Any = None, headers: dict | None = None) -> Response:
    return JSONResponse({"error": message, "detail": detail}, status, headers=headers)


def _validation_message(errors: list[dict[str, Any]]) -> str:
    """The first problem as one line: `limit: Input should be less than or equal to 100`."""
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "model_attributes_type" and list(first.get("loc", ())) == ["body"]:
        return "the body must be a JSON object, sent as Content-Type: application/json"
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path"))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


def _reversed_range(since: str | None, until: str | None) -> None:
    """`since` after `until` (the page's From 2024 / To 2022) is a 400 that says so, not an
    empty answer; a date that cannot be read is left to the search, which names it."""
    if not (since and until):
        return
    try:
        bounds = parse_query(f"since:{since} until:{until}").filters
    except QuerySyntaxError:
        return
    if bounds.since and bounds.until and bounds.since > bounds.until:
        raise ServiceError(
            400, f"the date range is reversed: since {bounds.since} is after until {bounds.until}"
        )


DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}


def _docs_files() -> dict[str, tuple[str, bytes]]:
    """Swagger UI's files from the installed swagger-ui-dist package (scripts/setup.sh), read
    once; empty when it is not installed (FastAPI's CDN page is served then)."""
    folder = node_package("swagger-ui-dist")
    if folder is None or not all((folder / n).is_file() for n in DOCS_FILES):
        return {}
    return {n: (media, (folder / n).read_bytes()) for n, media in DOCS_FILES.items()}


def _page_files() -> dict[str, bytes]:
    folder = resources.files("search.server") / "page"
    return {name: (folder / name).read_bytes() for name in PAGE_FILES}


def create_app(
    data_dir: str | os.PathLike[str] | DataDir | None,
    *,
    token: str | None = None,
    cors: str | Iterable[str] | None = None,
    hosts: Iterable[str] | None = None,
    embedder: Any = None,
    load_model: bool = True,
    cache: int = RESULT_CACHE,
    render_workers: int = RENDER_WORKERS,
) -> FastAPI:
    """The ASGI app over `data_dir` (opened now: raises DataError when it has no index).

    `token`: required as `Authorization: Bearer` on every request but the page's files and
    /healthz; `cors`: origins allowed to call the API from a browser (none by default);
    `hosts`: Host names answered (default: loopback names when there is no token, any with
    one); `embedder`: a loaded model to share (tests); `load_model`: start loading the model;
    `cache`: how many search answers to keep (0: none); `render_workers`: processes that
    render readers as HTML (0: the server's own threads).
    """
    live = LiveIndex(data_dir, embedder=embedder, load_model=load_model)
    service = Service(live, cache=cache, render_workers=render_workers)
    page = _page_files()
    docs = _docs_files()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()
        live.close()

    app = FastAPI(
        title="kexue-search",
        summary="Keyword, semantic and hybrid search over the 科学空间 (kexue.fm) archive.",
        version="1",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None if docs else "/docs",  # FastAPI's own /docs loads Swagger UI from a CDN
    )
    app.state.live = live
    app.state.service = service

    # -- errors -----------------------------------------------------------------------------
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        retry = {"Retry-After": "2"} if exc.status == 503 and "loading" in exc.message else None
        return _error(exc.status, exc.message, exc.detail, retry)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return _error(422, _validation_message(errors), errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code)
        return _error(exc.status_code, message or str(exc.detail), None, exc.headers)

    # -- the page ---------------------------------------------------------------------------
    def page_file(name: str) -> Response:
        headers = {"Cache-Control": "no-cache"}
        if name == "index.html":
            headers["Content-Security-Policy"] = PAGE_CSP
        return Response(page[name], media_type=PAGE_FILES[name], headers=headers)

    @app.get("/", include_in_schema=False)
    def index_page() -> Response:
        return page_file("index.html")

    @app.get("/static/app.js", include_in_schema=False)
    def app_js() -> Response:
        return page_file("app.js")

    @app.get("/static/style.css", include_in_schema=False)
    def style_css() -> Response:
        return page_file("style.css")

    # -- /docs, offline: Swagger UI from the swagger-ui-dist npm package -----------------------
    if docs:

        @app.get("/docs", include_in_schema=False)
        def api_docs() -> Response:
            return get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title="kexue-search API",
                swagger_js_url="/static/docs/swagger-ui-bundle.js",
                swagger_css_url="/static/docs/swagger-ui.css",
                swagger_favicon_url="/static/docs/favicon-32x32.png",
            )

        @app.get("/static/docs/{name}", include_in_schema=False)
        def docs_file(name: str) -> Response:
            if name not in docs:
                raise HTTPException(404)
            media_type, content = docs[name]
            headers = {"Cache-Control": "max-age=86400"}
            return Response(content, media_type=media_type, headers=headers)

    # -- the API ----------------------------------------------------------------------------
    @app.get("/search", response_model=schemas.SearchResponse, tags=["search"])
    async def search(
        q: Annotated[str, Query(description='Words, "phrases", -exclusions, tag:, year:…')] = "",
        mode: Mode = "hybrid",
        limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 10,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
        tag: Annotated[list[str], Query(description="Posts with every one of these tags.")] = [],  # noqa: B006
        category: Annotated[list[str], Query(description="Posts in any of these.")] = [],  # noqa: B006
        since: Annotated[str | None, Query(description="YYYY, YYYY-MM or YYYY-MM-DD")] = None,
        until: Annotated[str | None, Query(description="YYYY, YYYY-MM or YYYY-MM-DD")] = None,
        sort: Sort = "relevance",
        explain: bool = False,
        series: Annotated[list[str], Query(description="Posts of these series only.")] = [],  # noqa: B006
    ) -> Response:
        """Posts best first, each once, with a highlighted snippet; the same query language
        and errors as `search query`."""
        _reversed_range(since, until)
        params = {
            "mode": mode, "limit": limit, "offset": offset, "tags": tag, "categories": category,
            "since": since, "until": until, "sort": sort, "explain": explain, "series": series,
        }  # fmt: skip
        # A kept answer is read on the event loop: handing it to a worker thread and back
        # cost more than the answer (thread wake-ups were 12% of the GIL's time under load).
        result = service.kept_search(q, **params)
        if result is None:
            result = await run_in_threadpool(service.search, q, **params)
        return JSONResponse(result)

    @app.get("/posts/{post_id}", response_model=schemas.PostResponse, tags=["posts"])
    def post(post_id: int, format: Literal["markdown", "html"] = "markdown") -> Response:
        """The post with its markdown body (and with `format=html`, the page's rendering)."""
        return JSONResponse(service.post(post_id, html=format == "html"))

    @app.get("/posts/{post_id}/similar", response_model=schemas.SearchResponse, tags=["posts"])
    def similar(post_id: int, limit: Annotated[int, Query(ge=1, le=MAX_SIMILAR)] = 5) -> Response:
        """Related posts, by their passages' vectors (by words when there are none)."""
        return JSONResponse(service.similar(post_id, limit=limit))

    @app.get("/posts/{post_id}/links", response_model=schemas.LinksResponse, tags=["posts"])
    def links(post_id: int) -> Response:
        """What the post cites and what cites it, each with the citing sentence, and its
        series (previous and next part)."""
        return JSONResponse(service.links(post_id))

    @app.get("/series", response_model=schemas.SeriesListResponse, tags=["series"])
    def series_list() -> Response:
        """Every series (read from the titles, confirmed by links) with its size, largest
        first."""
        return JSONResponse(service.series_list())

    @app.get("/series/{name:path}", response_model=schemas.SeriesResponse, tags=["series"])
    def series(name: str) -> Response:
        """One series' posts in reading order; the name folded for width, case and
        punctuation, or any part of it only one series' name holds."""
        return JSONResponse(service.series(name))

    @app.post(
        "/embed",
        response_model=schemas.EmbedResponse,
        tags=["model"],
        responses={200: {"content": {NPY: {}}, "description": "JSON, or .npy bytes"}},
    )
    def embed(body: schemas.EmbedRequest, request: Request) -> Response:
        """Embeddings from the index's own model. `Accept: application/x-npy` returns the
        float32 matrix as .npy bytes (model and dimension in X-Model and X-Dimension)."""
        found = service.embed(body.texts, body.kind)
        if NPY in request.headers.get("accept", ""):
            import numpy as np

            buffer = io.BytesIO()
            np.save(buffer, found.vectors, allow_pickle=False)
            headers = {"X-Model": found.model, "X-Dimension": str(found.dimension)}
            return Response(buffer.getvalue(), media_type=NPY, headers=headers)
        return JSONResponse(
            {
                "model": found.model,
                "dimension": found.dimension,
                "vectors": found.vectors.tolist(),
            }
        )

    @app.get("/stats", tags=["index"])
    def stats() -> dict[str, Any]:
        """Posts, dates, index sizes, the model and whether it is ready."""
        return service.stats()

    @app.get("/tags", response_model=schemas.TagsResponse, tags=["index"])
    def tags(sort: FacetSort = "count") -> Response:
        """Every tag with its post count and newest post: most posts first, newest first
        (`sort=newest`) or by name."""
        return JSONResponse(service.tags(sort))

    @app.get("/categories", response_model=schemas.CategoriesResponse, tags=["index"])
    def categories(sort: FacetSort = "count") -> Response:
        """Every category with its post count and newest post (sorted as for /tags)."""
        return JSONResponse(service.categories(sort))

    @app.get("/healthz", response_model=schemas.HealthResponse, tags=["index"])
    def healthz() -> Response:
        """Liveness, and whether hybrid search answers as asked yet."""
        return JSONResponse(service.health())

    # -- middleware: the last added is the outermost -------------------------------------------
    app.add_middleware(ContainCrashes)
    if hosts is None and not token:
        hosts = LOOPBACK_NAMES
    app.add_middleware(Guard, token=token, hosts=hosts, max_body=MAX_BODY_BYTES)
    origins = [cors] if isinstance(cors, str) else list(cors or ())
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            expose_headers=["X-Model", "X-Dimension"],
            max_age=600,
        )
    if token:
        _document_token(app)
    return app


class ContainCrashes:
    """A bug is a JSON 500 with no details, logged with its traceback here. (Starlette's own
    handler re-raises after answering, and uvicorn then drops the connection: a client could
    see a reset instead of the answer.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("internal error on %s", scope.get("path"))
            if started:
                raise  # too late for an answer of our own: let uvicorn close the connection
            await _error(500, "internal error (the server's log has the details)")(
                scope, receive, send
            )


def _document_token(app: FastAPI) -> None:
    """Declare the bearer token in the OpenAPI schema (so /docs can send it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
