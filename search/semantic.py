"""Semantic retrieval: nearest passages in FAISS, each post scored by its best passage."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from index.vectors import VectorIndex

# Passages fetched per post wanted: posts have ~20 passages, and several of the nearest
# passages usually belong to the same post.
PASSAGES_PER_POST = 8


@dataclass(frozen=True, slots=True)
class SemanticHit:
    post_id: int
    score: float
    passage: tuple[int, int]  # (start, end) of the best passage in the post body


class SemanticRetriever:
    def __init__(self, vectors: VectorIndex, chunks: dict[int, tuple[int, int, int]]) -> None:
        self.vectors = vectors
        self.chunks = chunks
        self.by_post: dict[int, list[int]] = defaultdict(list)
        for chunk_id, (post_id, _, _) in chunks.items():
            self.by_post[post_id].append(chunk_id)

    def search(
        self, query: np.ndarray, limit: int, *, allowed: Iterable[int] | None = None
    ) -> list[SemanticHit]:
        allowed_ids = None
        if allowed is not None:
            allowed_ids = np.array([c for p in allowed for c in self.by_post.get(p, ())], np.int64)
            if not len(allowed_ids):
                return []
        k = max(limit * PASSAGES_PER_POST, 200)
        scores, ids = self.vectors.search(query, k, allowed=allowed_ids)
        best: dict[int, SemanticHit] = {}
        for score, chunk_id in zip(scores.tolist(), ids.tolist(), strict=True):
            post_id, start, end = self.chunks[chunk_id]
            if post_id not in best:  # results come best first
                best[post_id] = SemanticHit(post_id, float(score), (start, end))
        return list(best.values())[:limit]

    def post_vector(self, post_id: int) -> np.ndarray | None:
        """The mean of a post's passage vectors, normalized: the post as one point."""
        ids = self.by_post.get(post_id)
        if not ids:
            return None
        mean = self.vectors.reconstruct(ids).mean(axis=0)
        return mean / (np.linalg.norm(mean) or 1.0)
