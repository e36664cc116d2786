"""Semantic retrieval: nearest passages in FAISS, each post scored by its best few passages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from index.errors import CorruptIndexError
from index.vectors import VectorIndex
from search.config import SemanticConfig


@dataclass(frozen=True, slots=True)
class _Layout:
    """Every passage vector in one matrix, rows grouped by post, and where each post's are."""

    matrix: np.ndarray  # one row per passage
    chunk_ids: np.ndarray  # the passage id of each row
    table: np.ndarray  # (posts, most passages) row numbers; padded with len(matrix)
    post_row: dict[int, int]  # post id -> its row in `table`
    posts: np.ndarray  # the post id of each row of `table`
    sorted_chunks: np.ndarray  # chunk_ids, sorted: where FAISS's answers are looked up
    sorted_table_rows: np.ndarray  # the `table` row of each of those passages
    owner: np.ndarray  # the `table` row of each passage row


@dataclass(frozen=True, slots=True)
class SemanticHit:
    post_id: int
    score: float
    passage: tuple[int, int]  # (start, end) of the best passage in the post body


def post_scores(
    passage_scores: np.ndarray, config: SemanticConfig | None = None
) -> np.ndarray:
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
    """FAISS finds candidate posts; each is then scored on all its passages.

    All passage vectors are also held as one matrix (rows grouped by post, 1.5 kB a passage)
    so that rescoring every passage of a few hundred candidates is one matrix product, not
    thousands of look-ups.
    """

    def __init__(
        self,
        vectors: VectorIndex,
        chunks: dict[int, tuple[int, int, int]],
        config: SemanticConfig | None = None,
    ) -> None:
        """Raises CorruptIndexError when FAISS and the store's passages disagree (a run killed
        between writing one and the other, a stale or garbled file): the ids are compared
        whole, which takes about a millisecond for ten thousand passages."""
        ids = vectors.ids()
        if len(ids) != len(chunks) or not np.array_equal(
            np.sort(ids), np.fromiter(sorted(chunks), np.int64, len(chunks))
        ):
            raise CorruptIndexError(
                f"the vector index at {vectors.path} is out of step with the store "
                f"({len(ids)} vectors for {len(chunks)} passages)"
            )
        self.config = config or SemanticConfig()
        self.vectors = vectors
        self.exact = vectors.exact  # scanned here rather than by FAISS (`_nearest`)
        self.chunks = chunks
        self.by_post: dict[int, list[int]] = defaultdict(list)
        for chunk_id, (post_id, _, _) in sorted(chunks.items()):
            self.by_post[post_id].append(chunk_id)

    @cached_property
    def _layout(self) -> _Layout:
        posts = list(self.by_post)
        order = np.array([c for p in posts for c in self.by_post[p]], np.int64)
        width = max((len(v) for v in self.by_post.values()), default=1)
        table = np.full((len(posts), width), len(order), dtype=np.int64)  # pad: the NaN score
        at = 0
        for i, p in enumerate(posts):
            n = len(self.by_post[p])
            table[i, :n] = np.arange(at, at + n)
            at += n
        matrix = (
            self.vectors.reconstruct(order)
            if len(order)
            else np.zeros((0, self.vectors.dim), np.float32)
        )
        owner = np.repeat(np.arange(len(posts)), [len(self.by_post[p]) for p in posts])
        by_chunk = np.argsort(order, kind="stable")
        return _Layout(
            matrix,
            order,
            table,
            {p: i for i, p in enumerate(posts)},
            np.array(posts, np.int64),
            order[by_chunk],
            owner[by_chunk],
            owner,
        )

    def search(
        self, query: np.ndarray, limit: int, *, allowed: Iterable[int] | None = None
    ) -> list[SemanticHit]:
        layout = self._layout
        scores = layout.matrix @ query.astype(np.float32)
        k = max(limit * self.config.passages_per_post, 200)
        owners = self._nearest(query, scores, k, allowed)
        if not len(owners):
            return []
        # The posts of the nearest passages, in the order of their first passage.
        _, first = np.unique(owners, return_index=True)
        table_rows = owners[np.sort(first)]
        candidates = layout.posts[table_rows].tolist()
        scores = np.append(scores, np.nan)
        rows = layout.table[table_rows]
        per_post = scores[rows]
        order = np.argsort(-per_post, axis=1, kind="stable")  # NaN padding sorts last
        support = self.config.support_passages
        fused = post_scores(np.take_along_axis(per_post, order[:, : 1 + support], 1), self.config)
        best_rows = rows[np.arange(len(rows)), order[:, 0]]
        hits = []
        for i in np.argsort(-fused, kind="stable")[:limit].tolist():
            _, start, end = self.chunks[int(layout.chunk_ids[best_rows[i]])]
            hits.append(SemanticHit(candidates[i], float(fused[i]), (start, end)))
        return hits

    def _nearest(
        self, query: np.ndarray, scores: np.ndarray, k: int, allowed: Iterable[int] | None
    ) -> np.ndarray:
        """The `table` rows (posts) of the `k` passages nearest the query, nearest first, among
        the passages of the `allowed` posts. `scores`: every passage row's score.

        A flat (exact) index is scanned here, on the scores the rescoring needs anyway: FAISS's
        own scan computed the same products again (~0.7 ms a search, four searches a hybrid
        query with feedback). An HNSW index is asked, as it is built to be.
        """
        layout = self._layout
        if not self.exact:
            allowed_ids = None
            if allowed is not None:
                allowed_ids = np.array(
                    [c for p in allowed for c in self.by_post.get(p, ())], np.int64
                )
                if not len(allowed_ids):
                    return np.zeros(0, np.int64)
            _, ids = self.vectors.search(query, k, allowed=allowed_ids)
            return layout.sorted_table_rows[np.searchsorted(layout.sorted_chunks, ids)]
        candidates = scores
        if allowed is not None:
            rows = layout.table[[layout.post_row[p] for p in allowed if p in layout.post_row]]
            keep = np.zeros(len(scores) + 1, bool)
            keep[rows.ravel()] = True
            keep = keep[:-1]  # the padding row
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
        rows = layout.table[row]
        matrix = layout.matrix[rows[rows < len(layout.matrix)]]
        nearest = np.argsort(-(matrix @ query.astype(np.float32)), kind="stable")[:passages]
        mean = matrix[nearest].mean(axis=0)
        moved = query + weight * mean / (np.linalg.norm(mean) or 1.0)
        return (moved / (np.linalg.norm(moved) or 1.0)).astype(np.float32)

    def count(self, allowed: Iterable[int] | None = None) -> int:
        """How many posts (among `allowed`) have passages to match."""
        if allowed is None:
            return len(self.by_post)
        return sum(1 for p in allowed if p in self.by_post)

    def post_vector(self, post_id: int) -> np.ndarray | None:
        """The mean of a post's passage vectors, normalized: the post as one point."""
        ids = self.by_post.get(post_id)
        if not ids:
            return None
        mean = self.vectors.reconstruct(ids).mean(axis=0)
        return mean / (np.linalg.norm(mean) or 1.0)
