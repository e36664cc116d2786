"""What a search returns: posts, each once, with a snippet and (on request) how it was ranked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

from search.snippets import Snippet


@dataclass(frozen=True, slots=True)
class Explanation:
    """Where a hit stood in each list before fusion (ranks are 1-based; None = not retrieved)."""

    lexical_rank: int | None = None
    lexical_score: float | None = None
    semantic_rank: int | None = None
    semantic_score: float | None = None
    fused_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lexical_rank": self.lexical_rank,
            "lexical_score": self.lexical_score,
            "semantic_rank": self.semantic_rank,
            "semantic_score": self.semantic_score,
            "fused_score": self.fused_score,
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
    `unknown`, on an empty result, the query's words that no post contains.
    """

    hits: tuple[Hit, ...] = ()
    total: int = 0
    offset: int = 0
    mode: str = "lexical"
    warnings: tuple[str, ...] = ()
    took_ms: float = 0.0
    unknown: tuple[str, ...] = ()  # query words no post contains (filled when nothing matched)

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
        }
