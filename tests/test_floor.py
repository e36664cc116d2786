"""The relevance floor: nonsense finds nothing, real queries keep their hits (the real model on
the fixture corpus; the calibration on the archive is bench/calibrate_floor.py)."""

from __future__ import annotations

import pytest

from search import Searcher
from search.relevance import Evidence, Floor

pytestmark = pytest.mark.model

NONSENSE = [
    "asdfghjkl qwerty",
    "红烧肉怎么做才不腻",
    "梅西和C罗谁的进球更多",
    "cheapest flights from london to tokyo",
]
REAL = {"RoPE 外推": 1001, "注意力 为什么 除以 根号d": 1009, "classifier-free guidance": 1006}


@pytest.fixture(scope="module")
def searcher(tmp_path_factory, embedder):
    from tests.test_semantic import build

    data, _ = build(tmp_path_factory.mktemp("floor"), embedder)
    with Searcher.open(data.root, embedder=embedder) as s:
        yield s


@pytest.mark.parametrize("query", NONSENSE)
@pytest.mark.parametrize("mode", ["hybrid", "semantic"])
def test_nonsense_finds_nothing(searcher, query, mode):
    result = searcher.search(query, mode=mode, limit=100)
    assert result.mode == mode and list(result) == [] and result.total == 0


@pytest.mark.parametrize(("query", "post"), REAL.items())
def test_real_queries_keep_their_best_hit(searcher, query, post):
    result = searcher.search(query, limit=100)
    assert result[0].post_id == post and result.total == len(result) < 18


def test_newest_first_sorts_only_the_hits(searcher):
    hits = {h.post_id for h in searcher.search("RoPE 外推", limit=100)}
    by_date = searcher.search("RoPE 外推", limit=100, sort="date")
    assert {h.post_id for h in by_date} == hits
    dates = [h.date for h in by_date]
    assert dates == sorted(dates, reverse=True)


def _found(semantic: dict[int, float], coverage: dict[int, float], exact=()) -> Evidence:
    return Evidence(semantic, coverage, frozenset(exact))


def test_floor_rules():
    floor = Floor(gate=0.87, gate_latin=0.845, band=0.04, lexical=0.5)
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    weak = _found({1: 0.86, 2: 0.85, 3: 0.84}, {4: 0.3})
    assert floor.apply(ranked, weak, cjk=True) == []  # below the Chinese gate, no coverage
    # the Latin gate; post 4 covers under half the query: a hit after the others
    assert [p for p, _ in floor.apply(ranked, weak, cjk=False)] == [1, 2, 3, 4]
    covered = _found({1: 0.80, 2: 0.79}, {4: 0.6})
    assert [p for p, _ in floor.apply(ranked, covered, cjk=True)] == [1, 2, 4]  # band + coverage
    exact = _found({1: 0.5}, {}, exact=[3])
    assert [p for p, _ in floor.apply(ranked, exact, cjk=True)] == [1, 3]
    # the reasons --explain gives, and the query's verdict
    assert floor.reason(4, covered, 0.80) == "covers the query"
    assert floor.reason(2, covered, 0.80) == "within the band"
    assert floor.reason(3, exact, 0.5) == "exact" and floor.reason(2, exact, 0.5) is None
    assert not floor.report(weak, cjk=True).passed and floor.report(weak, cjk=False).passed


def test_a_latin_query_is_gated_on_both_models_and_partial_cover_comes_last():
    floor = Floor()
    ranked = [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)]
    # e5 alone is below its Latin gate; with USE agreeing, the pair passes
    alone = Evidence({1: 0.84, 2: 0.83}, {3: 0.3})
    assert floor.apply(ranked, alone, cjk=False) == []
    pair = Evidence({1: 0.84, 2: 0.83}, {3: 0.3}, second=0.40)  # 0.84 + 0.25 * 0.40 = 0.94
    assert floor.report(pair, cjk=False).score == pytest.approx(0.94)
    # post 3 covers a third of the query: a hit, after those within the band
    fused = [(3, 1.0), (1, 0.9), (2, 0.8), (4, 0.6)]
    assert [p for p, _ in floor.apply(fused, pair, cjk=False)] == [1, 2, 3]
    assert floor.reason(3, pair, 0.84) == "covers part of the query"
    nonsense = Evidence({1: 0.80}, {}, second=0.2)  # 0.85: below the pair's gate
    assert not floor.report(nonsense, cjk=False).passed


def test_a_post_covering_most_of_the_query_makes_it_about_the_archive():
    """Two thirds of a query's terms in one post keep it, whatever the models score: a
    paraphrase of a real post (bench/make_queries.py) covered 0.6-0.7 and came back empty."""
    evidence = Evidence(semantic={1: 0.80, 2: 0.79}, coverage={1: 0.65, 2: 0.1})
    floor = Floor()
    assert floor.report(evidence, cjk=True).passed
    assert [p for p, _ in floor.apply([(1, 1.0), (2, 0.5)], evidence, cjk=True)] == [1, 2]
    assert not floor.report(Evidence(semantic={1: 0.80}, coverage={1: 0.5}), cjk=True).passed
