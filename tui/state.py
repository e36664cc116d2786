"""The search screen's state as plain values: what is asked for, and what came back.

`SearchScreen` keeps these in reactive attributes; the status bar and the filter bar are bound to
them, so changing the state is all it takes to redraw what depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from search import SearchRequest

if TYPE_CHECKING:
    from search import Hit, Mode, Sort

# "none": the index has no vectors (lexical only); "failed": it has, but the model did not load.
ModelState = Literal["opening", "none", "loading", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class FilterState:
    """What the filter bar (or the command palette) restricts results to."""

    category: str | None = None
    tag: str | None = None
    since: str | None = None  # a year, "2021"
    until: str | None = None

    def __bool__(self) -> bool:
        return any((self.category, self.tag, self.since, self.until))

    def describe(self) -> str:
        parts = []
        if self.category:
            parts.append(f"category:{self.category}")
        if self.tag:
            parts.append(f"tag:{self.tag}")
        if self.since or self.until:
            parts.append(f"{self.since or '…'}–{self.until or '…'}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Request:
    """One search (or related-posts look-up) as dispatched; `generation` orders them, so an
    answer to anything but the newest can be dropped."""

    generation: int
    query: str
    mode: Mode  # what was asked for: lexical while the model loads
    sort: Sort
    filters: FilterState
    related_to: Hit | None = None

    def search(self, limit: int, offset: int = 0) -> SearchRequest:
        """The library's request for a page of this search (search as you type: an unknown
        last word is completed)."""
        f = self.filters
        return SearchRequest(
            self.query,
            limit,
            offset,
            self.mode,
            category=(f.category,) if f.category else (),
            tags=(f.tag,) if f.tag else (),
            since=f.since,
            until=f.until,
            sort=self.sort,
            typing=True,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back for a request: the hits in the order shown, or the error shown instead.

    `mode` is the mode that actually answered ("lexical" when the searcher fell back), which is
    how the status bar knows to say `semantic→lexical`. `total` is how many posts matched, of
    which `hits` are the pages loaded so far (the list loads the next one at its end).
    """

    request: Request
    hits: tuple[Hit, ...] = ()
    total: int = 0
    mode: str = "lexical"
    warnings: tuple[str, ...] = ()
    took_ms: float = 0.0
    error: str | None = None
    unknown: tuple[str, ...] = ()  # on an empty answer: the query's words no post contains

    @property
    def more(self) -> bool:
        """Whether posts that matched are still to be loaded."""
        return not self.error and len(self.hits) < self.total
