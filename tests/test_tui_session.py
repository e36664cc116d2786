"""The search screen's state without Textual: `SearchSession` driven by a scripted searcher
(for the rules: generations, paging, related and back, the effective mode) and by the real
lexical one over the fixture index."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from search import DataDir, Hit, QuerySyntaxError, Searcher, SearchRequest, SearchResult, Snippet
from tui.session import PAGE_AHEAD, RELATED, SearchSession
from tui.state import FilterState


def hit(post_id: int, year: int = 2020) -> Hit:
    return Hit(
        post_id, f"post {post_id}", f"https://kexue.fm/archives/{post_id}", dt.date(year, 1, 1),
        "c", (), 1.0, Snippet(""),
    )  # fmt: skip


class ScriptedSearcher:
    """Answers every query with posts 1..`total` (a page at a time), related posts with
    100.., and records what it was asked; `fail` raises on the next search."""

    def __init__(self, total: int = 10, vectors: bool = False) -> None:
        self.total = total
        self.has_vectors = vectors
        self.model_state = "loading" if vectors else "none"
        self.asked: list[SearchRequest] = []
        self.fail: Exception | None = None

    def search(self, request: SearchRequest) -> SearchResult:
        self.asked.append(request)
        if self.fail is not None:
            raise self.fail
        ids = range(1 + request.offset, min(self.total, request.offset + request.limit) + 1)
        return SearchResult(tuple(hit(i) for i in ids), self.total, request.offset, request.mode)

    def similar(self, post_id: int, limit: int = 5) -> SearchResult:
        hits = tuple(hit(100 + i, 2000 + i) for i in range(min(limit, 4)))
        return SearchResult(hits, len(hits), 0, "lexical")


def opened(searcher: ScriptedSearcher, limit: int = 3, query: str = "q") -> SearchSession:
    session = SearchSession(limit)
    session.query = query
    request = session.open(searcher)  # type: ignore[arg-type]
    if request is not None:
        assert session.accept(session.answer_for(request))
    return session


def run(session: SearchSession, request) -> None:
    assert request is not None
    assert session.accept(session.answer_for(request))


def test_an_empty_query_shows_the_hint_and_asks_nothing() -> None:
    searcher = ScriptedSearcher()
    session = SearchSession()
    assert session.search() is None and session.request is None  # no index yet
    assert session.open(searcher) is None  # type: ignore[arg-type]
    assert session.request is not None and session.answer is None
    assert not session.pending and searcher.asked == []


def test_only_the_newest_request_is_answered() -> None:
    session = opened(ScriptedSearcher())
    session.query = "a"
    first = session.search()
    session.query = "ab"
    second = session.search()
    assert first is not None and second is not None
    assert session.pending and not session.is_current(first)
    assert not session.accept(session.answer_for(first))  # stale: dropped
    assert session.pending
    assert session.accept(session.answer_for(second))
    assert not session.pending and session.answer is not None
    assert session.answer.request.query == "ab"


def test_mode_is_lexical_until_the_models_are_ready() -> None:
    searcher = ScriptedSearcher(vectors=True)
    session = opened(searcher)
    assert session.mode == "hybrid" and searcher.asked[-1].mode == "lexical"
    searcher.model_state = "ready"
    request = session.model_ready()
    assert request is not None and request.mode == "hybrid"
    assert session.set_mode("lexical") is not None
    assert session.model_ready() is None  # nothing to ask again in lexical mode


def test_an_index_without_vectors_opens_lexical() -> None:
    session = opened(ScriptedSearcher(vectors=False))
    assert session.mode == "lexical"
    assert session.set_mode("lexical") is None  # no change, no search


def test_paging_asks_once_near_the_end_and_skips_posts_already_listed() -> None:
    searcher = ScriptedSearcher(total=7)
    session = opened(searcher, limit=5)
    answer = session.answer
    assert answer is not None and len(answer.hits) == 5 and answer.more
    assert session.page_due(5 - PAGE_AHEAD - 1) is None
    due = session.page_due(5 - PAGE_AHEAD)
    assert due is answer
    assert session.page_due(4) is None  # already on its way
    more = session.next_page(due)
    assert more is not None and [h.post_id for h in more.hits] == [1, 2, 3, 4, 5, 6, 7]
    assert searcher.asked[-1].offset == 5
    assert session.accept(more) and not more.more
    assert session.page_due(6) is None  # the list is complete


def test_a_page_that_adds_nothing_ends_the_list() -> None:
    searcher = ScriptedSearcher(total=7)
    session = opened(searcher, limit=5)
    assert session.answer is not None
    searcher.total = 5  # the index changed under the list: no more posts after all
    more = session.next_page(session.answer)
    assert more is not None and len(more.hits) == 5 and more.total == 5 and not more.more


def test_a_failed_page_keeps_the_hits_and_says_why() -> None:
    searcher = ScriptedSearcher(total=7)
    session = opened(searcher, limit=5)
    assert session.answer is not None
    searcher.fail = RuntimeError("disk gone")
    more = session.next_page(session.answer)
    assert more is not None and len(more.hits) == 5 and not more.more
    assert "could not load more results: disk gone" in more.warnings


def test_a_page_of_a_superseded_search_is_not_loaded() -> None:
    searcher = ScriptedSearcher(total=7)
    session = opened(searcher, limit=5)
    old = session.answer
    session.query = "other"
    session.search()
    assert old is not None and session.next_page(old) is None


def test_related_posts_and_back_to_the_search_as_it_was() -> None:
    searcher = ScriptedSearcher()
    session = opened(searcher)
    search_answer = session.answer
    assert search_answer is not None
    run(session, session.related(search_answer.hits[1], cursor=1))
    assert session.related_to == search_answer.hits[1]
    assert [h.post_id for h in session.hits] == [100, 101, 102]  # a page at most
    assert session.page_due(3) is None  # related posts are one page
    # Related to a related post: back still leads to the search.
    run(session, session.related(session.hits[0], cursor=0))
    asked = len(searcher.asked)
    request, cursor = session.restore()
    assert request is None and cursor == 1
    assert session.answer is search_answer and session.related_to is None
    assert session.request is search_answer.request and not session.pending
    assert len(searcher.asked) == asked  # shown again, not searched again


def test_back_searches_again_when_the_sort_changed_meanwhile() -> None:
    session = opened(ScriptedSearcher())
    assert session.answer is not None
    run(session, session.related(session.answer.hits[0]))
    request = session.set_sort("date")  # related posts again, newest first
    assert request is not None and request.related_to is not None
    run(session, request)
    dates = [h.date for h in session.hits]
    assert dates == sorted(dates, reverse=True)
    request, cursor = session.restore()
    assert request is not None and request.related_to is None and request.sort == "date"
    assert cursor is None


def test_related_posts_are_capped() -> None:
    session = opened(ScriptedSearcher(), limit=50)
    assert session.answer is not None
    request = session.related(session.answer.hits[0])
    assert request is not None
    assert len(session.answer_for(request).hits) <= RELATED


def test_a_new_search_forgets_the_way_back() -> None:
    session = opened(ScriptedSearcher())
    assert session.answer is not None
    run(session, session.related(session.answer.hits[0], cursor=0))
    request = session.set_filters(FilterState(tag="t"))
    assert request is not None and request.related_to is None
    run(session, request)
    request, cursor = session.restore()
    assert request is not None and cursor is None  # nothing saved: a search


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (QuerySyntaxError("bad date"), "can't read that query: bad date"),
        (RuntimeError("boom"), "search failed: boom"),
    ],
)
def test_errors_are_the_answer(error: Exception, shown: str) -> None:
    searcher = ScriptedSearcher()
    session = opened(searcher)
    searcher.fail = error
    request = session.search()
    assert request is not None
    answer = session.answer_for(request)
    assert answer.error == shown and not answer.hits and not answer.more


@pytest.fixture(scope="module")
def lexical(fixture_data: DataDir) -> Iterator[Searcher]:
    with Searcher.open(Path(fixture_data.root)) as s:
        yield s


def test_with_the_real_lexical_searcher(lexical: Searcher) -> None:
    session = SearchSession(limit=1)
    session.query = "扩散"  # two posts of the fixture
    request = session.open(lexical)
    run(session, request)
    first = session.answer
    assert first is not None and len(first.hits) == 1 and first.total == 2
    due = session.page_due(0)
    assert due is first
    more = session.next_page(due)
    assert more is not None and session.accept(more)
    ids = [h.post_id for h in more.hits]
    assert len(ids) == len(set(ids)) == 2 and not more.more
    run(session, session.related(more.hits[0], cursor=1))
    assert session.hits and more.hits[0].post_id not in [h.post_id for h in session.hits]
    assert session.restore() == (None, 1) and session.answer is more
