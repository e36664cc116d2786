"""`search mcp`: the archive for LLM agents, as an MCP server on stdin/stdout (the official SDK).

Tools `search`, `get_post` (with the post's links and series), `links` and `similar`, and a
resource per post (`kexue://posts/{id}`), over the same live index and service as the HTTP API.
A failure the caller can act on (a query's syntax, an unknown post, a data directory that
cannot be read) is a tool error with the one-line message, never a crash of the server.
Nothing but the protocol goes to stdout: logs go to stderr.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from pydantic import BaseModel, Field

from search import DataDir
from search.server.live import LiveIndex
from search.server.service import MAX_LIMIT, MAX_SIMILAR, Service, ServiceError

GRAPH_CAP = 20  # cites and cited-by listed with a post: RoPE's post alone is cited by 26

INSTRUCTIONS = """\
Search 科学空间 (kexue.fm), Su Jianlin's Chinese blog on machine learning, mathematics, physics \
and astronomy (posts since 2009, LaTeX in the bodies). `search` finds posts by keyword and by \
meaning, in Chinese or English (hybrid by default); the query language has "phrases", \
-exclusions, tag:NAME, category:NAME, year:2023 or year:2020..2022, since:/until:YYYY-MM-DD. \
`get_post` returns a post's full markdown body with what it cites, what cites it and its series; \
`links` the citing sentences; `similar` related posts. Cite posts by URL."""


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
    body: str = Field(description="Markdown; LaTeX between $…$, $$…$$ or \\begin…\\end.")


class PostRef(BaseModel):
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
    cites: list[PostRef] = Field(description=f"Posts it cites (the first {GRAPH_CAP}).")
    cites_count: int
    cited_by: list[PostRef] = Field(description=f"Posts citing it (the first {GRAPH_CAP}).")
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
    server = MCPServer("kexue-search", instructions=INSTRUCTIONS, log_level="WARNING")

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
    ) -> Hits:
        """Search the archive: posts best first, each with the passage that matched."""
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
            )
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        return _hits(result)

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def get_post(
        post_id: Annotated[int, Field(description="The archive number.")],
    ) -> PostWithLinks:
        """A post's title, date, URL, category, tags and full markdown body; the posts it
        cites and that cite it (ids and titles) and its series (previous and next part)."""
        try:
            post = service.post(post_id)
            graph = service.graph_summary(post_id, GRAPH_CAP)
        except ServiceError as exc:
            raise ToolError(exc.message) from None
        return PostWithLinks(
            **{k: post[k] for k in PostText.model_fields},
            cites=[PostRef(**c) for c in graph["cites"]],
            cites_count=graph["cites_count"],
            cited_by=[PostRef(**c) for c in graph["cited_by"]],
            cited_by_count=graph["cited_by_count"],
            series=_place(graph["series"]),
        )

    @server.tool(annotations={"readOnlyHint": True, "openWorldHint": False})
    def links(post_id: Annotated[int, Field(description="The archive number.")]) -> Links:
        """What a post cites and what cites it, each with the sentence that cites it (why
        the older post matters), and the post's series."""
        try:
            found = service.links(post_id)
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
        post_id: Annotated[int, Field(description="The archive number.")],
        limit: Annotated[int, Field(ge=1, le=MAX_SIMILAR)] = 5,
    ) -> Hits:
        """Posts related to a post, best first."""
        try:
            return _hits(service.similar(post_id, limit=limit))
        except ServiceError as exc:
            raise ToolError(exc.message) from None

    @server.resource(
        "kexue://posts/{post_id}",
        name="post",
        title="A kexue.fm post",
        description="A post as markdown: title, date · category · tags, URL, then the body.",
        mime_type="text/markdown",
    )
    def post_resource(post_id: int) -> str:
        try:
            return post_markdown(service.post(post_id))
        except ServiceError as exc:
            if exc.status == 404:
                raise ResourceNotFoundError(exc.message) from None
            raise ResourceError(exc.message) from None

    return server


def run_mcp(data_dir: str | os.PathLike[str] | DataDir | None) -> None:
    """Serve MCP on stdin/stdout until the client hangs up (blocks). Raises DataError before
    starting when the data directory has no index."""
    live = LiveIndex(data_dir)
    try:
        build_mcp(live).run("stdio")
    finally:
        live.close()
