"""Semantic retrieval: nearest passages in FAISS, each post scored by its best few passages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from index.errors import CorruptIndexError
from index.store import ChunkTable
from index.vectors import VectorIndex
from search.config import SemanticConfig


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each post's passages are in the vector index's matrix (rows sorted by id)."""

    matrix: np.ndarray  # one row per passage: the index's memory-mapped matrix, not a copy
    chunk_ids: np.ndarray  # the passage id of each row
    table: np.ndarray  # (posts, most passages) row numbers; padded with len(matrix)
    post_row: dict[int, int]  # post id -> its row in `table`
    posts: np.ndarray  # the post id of each row of `table`
    owner: np.ndarray  # the `table` row of each passage row
    # Whether every post's passages are consecutive rows (ids are given a post at a time, so
    # they are unless an index was written otherwise): then a post's rows are a slice.
    consecutive: bool


@dataclass(frozen=True, slots=True)
class SemanticHit:
    post_id: int
    score: float
    passage: tuple[int, int]  # (start, end) of the best passage in the post body


def post_scores(passage_scores: np.ndarray, config: SemanticConfig | None = None) -> np.ndarray:
    """Row-wise post scores from passage scores sorted best first (SemanticConfig says how).

    Rows are posts; a short post's row is padded with NaN, which counts as its best passage.
    """
    config = config or SemanticConfig()
    passages, weight = config.support_passages, config.support_weight
    rows = np.atleast_2d(passage_scores)
    best = rows[:, 0]
    support = rows[:, 1 : 1 + passages]
    if support.shape[1] < passages:
        pad = np.full((len(rows), passages - support.shape[1]), np.nan)
        support = np.hstack([support, pad])
    support = np.where(np.isnan(support), best[:, None], support)
    return (best + weight * support.mean(axis=1)) / (1 + weight)


class SemanticRetriever:
    """Candidate posts from the nearest passages; each is then scored on all its passages.

    The passage vectors are the vector index's memory-mapped matrix (rows sorted by id): an
    exact index is scanned here, as one matrix product whose scores the rescoring reuses; an
    approximate one (IVF, HNSW) is asked by FAISS for the nearest passages, and only the
    candidate posts' passages are read from the matrix and scored exactly.
    """

    def __init__(
        self,
        vectors: VectorIndex,
        chunks: Mapping[int, tuple[int, int, int]],
        config: SemanticConfig | None = None,
    ) -> None:
        """Raises CorruptIndexError when FAISS and the store's passages disagree (a run killed
        between writing one and the other, a stale or garbled file): the ids are compared
        whole, which takes about a millisecond for ten thousand passages."""
        ids = vectors.ids()
        chunks = ChunkTable.of(chunks)
        if not np.array_equal(ids, chunks.ids):
            raise CorruptIndexError(
                f"the vector index at {vectors.path} is out of step with the store "
                f"({len(ids)} vectors for {len(chunks)} passages)"
            )
        self.config = config or SemanticConfig()
        self.vectors = vectors
        # Whether FAISS finds the candidates (an IVF or HNSW index); False scans every passage.
        self.approximate = not vectors.exact
        self.chunks = chunks  # its rows are the matrix's: the ids are the same, both sorted

    @property
    def exact(self) -> bool:
        return not self.approximate

    @cached_property
    def _layout(self) -> _Layout:
        order = self.vectors.ids()  # ascending, as the matrix's rows
        post_of = self.chunks.posts
        posts, owner = np.unique(post_of, return_inverse=True)
        counts = np.bincount(owner, minlength=len(posts))
        width = int(counts.max(initial=1))
        table = np.full((len(posts), width), len(order), dtype=np.int64)  # pad: the NaN score
        by_owner = np.argsort(owner, kind="stable")  # rows grouped by post, in id order
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        table[owner[by_owner], np.arange(len(order)) - starts[owner[by_owner]]] = by_owner
        matrix = self.vectors.matrix if len(order) else np.zeros((0, self.vectors.dim), np.float32)
        post_row = {int(p): i for i, p in enumerate(posts.tolist())}
        last = table[np.arange(len(posts)), counts - 1] if len(posts) else table[:, 0]
        consecutive = bool(np.array_equal(last - table[:, 0], counts - 1))
        return _Layout(matrix, order, table, post_row, posts.astype(np.int64), owner, consecutive)

    def search(
        self,
        query: np.ndarray,
        limit: int,
        *,
        allowed: Iterable[int] | None = None,
        among: Iterable[int] | None = None,
    ) -> list[SemanticHit]:
        """The `limit` best posts (among `allowed`). `among`: score exactly these posts only
        (those `allowed`), found by no index search: an approximate index's feedback round."""
        layout = self._layout
        query = query.astype(np.float32)
        k = max(limit * self.config.passages_per_post, 200)
        if among is not None:
            scores = None
            keep = set(allowed) if allowed is not None else None
            owners = np.fromiter(
                (
                    layout.post_row[p]
                    for p in dict.fromkeys(among)
                    if p in layout.post_row and (keep is None or p in keep)
                ),
                np.int64,
            )
        elif self.approximate:
            scores = None
            owners = self._approximate(query, k * self.config.approximate_passages, allowed)
        else:
            scores = layout.matrix @ query
            owners = self._nearest(scores, k, allowed)
        if not len(owners):
            return []
        # The posts of the nearest passages, in the order of their first passage.
        _, first = np.unique(owners, return_index=True)
        table_rows = owners[np.sort(first)]
        candidates = layout.posts[table_rows].tolist()
        rows = layout.table[table_rows]
        if scores is None:  # only the candidates' passages, read from the matrix
            per_post = np.full(rows.shape, np.nan)
            held = rows < len(layout.matrix)
            per_post[held] = self._rescore(query, rows, held)
        else:
            per_post = np.append(scores, np.nan)[rows]
        order = np.argsort(-per_post, axis=1, kind="stable")  # NaN padding sorts last
        support = self.config.support_passages
        fused = post_scores(np.take_along_axis(per_post, order[:, : 1 + support], 1), self.config)
        best_rows = rows[np.arange(len(rows)), order[:, 0]]
        hits = []
        for i in np.argsort(-fused, kind="stable")[:limit].tolist():
            _, _, start, end = self.chunks.rows[best_rows[i]].tolist()
            hits.append(SemanticHit(candidates[i], float(fused[i]), (start, end)))
        return hits

    def _rescore(self, query: np.ndarray, rows: np.ndarray, held: np.ndarray) -> np.ndarray:
        """The scores of the matrix rows `rows[held]` (posts' passages, a post a row).

        A post's passages consecutive, each post is one read of a slice of the matrix
        (`VectorIndex.block_scores`): at 10x (560 candidate posts, 14k passages), 4.7 ms
        against 9.7 ms gathering the rows first (one BLAS thread; 6.6 against 24.6 ms with
        OpenBLAS's threads on a loaded box).
        """
        layout = self._layout
        if not layout.consecutive:
            return layout.matrix[rows[held]] @ query
        return self.vectors.block_scores(rows[:, 0].tolist(), held.sum(axis=1).tolist(), query)

    def _passages(self, table_row: int) -> np.ndarray:
        """The vectors of one post's passages (its row in the layout's `table`)."""
        layout = self._layout
        rows = layout.table[table_row]
        rows = rows[rows < len(layout.matrix)]
        if layout.consecutive and len(rows):
            return self.vectors.read_rows(int(rows[0]), len(rows))
        return np.asarray(layout.matrix[rows])

    def _allowed_rows(self, allowed: Iterable[int]) -> np.ndarray:
        """The matrix rows of the `allowed` posts' passages, ascending."""
        layout = self._layout
        rows = layout.table[[layout.post_row[p] for p in allowed if p in layout.post_row]]
        return np.sort(rows[rows < len(layout.matrix)])

    def _approximate(self, query: np.ndarray, k: int, allowed: Iterable[int] | None) -> np.ndarray:
        """The `table` rows (posts) of the `k` passages FAISS finds nearest, nearest first.
        A filter leaving fewer passages than an approximate index is for is scanned exactly instead:
        cheaper than FAISS's selector, and a narrow filter would empty FAISS's probed lists."""
        layout = self._layout
        if allowed is not None:
            rows = self._allowed_rows(allowed)
            if VectorIndex.exact_for(len(rows)):
                if not len(rows):
                    return np.zeros(0, np.int64)
                scores = layout.matrix[rows] @ query
                k = min(k, len(rows))
                top = np.argpartition(-scores, k - 1)[:k]
                top = top[np.argsort(-scores[top], kind="stable")]
                return layout.owner[rows[top]]
            _, ids = self.vectors.search(query, k, allowed=layout.chunk_ids[rows])
        else:
            _, ids = self.vectors.search(query, k)
        return layout.owner[np.searchsorted(layout.chunk_ids, ids)]

    def _nearest(self, scores: np.ndarray, k: int, allowed: Iterable[int] | None) -> np.ndarray:
        """The `table` rows (posts) of the `k` passages nearest the query, nearest first, among
        the passages of the `allowed` posts. `scores`: every passage row's score.

        The exact scan runs here, on the scores the rescoring needs anyway: FAISS's own scan
        computed the same products again (~0.7 ms a search, four searches a hybrid query with
        feedback).
        """
        layout = self._layout
        candidates = scores
        if allowed is not None:
            keep = np.zeros(len(scores), bool)
            keep[self._allowed_rows(allowed)] = True
            if not keep.any():
                return np.zeros(0, np.int64)
            candidates = np.where(keep, scores, -np.inf)
            k = min(k, int(keep.sum()))
        k = min(k, len(candidates))
        if k <= 0:
            return np.zeros(0, np.int64)
        top = np.argpartition(-candidates, k - 1)[:k]
        top = top[np.argsort(-candidates[top], kind="stable")]
        return layout.owner[top]

    def feedback(self, query: np.ndarray, post_id: int, weight: float, passages: int) -> np.ndarray:
        """`query` moved towards `post_id`: plus `weight` times the mean of the post's
        `passages` passages nearest to it, renormalized (Rocchio feedback, FusionPolicy)."""
        layout = self._layout
        row = layout.post_row.get(post_id)
        if row is None:
            return query
        matrix = self._passages(row)
        nearest = np.argsort(-(matrix @ query.astype(np.float32)), kind="stable")[:passages]
        mean = matrix[nearest].mean(axis=0)
        moved = query + weight * mean / (np.linalg.norm(mean) or 1.0)
        return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)

    def count(self, allowed: Iterable[int] | None = None) -> int:
        """How many posts (among `allowed`) have passages to match."""
        post_row = self._layout.post_row
        if allowed is None:
            return len(post_row)
        return sum(1 for p in allowed if p in post_row)

    def post_vector(self, post_id: int) -> np.ndarray | None:
        """The mean of a post's passage vectors, normalized: the post as one point."""
        layout = self._layout
        row = layout.post_row.get(post_id)
        if row is None:
            return None
        mean = self._passages(row).mean(axis=0)
        return mean / (np.linalg.norm(mean) or 1.0)
