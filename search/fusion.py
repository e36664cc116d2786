"""Fusing the lexical and semantic rankings: small, swappable functions over (post id, score).

Both take ranked lists and return one list, best first. `FusionPolicy` is the one place that
says which fusion hybrid search uses, with what parameters, chosen by measurement.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from search.semantic import SemanticHit

Ranked = Sequence[tuple[int, float]]


@dataclass(frozen=True, slots=True)
class Candidates:
    """The ranked lists of one query before fusion, with how many posts each matched."""

    lexical: list[tuple[int, float]]
    lexical_total: int
    semantic: list[SemanticHit]
    semantic_total: int
    exact: frozenset[int] = frozenset()
    coverage: dict[int, float] = field(default_factory=dict)  # lexical hits: terms covered

    @property
    def semantic_ranked(self) -> list[tuple[int, float]]:
        return [(h.post_id, h.score) for h in self.semantic]


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


@dataclass(frozen=True, slots=True)
class FusionPolicy:
    """How hybrid search turns its two lists into one: the method, its parameter, and exact
    matches first. `Searcher` ranks with one of these and `bench/tune_fusion.py` varies it, so
    what is tuned is what ships.

    Chosen on the 60 dev queries with bench/tune_fusion.py. nDCG@10 with posts scored by their
    best passage only (lexical 0.826, semantic 0.780 alone): convex α=0.4/0.5/0.6 ->
    0.859/0.861/0.858, RRF k=10/30/60 -> 0.859/0.865/0.860; z-score or 3σ normalization instead
    of min-max moved it by under 0.005. With the best few passages (search/semantic.py; semantic
    0.809 alone) convex α=0.4/0.5/0.6 -> 0.854/0.864/0.854. Convex α=0.5 is in the flat middle
    of its range, keeps score gaps (a clear lexical winner stays first) where RRF sees only
    ranks, and does best on English queries (0.74 vs 0.71).
    """

    method: Literal["convex", "rrf"] = "convex"
    alpha: float = 0.5  # convex: the weight of the semantic list
    rrf_k: int = 60
    rrf_weights: tuple[float, float] = (1.0, 1.0)  # rrf: lexical, semantic
    exact_first: bool = True

    def fuse(
        self, lexical: Ranked, semantic: Ranked, exact: Set[int] = frozenset()
    ) -> list[tuple[int, float]]:
        """One list, best first. Exact matches (`exact`: the typed words verbatim in a title,
        or a long query verbatim in a few bodies) go first, in fused order among themselves."""
        if self.method == "rrf":
            fused = fuse_rrf([lexical, semantic], k=self.rrf_k, weights=self.rrf_weights)
        else:
            fused = fuse_convex(lexical, semantic, self.alpha)
        if not (self.exact_first and exact):
            return fused
        return [x for x in fused if x[0] in exact] + [x for x in fused if x[0] not in exact]


DEFAULT_FUSION = FusionPolicy()
