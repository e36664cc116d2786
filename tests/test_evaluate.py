"""The metrics, checked against values computed by hand."""

import json
import math

import pytest

from search.evaluate import evaluate, load_queries, score_query


def test_hand_computed_example():
    relevant = {10: 2, 20: 1, 30: 2}
    ranking = [20, 99, 10, 20, 40]  # a duplicate that must be dropped before the cut
    s = score_query(ranking, relevant)
    dcg = 1 / math.log2(2) + 2 / math.log2(4)  # 20 at rank 1 (gain 1), 10 at rank 3 (gain 2)
    idcg = 2 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert s["ndcg@10"] == pytest.approx(dcg / idcg)
    assert s["mrr@10"] == pytest.approx(1 / 3)  # first grade-2 post at rank 3
    assert s["recall@10"] == pytest.approx(2 / 3)
    assert s["recall@100"] == pytest.approx(2 / 3)


def test_cutoffs_and_empty_rankings():
    relevant = {1: 2}
    assert score_query([*list(range(2, 12)), 1], relevant)["recall@10"] == 0.0
    assert score_query([*list(range(2, 12)), 1], relevant)["recall@100"] == 1.0
    assert score_query([], relevant) == {"ndcg@10": 0, "mrr@10": 0, "recall@10": 0, "recall@100": 0}


def test_macro_average_and_per_type(tmp_path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"qid": "a", "query": "x", "type": "keyword", "relevant": {"1": 2}},
        {"qid": "b", "query": "y", "type": "english", "relevant": {"2": 2}},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    queries = load_queries(path)
    result = evaluate(queries, lambda q: [1] if q == "x" else [])
    assert result.overall["mrr@10"] == 0.5
    assert result.by_type["keyword"]["ndcg@10"] == 1.0
    assert result.by_type["english"]["ndcg@10"] == 0.0
    assert result.counts == {"english": 1, "keyword": 1}


def test_bad_query_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"qid": "a", "query": "x", "relevant": {"1": 2}}\n{"qid": "b"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2"):
        load_queries(path)
