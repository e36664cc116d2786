"""`Searcher.search` returns a `SearchResult`: pages of one ranking, a total, the mode that
answered; and one `Searcher` serves many threads at once (fixture corpus, real Tantivy)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from search import Searcher, SearchResult

QUERIES = ["模型", "RoPE 外推", "梯度 -显存", '"位置编码"', "tag:优化器", "softmax 数值", "鸭子"]


@pytest.fixture(scope="module")
def searcher(fixture_data):
    s = Searcher.open(fixture_data.root)
    yield s
    s.close()


def answer(result: SearchResult) -> list[tuple]:
    return [(h.post_id, h.score, h.snippet) for h in result]


def test_a_result_is_a_read_only_sequence_of_hits_with_its_context(searcher):
    result = searcher.search("模型", limit=3, mode="lexical")
    assert isinstance(result, SearchResult)
    assert len(result) == 3 and result[0] is result.hits[0]
    assert [h.post_id for h in result] == [h.post_id for h in result.hits]
    assert result.total > 3  # more posts mention 模型 than the page shows
    assert (result.offset, result.mode, result.warnings) == (0, "lexical", ())
    assert result.took_ms > 0
    with pytest.raises(AttributeError):
        result.total = 0  # type: ignore[misc]
    d = result.to_dict()
    assert d["total"] == result.total and [h["post_id"] for h in d["hits"]] == [
        h.post_id for h in result
    ]


def test_total_is_the_same_whatever_the_page(searcher):
    everything = searcher.search("模型", limit=50, mode="lexical")
    assert everything.total == len(everything)
    assert searcher.search("模型", limit=1, mode="lexical").total == everything.total
    assert searcher.search("模型", limit=2, offset=4, mode="lexical").total == everything.total


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_pages_are_slices_of_one_ranking(searcher, sort):
    query = "模型 梯度 矩阵"  # any of the words: 12 of the 18 posts
    whole = [h.post_id for h in searcher.search(query, limit=12, mode="lexical", sort=sort)]
    assert len(whole) == 12
    pages = [
        searcher.search(query, limit=4, offset=k, mode="lexical", sort=sort) for k in (0, 4, 8)
    ]
    assert [r.offset for r in pages] == [0, 4, 8]
    assert [h.post_id for r in pages for h in r] == whole


def test_an_offset_past_the_end_is_an_empty_page_with_the_total(searcher):
    result = searcher.search("RoPE", limit=10, offset=500, mode="lexical")
    assert len(result) == 0 and result.total >= 1 and result.offset == 500


def test_negative_limits_are_refused(searcher):
    with pytest.raises(ValueError):
        searcher.search("RoPE", offset=-1)
    with pytest.raises(ValueError):
        searcher.search("RoPE", sort="oldest")  # type: ignore[arg-type]


def test_eight_threads_share_one_searcher(fixture_data):
    with Searcher.open(fixture_data.root) as fresh:
        expected = {q: answer(fresh.search(q, mode="lexical")) for q in QUERIES}
    with Searcher.open(fixture_data.root) as shared:  # cold: lazy parts built under contention

        def run(i: int) -> list[tuple[str, list[tuple]]]:
            order = QUERIES[i % len(QUERIES) :] + QUERIES[: i % len(QUERIES)]
            return [(q, answer(shared.search(q, mode="lexical"))) for q in order * 5]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = [r for batch in pool.map(run, range(8)) for r in batch]
    assert len(results) == 8 * 5 * len(QUERIES)
    for query, got in results:
        assert got == expected[query], query
