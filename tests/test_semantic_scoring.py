"""How passages become post scores: real FAISS, hand-made vectors (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from index.vectors import VectorIndex
from search.config import SemanticConfig
from search.semantic import SemanticRetriever, post_scores

SUPPORT_PASSAGES = SemanticConfig().support_passages
SUPPORT_WEIGHT = SemanticConfig().support_weight


def test_post_score_weights_the_best_passage_and_its_support():
    scores = np.array([0.9, 0.7, 0.5, 0.1])
    support = sum(scores[1 : 1 + SUPPORT_PASSAGES]) / SUPPORT_PASSAGES
    expected = (0.9 + SUPPORT_WEIGHT * support) / (1 + SUPPORT_WEIGHT)
    assert post_scores(scores)[0] == pytest.approx(expected)
    assert post_scores(np.array([0.8]))[0] == pytest.approx(0.8)  # a short post: its best counts
    assert post_scores(np.array([0.8, np.nan, np.nan]))[0] == pytest.approx(0.8)
    rows = np.array([[0.9, 0.7, 0.5], [0.8, 0.8, 0.8]])
    np.testing.assert_allclose(post_scores(rows), [expected, 0.8])


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def _retriever(tmp_path, passages):
    """passages: {chunk_id: (post_id, vector)}"""
    index = VectorIndex.create(tmp_path, dim=3)
    ids = np.array(list(passages), np.int64)
    index.add(ids, np.vstack([_unit(v) for _, v in passages.values()]))
    chunks = {c: (post, i * 10, i * 10 + 9) for i, (c, (post, _)) in enumerate(passages.items())}
    return SemanticRetriever(index, chunks)


def test_a_post_on_the_topic_throughout_beats_a_single_mention(tmp_path):
    query = _unit([1, 0, 0])
    r = _retriever(
        tmp_path,
        {
            # post 1: one passage very close to the query, the rest elsewhere
            1: (1, [1, 0.05, 0]),
            2: (1, [0, 1, 0]),
            3: (1, [0, 0, 1]),
            # post 2: three passages all fairly close
            4: (2, [1, 0.3, 0]),
            5: (2, [1, 0.35, 0]),
            6: (2, [1, 0, 0.3]),
            # post 3: unrelated
            7: (3, [0, 1, 1]),
        },
    )
    hits = r.search(query, 3)
    assert [h.post_id for h in hits] == [2, 1, 3]
    assert hits[1].passage == (0, 9)  # the snippet is still the post's best passage
    assert hits[0].score < 1.0


def test_candidates_are_scored_on_all_their_passages_and_filters_hold(tmp_path):
    query = _unit([1, 0, 0])
    passages = {i: (i, [0.2, 1, (i % 7) / 10]) for i in range(1, 400)}  # 399 off-topic posts
    passages[500] = (7, [1, 0, 0])
    r = _retriever(tmp_path, passages)
    assert r.search(query, 1)[0].post_id == 7
    allowed = r.search(query, 5, allowed=[3, 4])
    assert {h.post_id for h in allowed} == {3, 4}
    assert r.search(query, 5, allowed=[10_000]) == []


def test_feedback_moves_the_query_towards_the_posts_nearest_passages(tmp_path):
    query = _unit([1, 0.2, 0])
    r = _retriever(
        tmp_path,
        {
            1: (1, [1, 1, 0]),  # post 1: its passage nearest the query...
            2: (1, [0, 0, 1]),  # ...and one far from it
            3: (2, [0, 1, 0]),
        },
    )
    moved = r.feedback(query, 1, 0.5, passages=1)
    expected = _unit(query + 0.5 * _unit([1, 1, 0]))  # the far passage does not count
    np.testing.assert_allclose(moved, expected, atol=1e-6)
    assert moved @ _unit([1, 1, 0]) > query @ _unit([1, 1, 0])
    both = r.feedback(query, 1, 0.5, passages=2)  # both passages, their mean renormalized
    mean = _unit(_unit([1, 1, 0]) + _unit([0, 0, 1]))
    np.testing.assert_allclose(both, _unit(query + 0.5 * mean), atol=1e-6)
    np.testing.assert_allclose(r.feedback(query, 99, 0.5, passages=1), query)  # unknown post


def test_the_flat_scan_and_faiss_find_the_same_posts(tmp_path):
    rng = np.random.default_rng(7)
    passages = {c: (1 + c % 9, rng.normal(size=3)) for c in range(1, 61)}
    flat = _retriever(tmp_path / "flat", passages)
    hnsw_index = VectorIndex.create(tmp_path / "hnsw", dim=3, kind="hnsw")
    hnsw_index.add(
        np.array(list(passages), np.int64), np.vstack([_unit(v) for _, v in passages.values()])
    )
    hnsw = SemanticRetriever(hnsw_index, flat.chunks)
    assert flat.exact and not hnsw.exact  # the flat one scans its own scores, HNSW asks FAISS
    for _ in range(5):
        query = _unit(rng.normal(size=3))
        for allowed in (None, {2, 3, 5}, {4}, set()):
            a = flat.search(query, 4, allowed=allowed)
            b = hnsw.search(query, 4, allowed=allowed)
            assert [(h.post_id, h.passage) for h in a] == [(h.post_id, h.passage) for h in b]
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-6)
            if allowed is not None:
                assert {h.post_id for h in a} <= allowed
