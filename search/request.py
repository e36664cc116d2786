"""One search as a value: what the CLI, the TUI, the server and MCP all ask `Searcher.search`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

Mode = Literal["hybrid", "lexical", "semantic"]
Sort = Literal["relevance", "date"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "semantic")
SORTS: tuple[Sort, ...] = ("relevance", "date")
# Bounds past which a page means nothing: the archive holds ~1,300 posts, and Tantivy aborts the
# process when asked for a billion hits.
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """A search: the query text and how to answer it. `year` intersects with `since`/`until`
    and with `year:` in the text, as every filter does; `wait=False` answers lexically while
    the models load instead of waiting for them."""

    query: str
    limit: int = 10
    offset: int = 0
    mode: Mode = "hybrid"
    category: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    since: dt.date | str | None = None
    until: dt.date | str | None = None
    year: str | None = None
    sort: Sort = "relevance"
    explain: bool = False
    typing: bool = False
    wait: bool = True
    series: tuple[str, ...] = ()  # only posts of these series (search.graph), as `series:`

    def checked(self) -> SearchRequest:
        """This request, or a ValueError saying what is wrong with it."""
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r} (use one of {', '.join(MODES)})")
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r} (use one of {', '.join(SORTS)})")
        bounds = (("limit", self.limit, MAX_LIMIT), ("offset", self.offset, MAX_OFFSET))
        for name, value, most in bounds:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, not {value!r}")
            if not 0 <= value <= most:
                raise ValueError(f"{name} must be between 0 and {most:,}, not {value:,}")
        return self
