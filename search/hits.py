"""What a search returns: posts, each once, with a snippet and (on request) how it was ranked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from search.query import Filters
from search.snippets import Snippet

if TYPE_CHECKING:
    from search.relevance import FloorReport
    from search.request import SearchRequest


@dataclass(frozen=True, slots=True)
class ListPart:
    """A hit's place in one ranked list: its 1-based rank, the list's score, and what the list
    added to the fused score (None: the list was not in the final fusion)."""

    rank: int
    score: float
    contribution: float | None = None

    def to_dict(self) -> dict[str, Any]:
        added = None if self.contribution is None else round(self.contribution, 6)
        return {"rank": self.rank, "score": round(self.score, 6), "contribution": added}


@dataclass(frozen=True, slots=True)
class Explanation:
    """How a hit got its place: every list that holds it, by name (`bm25`, `e5`, `use`,
    `e5+fb`, `use+fb`, `bm25+fb`, `formula`), its fused score, whether it matched exactly
    (exact matches go first) and why the relevance floor kept it (None: no floor, as in lexical
    mode)."""

    lists: Mapping[str, ListPart] = field(default_factory=dict)
    fused_score: float | None = None
    floor: str | None = None
    exact: bool = False
    primary: str | None = None  # the primary model's list
    # The query formula's tokens found in the hit's best matching formula, weightiest first
    # (`s:` a structure n-gram of roles, `c:` of symbols as written; index/formula.py).
    formula: tuple[str, ...] = ()

    def _part(self, name: str | None) -> ListPart | None:
        return self.lists.get(name) if name else None

    @property
    def lexical_rank(self) -> int | None:
        part = self._part("bm25")
        return part.rank if part else None

    @property
    def lexical_score(self) -> float | None:
        part = self._part("bm25")
        return part.score if part else None

    @property
    def semantic_rank(self) -> int | None:
        part = self._part(self.primary)
        return part.rank if part else None

    @property
    def semantic_score(self) -> float | None:
        part = self._part(self.primary)
        return part.score if part else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lexical_rank": self.lexical_rank,
            "lexical_score": self.lexical_score,
            "semantic_rank": self.semantic_rank,
            "semantic_score": self.semantic_score,
            "fused_score": self.fused_score,
            "lists": {name: part.to_dict() for name, part in self.lists.items()},
            "exact": self.exact,
            "floor": self.floor,
            "formula_tokens": list(self.formula),
        }


@dataclass(frozen=True, slots=True)
class Hit:
    post_id: int
    title: str
    url: str
    date: dt.date | None
    category: str
    tags: tuple[str, ...]
    score: float
    snippet: Snippet
    explain: Explanation | None = None
    # Body offset of the formula that found the hit (its snippet shows it), for a reader to
    # open at; None when no formula did.
    formula_offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "post_id": self.post_id,
            "title": self.title,
            "url": self.url,
            "date": self.date.isoformat() if self.date else None,
            "category": self.category,
            "tags": list(self.tags),
            "score": round(self.score, 6),
            "snippet": self.snippet.to_dict(),
        }
        if self.explain is not None:
            d["explain"] = self.explain.to_dict()
        return d


@dataclass(frozen=True, slots=True)
class SearchResult(Sequence[Hit]):
    """One page of a search: a read-only sequence of `Hit`s with what front ends report.

    `total` counts the posts that matched before `offset` and the limit cut the list; `mode`
    is the mode that actually answered (a semantic request falls back to lexical when the
    model cannot load, and `warnings` says why); `took_ms` is the wall time of the search;
    `unknown`, on an empty result, the query's words that no post contains; `floor`, the
    relevance floor's verdict on the query (None where no floor applied); `request`, the
    request it answers.
    """

    hits: tuple[Hit, ...] = ()
    total: int = 0
    offset: int = 0
    mode: str = "lexical"
    warnings: tuple[str, ...] = ()
    took_ms: float = 0.0
    unknown: tuple[str, ...] = ()  # query words no post contains (filled when nothing matched)
    floor: FloorReport | None = None
    request: SearchRequest | None = None
    filters: Filters = field(default_factory=Filters)  # those in use, from text and arguments

    @overload
    def __getitem__(self, index: int) -> Hit: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Hit, ...]: ...
    def __getitem__(self, index: int | slice) -> Hit | tuple[Hit, ...]:
        return self.hits[index]

    def __len__(self) -> int:
        return len(self.hits)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "total": self.total,
            "offset": self.offset,
            "mode": self.mode,
            "took_ms": round(self.took_ms, 3),
            "warnings": list(self.warnings),
            "unknown": list(self.unknown),
            "floor": self.floor.to_dict() if self.floor else None,
        }
