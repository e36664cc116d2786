"""`search mcp`: the archive for LLM agents, as an MCP server on stdin/stdout (the official SDK).

Tools `search`, `get_post` (with the post's links and series), `links` and `similar`, and a
resource per post (`kexue://posts/{id}`), over the same live index and service as the HTTP API.
A failure the caller can act on (a query's syntax, an unknown post, a data directory that cannot
be read) is a tool error with the one-line message, never a crash of the server, and so are
arguments that do not fit the schema (one line naming the argument, not pydantic's report).
Nothing but the protocol goes to stdout: logs go to stderr.

The embedding models start loading when the server starts; until they are ready a hybrid or
semantic search waits for them (up to `MODEL_WAIT`), since an agent would rather have the
ranking it asked for a few seconds later than a lexical one at once. `get_post` returns a long
post in parts (`max_chars`, then `offset` from `next_offset`). When the client hangs up, the
server lets the loading finish before the process ends: native threads (ONNX Runtime's) still
running while the interpreter finalizes abort the process.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import (
    ResourceError,
    ResourceNotFoundError,
    ToolError,
    UnexpectedToolError,
)
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import BaseModel, Field, ValidationError

from search import DataDir, QuerySyntaxError, parse_query, post_ref
from search.server.live import LiveIndex
from search.server.service import MAX_LIMIT, MAX_SIMILAR, Service, ServiceError

# A hybrid or semantic search waits this long for the models (they load in a few seconds;
# on a busy machine in ten or more) before it answers lexically, saying so.
MODEL_WAIT = 30.0
# What `get_post` returns of a body at a time: a long post (the archive's longest has 34k
# characters) in three or four parts, each a readable share of an agent's context.
DEFAULT_MAX_CHARS = 8_000
MAX_CHARS = 100_000
# How long a hung-up server waits for the models' loading to finish before it ends anyway.
SHUTDOWN_WAIT = 30.0

PostRef = Annotated[
    int | str,
    Field(
        description="The archive number (8265), or the post's address as on kexue.fm "
        "(https://kexue.fm/archives/8265, kexue.fm/archives/8265, spaces.ac.cn/archives/8265)."
    ),
]
GRAPH_CAP = 20  # cites and cited-by listed with a post: RoPE's post alone is cited by 26

INSTRUCTIONS = """\
Search 科学空间 (kexue.fm), Su Jianlin's Chinese blog on machine learning, mathematics, physics \
and astronomy (posts since 2009, LaTeX in the bodies). `search` finds posts by keyword and by \
meaning, in Chinese or English (hybrid by default); the query language has "phrases", \
-exclusions, tag:NAME, category:NAME, year:2023 or year:2020..2022, since:/until:YYYY-MM-DD. \
`get_post` returns a post's markdown body (a long one in parts: pass `next_offset` as `offset` \
to read on) with what it cites, what cites it and its series; `links` the citing sentences; \
`similar` related posts. Posts are named by archive number or URL. Cite posts by URL."""


class Hit(BaseModel):
    post_id: int
    title: str
    url: str
    date: str | None
    category: str
    tags: list[str]
    score: float
    snippet: str = Field(description="The passage that matched (formulas as Unicode text).")


class Hits(BaseModel):
    hits: list[Hit]
    total: int = Field(description="Posts that matched in all.")
    mode: str = Field(description="The mode that answered.")
    warnings: list[str]


class PostText(BaseModel):
    post_id: int
    title: str
    date: str | None
    url: str
    category: str
    tags: list[str]
    body: str = Field(
        description="Markdown (LaTeX between $…$, $$…$$ or \\begin…\\end): the part of the "
        "body from `offset`, at most `max_chars` characters, cut at a line's end."
    )
    body_chars: int = Field(description="The whole body's length in characters.")
    offset: int = Field(description="Where this part starts in the body.")
    next_offset: int | None = Field(
        description="Pass it as `offset` to read on; null when this part ends the body."
    )


def body_part(body: str, offset: int, max_chars: int) -> tuple[str, int | None]:
    """The part of `body` from `offset`, at most `max_chars` long and ended at a line's end
    when one falls in its second half; and where the next part starts (None at the end)."""
    end = offset + max_chars
    if end >= len(body):
        return body[offset:], None
    cut = body.rfind("\n", offset + max_chars // 2, end)
    end = cut + 1 if cut >= 0 else end
    return body[offset:end], end


def one_line(exc: ValidationError) -> str:
    """pydantic's report as one line: `limit: Input should be less than or equal to 100`
    (the rejected values are left out: they are the caller's)."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(problems)


def reversed_range(since: str | None, until: str | None) -> None:
    """A date range that ends before it starts is the caller's mistake, said so (rather than
    an empty answer)."""
    if not (since and until):
        return
    try:
        bounds = parse_query(f"since:{since} until:{until}").filters
    except QuerySyntaxError:  # an unreadable date: the search says what is wrong with it
        return
    if bounds.since and bounds.until and bounds.since > bounds.until:
        raise ToolError(
            f"the date range is reversed: since {bounds.since} is after until {bounds.until}"
        )


def resolve(post: int | str) -> int:
    """A post's archive number from what the caller gave (a number, or an address)."""
    found = post if isinstance(post, int) else post_ref(post)
    if found is None or isinstance(found, bool) or found <= 0:
        shown = str(post) if len(str(post)) <= 80 else str(post)[:79] + "…"
        raise ToolError(f"no post {shown!r}: name a post by its archive number or its URL")
    return found


class _Server(MCPServer):
    """The SDK's server, with arguments that fail validation reported in one line."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                cause = exc.__cause__
                raise ToolError(f"invalid arguments to {name}: {one_line(cause)}") from cause
            raise


class PostTitle(BaseModel):
    post_id: int
    title: str | None = Field(description="None: a post the archive does not hold yet.")


class SeriesPart(BaseModel):
    post_id: int
    title: str


class SeriesPlace(BaseModel):
    name: str
    index: int = Field(description="This post's place in reading order, from 1.")
    size: int
    previous: SeriesPart | None
    next: SeriesPart | None


class PostWithLinks(PostText):
    cites: list[PostTitle] = Field(description=f"Posts it cites (the first {GRAPH_CAP}).")
    cites_count: int
    cited_by: list[PostTitle] = Field(description=f"Posts citing it (the first {GRAPH_CAP}).")
    cited_by_count: int
    series: SeriesPlace | None


class Link(BaseModel):
    post_id: int
    title: str | None
    url: str
    date: str | None
    sentence: str = Field(description="The citing sentence.")


class Links(BaseModel):
    post_id: int
    title: str
    cites: list[Link] = Field(description="In the order the post first cites them.")
    cited_by: list[Link] = Field(description="Oldest first.")
    series: SeriesPlace | None


def _place(series: dict[str, Any] | None) -> SeriesPlace | None:
    if series is None:
        return None
    ends = {
        k: SeriesPart(post_id=series[k]["post_id"], title=series[k]["title"]) if series[k] else None
        for k in ("previous", "next")
    }
    return SeriesPlace(name=series["name"], index=series["index"], size=series["size"], **ends)


def _hits(result: dict[str, Any]) -> Hits:
    hits = [
        Hit(
            post_id=h["post_id"],
            title=h["title"],
            url=h["url"],
            date=h["date"],
            category=h["category"],
            tags=h["tags"],
            score=h["score"],
            snippet=h["snippet"]["text"],
        )
        for h in result["hits"]
    ]
    return Hits(hits=hits, total=result["total"], mode=result["mode"], warnings=result["warnings"])


def post_markdown(post: dict[str, Any]) -> str:
    """A post as one markdown document: title, date · category · tags, URL, body."""
    meta = " · ".join(p for p in (post["date"], post["category"], ", ".join(post["tags"])) if p)
    return f"# {post['title']}\n\n{meta}\n{post['url']}\n\n{post['body']}"


def build_mcp(live: LiveIndex) -> MCPServer:
    """The MCP server over `live` (run it with `.run("stdio")`, or connect `mcp.Client` to it
    in-process)."""
    service = Service(live)
    server = _Server("kexue-search", instructions=INSTRUCTIONS, log_level="WARNING")

    gave_up = False  # once the models kept a search waiting MODEL_WAIT, none waits again

    def wait_for_model(mode: str) -> None:
        """Give the models (loading since the server started) time to answer as asked."""
        nonlocal gave_up
        if gave_up or mode == "lexical" or not live.current.searcher.has_vectors:
            return
        deadline = time.monotonic() + MODEL_WAIT
        while _loading(live):
            if time.monotonic() > deadline:
                gave_up = True
                return
            time.sleep(0.05)

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def search(
        query: Annotated[str, Field(description="What to look for, in the query language.")],
        mode: Literal["hybrid", "lexical", "semantic"] = "hybrid",
        limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 10,
        offset: Annotated[int, Field(ge=0)] = 0,
        category: str | None = None,
        tags: list[str] | None = None,
        since: Annotated[str | None, Field(description="YYYY, YYYY-MM or YYYY-MM-DD")] = None,
        until: Annotated[str | None, Field(description="YYYY, YYYY-MM or YYYY-MM-DD")] = None,
        sort: Literal["relevance", "date"] = "relevance",
        series: Annotated[
            str | None, Field(description="Only posts of this series (a part of its name).")
        ] = None,
    ) -> Hits:
        """Search the archive: posts best first, each with the passage that matched."""
        reversed_range(since, until)
        wait_for_model(mode)
        try:
            result = service.search(
                query,
                mode=mode,
                limit=limit,
                offset=offset,
                tags=tags or (),
                categories=[category] if category else (),
                since=since,
                until=until,
                sort=sort,
                series=[series] if series else (),
            )
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        return _hits(result)

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def get_post(
        post_id: PostRef,
        max_chars: Annotated[
            int, Field(ge=200, le=MAX_CHARS, description="The most body characters to return.")
        ] = DEFAULT_MAX_CHARS,
        offset: Annotated[
            int, Field(ge=0, description="Where to start in the body: the last `next_offset`.")
        ] = 0,
    ) -> PostWithLinks:
        """A post's title, date, URL, category, tags and markdown body (a long body in parts
        of `max_chars`: read on with `offset` = the answer's `next_offset`); the posts it
        cites and that cite it (ids and titles) and its series (previous and next part)."""
        number = resolve(post_id)
        try:
            post = service.post(number)
            graph = service.graph_summary(number, GRAPH_CAP)
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        body = post["body"]
        if offset > len(body) or (offset and offset == len(body)):
            raise ToolError(f"offset {offset:,} is past the body's end ({len(body):,} characters)")
        part, next_offset = body_part(body, offset, max_chars)
        meta = {k: post[k] for k in ("post_id", "title", "date", "url", "category", "tags")}
        return PostWithLinks(
            **meta,
            body=part,
            body_chars=len(body),
            offset=offset,
            next_offset=next_offset,
            cites=[PostTitle(**c) for c in graph["cites"]],
            cites_count=graph["cites_count"],
            cited_by=[PostTitle(**c) for c in graph["cited_by"]],
            cited_by_count=graph["cited_by_count"],
            series=_place(graph["series"]),
        )

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def links(post_id: PostRef) -> Links:
        """What a post cites and what cites it, each with the sentence that cites it (why
        the older post matters), and the post's series."""
        number = resolve(post_id)
        try:
            found = service.links(number)
        except ServiceError as exc:
            raise ToolError(exc.message) from None

        def link(d: dict[str, Any]) -> Link:
            return Link(**{k: d[k] for k in Link.model_fields})

        return Links(
            post_id=found["post_id"],
            title=found["title"],
            cites=[link(c) for c in found["cites"]],
            cited_by=[link(c) for c in found["cited_by"]],
            series=_place(found["series"]),
        )

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def similar(
        post_id: PostRef,
        limit: Annotated[int, Field(ge=1, le=MAX_SIMILAR)] = 5,
    ) -> Hits:
        """Posts related to a post, best first."""
        number = resolve(post_id)
        try:
            return _hits(service.similar(number, limit=limit))
        except ServiceError as exc:
            raise ToolError(exc.message) from None

    @server.resource(
        "kexue://posts/{post_id}",
        name="post",
        title="A kexue.fm post",
        description="A post as markdown: title, date · category · tags, URL, then the body.",
        mime_type="text/markdown",
    )
    def post_resource(post_id: str) -> str:
        number = post_ref(post_id)
        if number is None:  # said to the client; nothing for the server's log
            shown = post_id if len(post_id) <= 80 else post_id[:79] + "…"
            raise ResourceNotFoundError(f"no post {shown!r}: posts are named by archive number")
        try:
            return post_markdown(service.post(number))
        except ServiceError as exc:
            if exc.status == 404:
                raise ResourceNotFoundError(exc.message) from None
            raise ResourceError(exc.message) from None

    return server


def _loading(live: LiveIndex) -> bool:
    """Whether the models are still being loaded (or the current index warmed with them)."""
    if live.model == "loading":
        return True
    gen = live.current
    return live.model == "ready" and gen.searcher.has_vectors and gen.semantic is None


def run_mcp(data_dir: str | os.PathLike[str] | DataDir | None) -> None:
    """Serve MCP on stdin/stdout until the client hangs up (blocks). Raises DataError before
    starting when the data directory has no index.

    The models start loading at once, in the background. When the client hangs up, the
    loading is let finish before the index closes and the process ends: ONNX Runtime's
    threads still at work while the interpreter finalizes abort it ("terminate called without
    an active exception")."""
    serve_live(LiveIndex(data_dir))  # loads the models in a background thread


def serve_live(live: LiveIndex) -> None:
    """`run_mcp` over an opened live index (search/server/stdio.py opens it before this
    module's imports, so that the models load meanwhile)."""
    clean = True
    try:
        build_mcp(live).run("stdio")
    finally:
        deadline = time.monotonic() + SHUTDOWN_WAIT
        while _loading(live) and time.monotonic() < deadline:
            time.sleep(0.05)
        clean = not _loading(live)
        live.close()
    if not clean:  # still in native code: end without finalizing rather than abort
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
