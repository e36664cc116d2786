"""Fusing the lexical and semantic rankings: small, swappable functions over (post id, score).

Both take ranked lists and return one list, best first. The default and its parameters are
chosen by measurement on the judged dev queries (see `search.api.FUSION`).
"""

from __future__ import annotations

from collections.abc import Sequence

Ranked = Sequence[tuple[int, float]]


def fuse_rrf(
    lists: Sequence[Ranked], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: sum of w / (k + rank). Uses ranks only, so it needs no score
    calibration, but it cannot tell a clear winner from a near tie."""
    weights = weights or [1.0] * len(lists)
    fused: dict[int, float] = {}
    for ranked, w in zip(lists, weights, strict=True):
        for rank, (doc, _) in enumerate(ranked, 1):
            fused[doc] = fused.get(doc, 0.0) + w / (k + rank)
    return sorted(fused.items(), key=lambda x: x[1], reverse=True)


def _minmax(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    scores = [s for _, s in ranked]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {doc: ((s - lo) / span if span > 0 else 1.0) for doc, s in ranked}


def fuse_convex(lexical: Ranked, semantic: Ranked, alpha: float) -> list[tuple[int, float]]:
    """alpha * semantic + (1 - alpha) * lexical, each min-max normalized over its own list;
    a post missing from a list gets 0 there. Keeps score gaps, unlike RRF."""
    lex, sem = _minmax(lexical), _minmax(semantic)
    docs = set(lex) | set(sem)
    fused = {d: alpha * sem.get(d, 0.0) + (1 - alpha) * lex.get(d, 0.0) for d in docs}
    return sorted(fused.items(), key=lambda x: x[1], reverse=True)
