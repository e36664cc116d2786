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
    # The ensemble's other models (search/semantic.py scoring, same depth), one ranked list
    # each, in the manifest's order; empty for an index built with e5 alone.
    extra: tuple[list[tuple[int, float]], ...] = ()
    # Hybrid with feedback (FusionPolicy.feedback): the semantic list and each extra list
    # again, for the query moved towards the first ranking's top post; empty without.
    # The floor keeps reading the first-round `semantic` scores it was calibrated on.
    feedback: tuple[list[tuple[int, float]], ...] = ()
    feedback_post: int | None = None
    # Lexical feedback (FusionPolicy.lexical_feedback): BM25 of the terms that mark the top
    # posts after the dense feedback; empty without.
    lexical_feedback: list[tuple[int, float]] = field(default_factory=list)

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


def fuse_convex(
    lexical: Ranked,
    semantic: Ranked,
    alpha: float,
    extra: Sequence[Ranked] = (),
    extra_weights: Sequence[float] = (),
) -> list[tuple[int, float]]:
    """alpha * semantic + (1 - alpha) * lexical (+ w_i * extra_i), each min-max normalized
    over its own list; a post missing from a list gets 0 there. Keeps score gaps, unlike RRF.
    With no extra lists it is exactly the two-list fusion."""
    lex, sem = _minmax(lexical), _minmax(semantic)
    others = [(_minmax(r), w) for r, w in zip(extra, extra_weights, strict=False) if w]
    docs = set(lex) | set(sem)
    for scores, _ in others:
        docs |= set(scores)
    fused = {d: alpha * sem.get(d, 0.0) + (1 - alpha) * lex.get(d, 0.0) for d in docs}
    for scores, w in others:
        for d, v in scores.items():
            fused[d] += w * v
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

    A third list, USE multilingual (index/models/use.py; 0.761 alone), on the same 60 queries
    (bench/tune_fusion.py on an e5,use index): α=0.5 with w=0 / 0.1 / 0.2 / 0.3 / 0.4 / 0.5 /
    0.7 / 1.0 -> 0.864 / 0.869 / 0.878 / 0.880 / 0.886 / 0.881 / 0.871 / 0.863. The plateau is
    broad: every α in 0.4..0.6 with w in 0.2..0.5 scores 0.871..0.886; α=0.7 stays at
    0.852..0.861 whatever w, and RRF with the third list 0.852..0.865. α=0.5, w=0.4 keeps
    the two-list α and sits in the middle of the plateau; the gain is on english (0.750 ->
    0.836), question (0.781 -> 0.810) and variant (0.782 -> 0.846) queries, keyword 0.980 ->
    0.975, exact stays 1.000.
    """

    method: Literal["convex", "rrf"] = "convex"
    alpha: float = 0.5  # convex: the weight of the semantic list
    rrf_k: int = 60
    rrf_weights: tuple[float, float] = (1.0, 1.0)  # rrf: lexical, semantic
    # The weight of each extra model's list (Candidates.extra, in the manifest's order; today
    # USE, index/models/use.py), in the units of the two above: convex adds w * its min-max
    # score, rrf weighs its reciprocal ranks by w. An index without extra models ignores it.
    extra_weights: tuple[float, ...] = (0.4,)
    exact_first: bool = True
    # Dense pseudo-relevance feedback (Rocchio): after a first fusion, each model's query
    # vector moves towards the top hit's `feedback_passages` passages nearest to it, by
    # `feedback` (q + feedback * their mean, renormalized); each model's list is searched
    # again and the lists are fused once more. 0 turns it off. bench/tune_fusion.py on the
    # 60 dev queries, e5,use index: 0.886 without; with 2 passages, feedback 0.2 / 0.3 / 0.4 /
    # 0.5 / 0.7 / 1.0 -> 0.892 / 0.894 / 0.897 / 0.896 / 0.896 / 0.897 (1 passage 0.891..0.900,
    # 3: 0.890..0.898, 5: 0.887..0.895): all 24 cells gain, so 2 x 0.4 is the middle of a
    # plateau, not a peak. The gain is on question (0.810 -> 0.832), paraphrase (0.862 ->
    # 0.876) and variant queries, keyword back to 0.980, english and exact unchanged. An e5-only
    # index gains too (0.864 -> 0.874). The top hit alone: the mean of the top 2, 3 or 5
    # posts drifts off the topic (0.874..0.893 in a first probe), and moving only e5's or only
    # USE's query gained under 0.002. Costs one more FAISS search per model, no encoding.
    feedback: float = 0.4
    feedback_passages: int = 2
    # Lexical pseudo-relevance feedback (RM3's idea): after the dense feedback's fusion, the
    # `lexical_feedback_terms` terms that mark its top `lexical_feedback_posts` posts most (a
    # term's share of a post's words times its idf, LaTeX commands left out, summed over the
    # posts, each weighed by its fused score over the first's; the query's own terms left out)
    # are searched as one weighted BM25 query, and that list joins the fusion at weight
    # `lexical_feedback`. It finds the posts that name what a paraphrase or a question
    # describes. 0 turns it off. bench/tune_fusion.py on the 60 dev queries, e5,use index:
    # 0.897 without; 2-5 posts x 10/20/40 terms x weight 0.15/0.25/0.35, all 36 cells:
    # 0.899..0.909, paraphrase 0.874..0.897, question 0.836..0.852, keyword 0.981..0.986,
    # english 0.833..0.866, exact 1.000; at 0.5 keyword falls to 0.969 in places. 3 posts x 20
    # terms x 0.3, the middle: 0.905; paraphrase 0.876 -> 0.889, question 0.832 -> 0.845,
    # english 0.838 -> 0.849, keyword 0.980 -> 0.983, variant 0.863 -> 0.861, exact 1.000.
    # With every post counting alike: 0.909 (paraphrase 0.899, english 0.868, question 0.839),
    # but a weak third post can then outweigh a clear first (tests/test_lexical_search.py).
    # It needs the dense round's better top posts: with the dense feedback off it scores
    # 0.888 against 0.887 without either. Costs one BM25 search, and segmenting each post
    # not seen lately (~0.8 ms).
    lexical_feedback: float = 0.3
    lexical_feedback_posts: int = 3
    lexical_feedback_terms: int = 20

    def fuse(
        self,
        lexical: Ranked,
        semantic: Ranked,
        exact: Set[int] = frozenset(),
        extra: Sequence[Ranked] = (),
        lexical_feedback: Ranked = (),
    ) -> list[tuple[int, float]]:
        """One list, best first. Exact matches (`exact`: the typed words verbatim in a title,
        or a long query verbatim in a few bodies) go first, in fused order among themselves.
        `extra`: the other models' lists (an index without them fuses as two lists);
        `lexical_feedback`: the lexical feedback round's list, at its weight."""
        weights = [w for w, _ in zip(self.extra_weights, extra, strict=False)]
        if lexical_feedback and self.lexical_feedback:
            extra = [*extra[: len(weights)], lexical_feedback]
            weights = [*weights, self.lexical_feedback]
        if self.method == "rrf":
            used = [(r, w) for r, w in zip(extra, weights, strict=False) if w]
            fused = fuse_rrf(
                [lexical, semantic, *(r for r, _ in used)],
                k=self.rrf_k,
                weights=[*self.rrf_weights, *(w for _, w in used)],
            )
        else:
            fused = fuse_convex(lexical, semantic, self.alpha, extra, weights)
        if not (self.exact_first and exact):
            return fused
        return [x for x in fused if x[0] in exact] + [x for x in fused if x[0] not in exact]

    def rank(self, found: Candidates) -> list[tuple[int, float]]:
        """The hybrid ranking of `found`: its feedback lists in place of the first-round
        semantic ones when it has them, and its lexical feedback list beside them."""
        if found.feedback:
            semantic, *extra = found.feedback
            return self.fuse(found.lexical, semantic, found.exact, extra, found.lexical_feedback)
        return self.fuse(
            found.lexical, found.semantic_ranked, found.exact, found.extra, found.lexical_feedback
        )


DEFAULT_FUSION = FusionPolicy()
