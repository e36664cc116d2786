"""Semantic and hybrid search end to end: the converted e5 model, real FAISS, the fixture corpus."""

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from index.errors import ModelMismatchError
from index.indexer import Indexer, update
from index.manifest import Manifest
from index.models import ModelSpec
from index.paths import DataDir
from search import RankingConfig, Searcher
from tests.conftest import FIXTURE_POSTS, fixture_posts_with_one_changed

pytestmark = pytest.mark.model


def build(root, embedder, items=None):
    data = DataDir(root)
    report = update(data, [FIXTURE_POSTS] if items is None else items, embedder=embedder)
    return data, report


@pytest.fixture(scope="module")
def data(tmp_path_factory, embedder):
    data, report = build(tmp_path_factory.mktemp("semantic"), embedder)
    assert report.vectors_updated == 18
    return data


@pytest.fixture(scope="module")
def searcher(data, embedder):
    # Ranking on the fixture corpus, without the relevance floor: calibrated on the archive, it
    # sits above what some paraphrases score among these 18 short posts (see test_floor.py).
    # One model load for all.
    s = Searcher.open(data.root, embedder=embedder, config=RankingConfig(floor=None))
    yield s
    s.close()


def top(searcher, query, mode, **kw):
    return [h.post_id for h in searcher.search(query, mode=mode, **kw)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("why divide the attention logits by the square root of the dimension", 1009),
        ("classifier-free guidance for conditional image generation", 1006),
        ("probability that random points on a disk lie in one half", 1013),
        ("tap water runs cold for a while before the hot water arrives", 1014),
        ("计算矩阵的逆平方根的迭代算法", 1012),
    ],
)
def test_semantic_finds_posts_by_meaning_across_languages(searcher, query, expected):
    assert top(searcher, query, "semantic")[:2].count(expected) == 1


def test_hybrid_keeps_exact_keyword_hits_on_top(searcher):
    assert top(searcher, "logsumexp", "hybrid")[0] == 1018
    assert top(searcher, "NTK-aware 插值", "hybrid")[0] == 1002


def test_semantic_snippet_is_the_best_passage(searcher):
    hit = searcher.search("eclipse photographed through a telescope", mode="semantic")[0]
    assert hit.post_id == 1016
    body = searcher.get(1016).body
    assert hit.snippet.text.strip("…")[:20] in body


def test_filters_apply_to_both_halves(searcher):
    for mode in ("semantic", "hybrid"):
        hits = searcher.search("optimization of neural networks", mode=mode, category="数学研究")
        assert hits and all(h.category == "数学研究" for h in hits)
        hits = searcher.search("attention", mode=mode, since="2024-01-01", limit=20)
        assert all(h.date.year >= 2024 for h in hits)


def test_phrases_and_exclusions_constrain_semantic_results(searcher):
    assert top(searcher, 'position encoding "高频外推、低频内插"', "semantic") == [1002]
    assert 1002 not in top(searcher, "rotary position embedding -插值", "semantic", limit=18)


def test_explain_reports_both_lists(searcher):
    hit = searcher.search("RoPE", mode="hybrid", explain=True)[0]
    e = hit.explain
    assert e.lexical_rank == 1 and e.semantic_rank is not None and e.fused_score == hit.score


def test_embed_api(searcher):
    q = searcher.embed(["梯度裁剪", "gradient clipping"], kind="query")
    p = searcher.embed(["梯度裁剪"], kind="passage")
    assert q.shape == (2, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert float(q[0] @ q[1]) > 0.8  # the same idea in two languages
    assert not np.allclose(q[0], p[0])  # the prefix matters
    with pytest.raises(ValueError):
        searcher.embed(["x"], kind="document")  # type: ignore[arg-type]


def test_similar_posts(searcher):
    related = [h.post_id for h in searcher.similar(1005, limit=3)]
    assert 1005 not in related and related[0] == 1006


def test_changing_one_post_embeds_only_its_passages(tmp_path, embedder):
    data, _ = build(tmp_path, embedder)
    changed = fixture_posts_with_one_changed(1016, "\n\n补充：月掩星也值得一看。")
    before = embedder.embedded
    _, report = build(tmp_path, embedder, changed)
    assert (report.changed, report.vectors_updated) == (1, 1)
    assert 0 < embedder.embedded - before <= 2  # the changed passage(s), nothing else
    # A lost vector index is rebuilt from the cache without embedding anything.
    shutil.rmtree(data.vectors)
    before = embedder.embedded
    _, report = build(tmp_path, embedder, [])
    assert report.vectors_updated == 18 and embedder.embedded == before
    with Searcher.open(data.root, embedder=embedder) as s:
        assert s.search("月掩星", mode="semantic")[0].post_id == 1016


def test_another_model_is_refused(data):
    with pytest.raises(ModelMismatchError, match="built with intfloat/multilingual-e5-small"):
        Searcher.open(data.root, model="sentence-transformers/all-MiniLM-L6-v2")
    with Indexer(data) as ix, pytest.raises(ModelMismatchError, match="not some/other-model"):
        ix.sync_vectors(ModelSpec(model_id="some/other-model"))


def test_cli_semantic_query_embed_and_similar(data, tmp_path):
    def run(*args, stdin=None):
        cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(data.root), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, input=stdin)

    result = run(
        "query", "square root of the dimension in attention", "--mode", "semantic", "--json"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["post_id"] == 1009
    npy = tmp_path / "v.npy"
    assert run("embed", "梯度", "gradient", "--npy", str(npy)).returncode == 0
    assert np.load(npy).shape == (2, 384)
    piped = tmp_path / "piped.npy"
    assert run("embed", "-", "--npy", str(piped), stdin="梯度\n\ngradient\n").returncode == 0
    rows = np.load(piped)  # a row per line, the blank one too (it embeds the empty string)
    np.testing.assert_allclose(rows[[0, 2]], np.load(npy), atol=1e-6)
    assert rows.shape == (3, 384)
    similar = run("similar", "1001", "--json")
    assert json.loads(similar.stdout)[0]["post_id"] == 1002
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["model"] == "intfloat/multilingual-e5-small|onnx-int8" and stats["passages"] > 18


def test_hnsw_option_rebuilds_from_cache(tmp_path, embedder):
    data, _ = build(tmp_path, embedder)
    before = embedder.embedded
    with Indexer(data) as ix:
        assert ix.sync_vectors(kind="hnsw", embedder=embedder).posts == 18
        assert Manifest.load(ix.store).vector_kind == "hnsw"
    assert embedder.embedded == before  # switching kinds re-embeds nothing
    with Searcher.open(data.root, embedder=embedder, config=RankingConfig(floor=None)) as s:
        assert top(s, "why divide the attention logits by sqrt(d)", "semantic")[0] == 1009
        assert s.stats()["passages"] == len(s.sides[0].retriever.chunks)
        hits = s.search("attention", mode="semantic", category="数学研究")
        assert hits and all(h.category == "数学研究" for h in hits)  # filtered HNSW search


def test_eight_threads_share_one_searcher_in_hybrid_mode(data, embedder):
    queries = ["why divide the attention logits by sqrt(d)", "RoPE 外推", "梯度 -显存", "鸭子"]
    with Searcher.open(data.root, embedder=embedder) as fresh:
        expected = {q: [(h.post_id, h.score) for h in fresh.search(q)] for q in queries}
    with Searcher.open(data.root, embedder=embedder) as shared:

        def run(i: int) -> list[tuple[str, str, list]]:
            order = queries[i % len(queries) :] + queries[: i % len(queries)]
            out = []
            for q in order * 3:
                result = shared.search(q)
                out.append((q, result.mode, [(h.post_id, h.score) for h in result]))
            return out

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = [r for batch in pool.map(run, range(8)) for r in batch]
    assert len(results) == 8 * 3 * len(queries)
    for query, mode, got in results:
        assert mode == "hybrid" and got == expected[query], query


def test_hybrid_result_reports_totals_and_pages(searcher):
    whole = searcher.search("attention", limit=12)
    assert whole.mode == "hybrid" and whole.total == 18  # no floor here: every post matches
    page = searcher.search("attention", limit=4, offset=4)
    assert [h.post_id for h in page] == [h.post_id for h in whole][4:8]


@pytest.mark.parametrize("damage", ["garble", "stale", "chunks"])
def test_vectors_out_of_step_fall_back_to_lexical_and_index_repairs(tmp_path, embedder, damage):
    import sqlite3

    data, _ = build(tmp_path, embedder)
    faiss_file = data.vectors / "passages.faiss"
    if damage == "garble":
        raw = bytearray(faiss_file.read_bytes())
        raw[len(raw) // 2 :] = bytes(len(raw) - len(raw) // 2)
        faiss_file.write_bytes(bytes(raw[: len(raw) * 3 // 4]))
    elif damage == "stale":  # FAISS written, the store's passages not replaced (a kill between)
        with sqlite3.connect(data.store) as conn:
            conn.execute("UPDATE chunks SET id = id + 100000")
    else:  # passage rows lost
        with sqlite3.connect(data.store) as conn:
            conn.execute("DELETE FROM chunks WHERE post_id = 1009")
    with Searcher.open(data.root, embedder=embedder) as s:
        result = s.search("why divide the attention logits by sqrt(d)")
        assert result.mode == "lexical" and "searching lexically" in result.warnings[0]
        related = s.similar(1005, limit=3)
        assert related.mode == "lexical" and related[0].post_id == 1006
    report = update(data, [], embedder=embedder)
    assert report.vectors_updated == 18
    with Searcher.open(data.root, embedder=embedder) as s:
        result = s.search("why divide the attention logits by sqrt(d)")
        assert result.mode == "hybrid" and result[0].post_id == 1009
