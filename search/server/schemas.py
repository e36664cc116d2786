"""The JSON shapes of the HTTP API, for its OpenAPI schema (/openapi.json, /docs).

Answers are built by the library's own `to_dict()`s (the shape of `search query --json`), so
these models document them and validate request bodies; they are not run over every answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from search.server.service import MAX_TEXT_CHARS, MAX_TEXTS


class Error(BaseModel):
    error: str = Field(description="What went wrong, in one line.")
    detail: Any = Field(None, description="Machine-readable particulars, when there are any.")


class SnippetModel(BaseModel):
    text: str
    highlights: list[tuple[int, int]] = Field(
        description="(start, end) offsets of query terms in `text`, in Unicode code points."
    )
    offset: int = Field(description="Where `text` starts in the post body.")
    formulas: list[tuple[int, int, str]] = Field(
        [], description="(start, end, LaTeX) of each short formula `text` shows as Unicode text."
    )
    math: list[tuple[int, int, str]] = Field(
        [], description="(start, end, MathML) of those formulas, sanitised, for a page to show."
    )


class ListPartModel(BaseModel):
    rank: int = Field(description="1-based rank in the list.")
    score: float = Field(description="The list's own score (BM25, cosine).")
    contribution: float | None = Field(
        description="What the list added to the fused score (null: not in the final fusion)."
    )


class ExplainModel(BaseModel):
    lexical_rank: int | None
    lexical_score: float | None
    semantic_rank: int | None
    semantic_score: float | None
    fused_score: float | None
    lists: dict[str, ListPartModel] = Field(
        description="Every list holding the hit, by name: bm25, e5, use, e5+fb, use+fb, bm25+fb, "
        "formula."
    )
    exact: bool = Field(description="The typed words verbatim in its title (or body): first.")
    floor: str | None = Field(description="Why the relevance floor kept it (null: no floor).")
    formula_tokens: list[str] = Field(
        default_factory=list,
        description="Formula tokens of the query its shown formula holds (s: structure, c: names).",
    )


class FloorModel(BaseModel):
    best: float = Field(description="The query's best semantic score (the primary model's).")
    gate: float = Field(description="What it must reach for the query to be about the archive.")
    passed: bool


class HitModel(BaseModel):
    post_id: int
    title: str
    url: str
    date: str | None
    category: str
    tags: list[str]
    score: float
    snippet: SnippetModel
    explain: ExplainModel | None = Field(None, description="With `explain=true` only.")


class SearchResponse(BaseModel):
    hits: list[HitModel]
    total: int = Field(description="Posts that matched, before `offset` and `limit`.")
    offset: int
    mode: str = Field(description="The mode that answered (hybrid falls back to lexical).")
    took_ms: float
    warnings: list[str] = Field(description="Why the answer may differ from what was asked.")
    unknown: list[str] = Field(
        [], description="On an empty result: the query's words that no post contains."
    )
    floor: FloorModel | None = Field(
        None, description="The relevance floor's verdict on the query (null: lexical mode)."
    )


class PostResponse(BaseModel):
    post_id: int
    title: str
    url: str
    date: str | None
    category: str
    tags: list[str]
    views: int | None
    body: str = Field(description="Markdown; LaTeX as written ($…$, $$…$$, \\begin{…}).")
    html: str | None = Field(
        None, description="With `format=html`: the body rendered, math as MathML, sanitised."
    )


class EmbedRequest(BaseModel):
    texts: list[str] = Field(
        description=f"Up to {MAX_TEXTS} texts of up to {MAX_TEXT_CHARS} characters each."
    )
    kind: Literal["query", "passage"] = Field(
        "query", description="e5 embeds questions and the passages that answer them apart."
    )


class EmbedResponse(BaseModel):
    model: str
    dimension: int
    vectors: list[list[float]] = Field(description="One L2-normalized row per text.")


class FacetModel(BaseModel):
    value: str
    count: int = Field(description="Posts that have it.")
    latest: str | None = Field(description="Date of its newest post.")


class TagsResponse(BaseModel):
    tags: list[FacetModel]


class CategoriesResponse(BaseModel):
    categories: list[FacetModel]


class HealthResponse(BaseModel):
    status: Literal["ok"]
    posts: int
    model_state: Literal["idle", "loading", "ready", "failed"]
    semantic: bool = Field(description="Whether hybrid and semantic searches answer as asked.")
    generation: int = Field(description="Bumped each time a newly committed index is served.")
    opened_at: str


class LinkedPostModel(BaseModel):
    post_id: int
    title: str | None = Field(description="None: a post the archive does not hold (yet).")
    url: str
    date: str | None
    sentence: str = Field(description="The citing sentence (the first, if several).")
    mentions: int = Field(description="How many times the citing post refers to it.")
    in_archive: bool


class SeriesEntryModel(BaseModel):
    post_id: int
    title: str
    url: str
    date: str | None
    part: int = Field(description="The part number its title gives (0: none).")


class SeriesPlaceModel(BaseModel):
    name: str
    index: int = Field(description="The post's place in reading order, from 1.")
    size: int
    previous: SeriesEntryModel | None
    next: SeriesEntryModel | None


class LinksResponse(BaseModel):
    post_id: int
    title: str
    cites: list[LinkedPostModel] = Field(description="In the order the post first cites them.")
    cited_by: list[LinkedPostModel] = Field(description="Oldest first.")
    series: SeriesPlaceModel | None


class SeriesSummary(BaseModel):
    name: str
    size: int
    confirmed: bool = Field(description="A link between two of its posts agrees.")
    first: str | None
    last: str | None


class SeriesListResponse(BaseModel):
    series: list[SeriesSummary] = Field(description="Largest first.")


class SeriesResponse(SeriesSummary):
    posts: list[SeriesEntryModel] = Field(description="In reading order.")
