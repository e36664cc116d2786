"""The search screen's state and decisions without Textual: what is asked for, what is shown.

`SearchSession` owns the request on screen and a generation counter (an answer to anything but
the newest request is dropped), paging (the next page of the answer shown), related posts and
the way back to the search they replaced, and the effective mode (lexical until the searcher's
models are ready). `SearchScreen` is a view over it: it runs `answer` and `next_page` in thread
workers, hands their results back with `accept`, and draws what the session holds. Every rule
here is tested without a running app (tests/test_tui_session.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from search import DataError, QuerySyntaxError
from search.display import printable
from tui.state import Answer, FilterState, Request

if TYPE_CHECKING:
    from search import Hit, Mode, Searcher, Sort

RELATED = 20  # posts listed by `r`
PAGE_AHEAD = 3  # the next page is asked for this many results before the end of the list


class SearchSession:
    """One search screen's state. Each change returns the `Request` to run (in a worker, with
    `answer`), or None when there is nothing to run: then `answer` already holds what to show
    (the hint's None, a restored search)."""

    def __init__(self, limit: int = 50) -> None:
        """`limit`: results a page."""
        self.limit = limit
        self.searcher: Searcher | None = None
        self.query = ""
        self.mode: Mode = "hybrid"  # what the user chose
        self.sort: Sort = "relevance"
        self.filters = FilterState()
        self.generation = 0  # of the newest request
        self.shown = 0  # the generation whose answer is on screen
        self.request: Request | None = None  # the newest; None until the index opens
        self.answer: Answer | None = None  # the one on screen
        # The search that related posts replaced: its answer and the cursor on it.
        self._saved: tuple[Answer | None, int | None] | None = None
        self._paging: Request | None = None  # the request whose next page is on its way

    # -- the state -------------------------------------------------------------------------
    @property
    def related_to(self) -> Hit | None:
        """The post whose related posts are listed (None: a search is)."""
        return self.request.related_to if self.request is not None else None

    @property
    def hits(self) -> tuple[Hit, ...]:
        return self.answer.hits if self.answer is not None else ()

    @property
    def pending(self) -> bool:
        """Whether the newest request is still unanswered."""
        return self.shown != self.generation

    def effective_mode(self) -> Mode:
        """The mode to ask for: lexical while the model loads or after it failed."""
        if self.mode == "lexical" or self.searcher is None:
            return "lexical"
        if self.searcher.has_vectors and self.searcher.model_state != "ready":
            return "lexical"
        # Without vectors the searcher itself falls back (the answer's mode says so).
        return self.mode

    def is_current(self, request: Request) -> bool:
        return request.generation == self.generation

    # -- changes ---------------------------------------------------------------------------
    def open(self, searcher: Searcher) -> Request | None:
        """The index is open: hybrid when it has vectors, else lexical; the first search."""
        self.searcher = searcher
        self.mode = "hybrid" if searcher.has_vectors else "lexical"
        return self.search()

    def search(self) -> Request | None:
        """A new search for the query and filters (it leaves related posts)."""
        if self.searcher is None:
            return None
        self._saved = None
        self.generation += 1
        request = Request(
            self.generation, self.query, self.effective_mode(), self.sort, self.filters
        )
        self.request = request
        if not request.query.strip() and not request.filters:
            self.shown = request.generation
            self.answer = None  # the hint
            return None
        return request

    def rerun(self) -> Request | None:
        """Search again in the current view (related posts stay related posts)."""
        if self.request is None:
            return None  # nothing searched yet: the first search follows the opening
        if self.related_to is not None:
            return self._related(self.related_to)
        return self.search()

    def set_mode(self, mode: Mode) -> Request | None:
        if mode == self.mode:
            return None
        self.mode = mode
        return self.rerun()

    def set_sort(self, sort: Sort) -> Request | None:
        if sort == self.sort:
            return None
        self.sort = sort
        return self.rerun()

    def set_filters(self, filters: FilterState) -> Request | None:
        """Callers check the years' order first (the screen says what is wrong)."""
        if filters == self.filters:
            return None
        self.filters = filters
        return self.search()

    def model_ready(self) -> Request | None:
        """The models loaded: what was asked lexically meanwhile is asked as chosen."""
        return self.rerun() if self.mode != "lexical" else None

    def related(self, hit: Hit, cursor: int | None = None) -> Request | None:
        """Posts related to `hit`; `cursor` (where it stands in the list) comes back with the
        search on `restore`."""
        if self.searcher is None:
            return None
        if self.related_to is None:
            self._saved = (self.answer, cursor)
        return self._related(hit)

    def _related(self, hit: Hit) -> Request:
        self.generation += 1
        request = Request(
            self.generation, "", self.effective_mode(), self.sort, self.filters, related_to=hit
        )
        self.request = request
        return request

    def restore(self) -> tuple[Request | None, int | None]:
        """Back from related posts to the search as it was: (None, the cursor) with the saved
        answer shown again, or (a request to run) when the mode or the sort changed since."""
        saved, self._saved = self._saved, None
        answer = saved[0] if saved else None
        if answer is None or (answer.request.mode, answer.request.sort) != (
            self.effective_mode(),
            self.sort,
        ):
            return self.search(), None
        self.generation += 1
        self.shown = self.generation
        self.request = answer.request
        self.answer = answer
        return None, saved[1] if saved and answer.hits else None

    # -- answers ---------------------------------------------------------------------------
    def answer_for(self, request: Request) -> Answer:
        """Ask the searcher (blocking: a worker thread calls this); errors become the answer,
        shown instead of hits."""
        searcher = self.searcher
        if searcher is None:
            return Answer(request, mode=request.mode, error="no index is open")
        try:
            if request.related_to is not None:
                result = searcher.similar(
                    request.related_to.post_id, limit=min(self.limit, RELATED)
                )
                hits: Sequence[Hit] = result.hits
                if request.sort == "date":
                    hits = sorted(result, key=lambda h: h.date or dt.date.min, reverse=True)
                total = len(hits)
            else:
                result = searcher.search(request.search(self.limit))
                hits, total = result.hits, result.total
            return Answer(
                request,
                tuple(hits),
                total=max(total, len(hits)),
                mode=result.mode,
                warnings=result.warnings,
                took_ms=result.took_ms,
                unknown=result.unknown,
            )
        except QuerySyntaxError as exc:
            error = f"can't read that query: {exc}"
        except DataError as exc:
            error = str(exc)
        except Exception as exc:  # shown, not fatal: the next keystroke may well work
            error = f"search failed: {exc}"
        return Answer(request, mode=request.mode, error=printable(error))

    def accept(self, answer: Answer) -> bool:
        """Take `answer` (or a next page of it) if it answers the newest request; whether it
        did (anything older is dropped)."""
        if answer.request is not self.request:
            return False
        self.shown = self.generation
        self._paging = None
        self.answer = answer
        return True

    def page_due(self, index: int | None) -> Answer | None:
        """The answer whose next page to load now that the cursor is at `index` (within
        PAGE_AHEAD of the end, once per page; related posts are one page), else None."""
        answer = self.answer
        if answer is None or index is None or not answer.more or self.searcher is None:
            return None
        if index < len(answer.hits) - PAGE_AHEAD or self._paging is answer.request:
            return None
        if answer.request.related_to is not None:
            return None
        self._paging = answer.request
        return answer

    def next_page(self, answer: Answer) -> Answer | None:
        """`answer` with the page after its hits (blocking; a worker calls this); posts already
        listed are not listed again. None when the search was superseded meanwhile."""
        request, searcher = answer.request, self.searcher
        if searcher is None or request is not self.request:
            return None
        try:  # the same ranking as the first page
            result = searcher.search(request.search(self.limit, offset=len(answer.hits)))
        except Exception as exc:  # the pages shown stay; the list just ends here
            return replace(
                answer,
                total=len(answer.hits),
                warnings=(*answer.warnings, f"could not load more results: {exc}"),
            )
        seen = {h.post_id for h in answer.hits}
        new = tuple(h for h in result if h.post_id not in seen)
        hits = answer.hits + new
        # A page that adds nothing ends the list (rather than asking for it forever).
        total = max(result.total, len(hits)) if new else len(hits)
        return replace(answer, hits=hits, total=total)
