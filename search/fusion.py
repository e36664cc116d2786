"""Fusing named ranked lists into one: small functions over (post id, score) and the policy.

Every list a search makes has a name (`bm25`, `e5`, `use`, `e5+fb`, `use+fb`, `bm25+fb`,
`formula`); the
policy weighs each by its name, so adding a kind of evidence is one retriever and one weight.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Literal

Ranked = Sequence[tuple[int, float]]
FEEDBACK = "+fb"  # the suffix of a list searched again in a feedback round
BM25 = "bm25"
BM25_FEEDBACK = BM25 + FEEDBACK
CITED = "cited"  # the candidates by how often the archive's posts cite them (search.graph)
FORMULA = "formula"  # the formula list (search/formula.py): only queries holding LaTeX have one


@dataclass(frozen=True, slots=True)
class RankedList:
    """One retriever's answer: posts best first with its scores, and how many posts matched."""

    name: str
    items: tuple[tuple[int, float], ...] = ()
    total: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[int, float]]:
        return iter(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def ids(self) -> list[int]:
        return [post for post, _ in self.items]

    def ranks(self) -> dict[int, tuple[int, float]]:
        """Each post's 1-based rank and score."""
        return {post: (rank, score) for rank, (post, score) in enumerate(self.items, 1)}


def minmax(ranked: Ranked) -> dict[int, float]:
    """Scores mapped onto [0, 1] over the list (all 1 when they are equal)."""
    if not ranked:
        return {}
    scores = [s for _, s in ranked]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {doc: ((s - lo) / span if span > 0 else 1.0) for doc, s in ranked}


def fuse_convex(lists: Sequence[tuple[Ranked, float]]) -> list[tuple[int, float]]:
    """Σ w · score, each list min-max normalised over itself; a post missing from a list gets 0
    there. Keeps score gaps, unlike RRF."""
    fused: dict[int, float] = {}
    for ranked, weight in lists:
        if weight:
            for doc, value in minmax(ranked).items():
                fused[doc] = fused.get(doc, 0.0) + weight * value
    return sorted(fused.items(), key=lambda x: x[1], reverse=True)


def fuse_rrf(lists: Sequence[tuple[Ranked, float]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: Σ w / (k + rank). Ranks only, so it needs no score calibration,
    but it cannot tell a clear winner from a near tie."""
    fused: dict[int, float] = {}
    for ranked, weight in lists:
        if weight:
            for rank, (doc, _) in enumerate(ranked, 1):
                fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda x: x[1], reverse=True)


def _default_weights() -> Mapping[str, float]:
    return {"e5": 0.5, BM25: 0.5, "use": 0.4, BM25_FEEDBACK: 0.3, CITED: 0.0, FORMULA: 2.0}


@dataclass(frozen=True, slots=True)
class FusionPolicy:
    """How hybrid search turns its named lists into one ranking, and its feedback rounds.
    `Searcher` ranks with one of these and bench/tune_fusion.py varies it, so what is tuned is
    what ships. The measurements that chose each value are in search/config.py."""

    method: Literal["convex", "rrf"] = "convex"
    # Each list's weight by name; a list searched again in the dense feedback round (`e5+fb`)
    # takes its model's weight, and a model without one its role's (`primary_weight`, or 0).
    weights: Mapping[str, float] = field(default_factory=_default_weights)
    primary_weight: float = 0.5
    rrf_k: int = 60
    exact_first: bool = True
    # Dense pseudo-relevance feedback (Rocchio): each model's query moves towards the first
    # fusion's top post by `feedback` (its `feedback_passages` passages nearest the query);
    # 0 turns it off.
    feedback: float = 0.4
    feedback_passages: int = 2
    # Lexical pseudo-relevance feedback (RM3's idea): the `lexical_feedback_terms` terms that
    # mark the top `lexical_feedback_posts` posts, as the `bm25+fb` list (its weight 0: off).
    lexical_feedback_posts: int = 3
    lexical_feedback_terms: int = 20
    # Weights by name for a query without Chinese in it, over `weights` (search/config.py says
    # which and why: the two scripts lean on the lists differently).
    latin: Mapping[str, float] = field(default_factory=lambda: {BM25: 0.3})

    def for_script(self, cjk: bool) -> FusionPolicy:
        """This policy for a query with Chinese in it (`cjk`) or without."""
        if cjk or not self.latin:
            return self
        return replace(self, weights={**self.weights, **self.latin}, latin={})

    def weight(self, name: str, *, primary: bool = False) -> float:
        if name in self.weights:
            return self.weights[name]
        base = name.removesuffix(FEEDBACK)
        if base != name and base != BM25 and base in self.weights:
            return self.weights[base]
        return self.primary_weight if primary else 0.0

    @property
    def lexical_feedback(self) -> float:
        return self.weight(BM25_FEEDBACK)

    def with_weights(self, **weights: float) -> FusionPolicy:
        """This policy with some lists weighed anew (`bm25_fb=0` for `bm25+fb`)."""
        named = {k.replace("_fb", FEEDBACK): v for k, v in weights.items()}
        return replace(self, weights={**self.weights, **named})

    def fuse(
        self,
        lists: Sequence[RankedList],
        exact: Set[int] = frozenset(),
        primary: str | None = None,
    ) -> list[tuple[int, float]]:
        """One list, best first. Exact matches (`exact`: the typed words verbatim in a title, or
        a long query verbatim in a few bodies) go first, in fused order among themselves.
        `primary`: the name of the primary model's list (its weight when it has none)."""
        weighted = [
            (lst.items, self.weight(lst.name, primary=lst.name.removesuffix(FEEDBACK) == primary))
            for lst in lists
        ]
        rrf = self.method == "rrf"
        fused = fuse_rrf(weighted, k=self.rrf_k) if rrf else fuse_convex(weighted)
        if not (self.exact_first and exact):
            return fused
        return [x for x in fused if x[0] in exact] + [x for x in fused if x[0] not in exact]

    def contributions(
        self, lists: Sequence[RankedList], primary: str | None = None
    ) -> dict[str, dict[int, float]]:
        """What each list adds to each post's fused score (convex fusion): weight × its
        normalised score, by list name."""
        out: dict[str, dict[int, float]] = {}
        for lst in lists:
            weight = self.weight(lst.name, primary=lst.name.removesuffix(FEEDBACK) == primary)
            if self.method == "rrf":
                out[lst.name] = {d: weight / (self.rrf_k + r) for r, (d, _) in enumerate(lst, 1)}
            else:
                out[lst.name] = {d: weight * v for d, v in minmax(lst.items).items()}
        return out


DEFAULT_FUSION = FusionPolicy()
