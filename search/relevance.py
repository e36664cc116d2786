"""The relevance floor: a post is a hit only with evidence that it is about the query.

Semantic similarity is never zero, so without a floor every query, nonsense included, would
list every post. Two questions decide:
- Is the query about anything in the archive? Its best semantic score must reach the gate for
  its script (a Chinese query: the primary model's best; a Latin one, with a second model: the
  primary's best plus `second_weight` times the second's, two models agreeing), or some post
  must cover its typed terms (`lexical`), or match it exactly, or hold enough of its formula.
  Otherwise: no hits.
- Which posts are hits? Those matching exactly, those holding `formula` of the query formula's
  tokens (search/formula.py), those with lexical coverage (the idf-weighted
  share of the typed terms a post contains, search/lexical.py) of at least `hit_coverage`, and
  those whose primary score is within `band` of the query's best.

The values and the measurements that chose them are in search/config.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from search.fusion import Ranked

Reason = Literal[
    "exact", "formula", "covers the query", "within the band", "covers part of the query"
]
PARTIAL: Reason = "covers part of the query"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the floor reads of one query's lists."""

    semantic: Mapping[int, float] = field(default_factory=dict)  # primary model, first round
    coverage: Mapping[int, float] = field(default_factory=dict)  # lexical hits: terms covered
    exact: frozenset[int] = frozenset()
    second: float | None = None  # the second model's best first-round score (None: no such)
    formula: Mapping[int, float] = field(default_factory=dict)  # formula list: tokens covered


@dataclass(frozen=True, slots=True)
class FloorReport:
    """The query's verdict: its best semantic score against the gate for its script."""

    best: float  # the primary model's best score (the band is measured from it)
    score: float  # what the gate reads: `best`, or with two models their weighted sum
    gate: float
    passed: bool  # the query is about the archive (by the gate, coverage or an exact match)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best": round(self.best, 6),
            "score": round(self.score, 6),
            "gate": self.gate,
            "passed": self.passed,
        }


@dataclass(frozen=True, slots=True)
class Floor:
    gate: float = 0.88  # a query with Chinese in it: the primary model's best score
    gate_latin: float = 0.845  # a query without, the primary model alone
    gate_latin_pair: float = 0.92  # a query without, primary + second_weight × second model
    second_weight: float = 0.25
    band: float = 0.04
    lexical: float = 0.6  # a post covering this share of the query makes it about the archive
    hit_coverage: float = 0.5  # a post covering this share is a hit
    # A post covering this share is a hit after all the others: hybrid keeps the posts lexical
    # mode finds (Recall@100 of question queries 0.940 -> 0.973, lexical's 0.953) without
    # letting them into the first places (in fused order among them, they cost paraphrase
    # nDCG@10 0.889 -> 0.862, as the feedback rounds then picked them).
    tail_coverage: float = 0.2
    # The share of a query formula's tokens that makes a post a hit. bench/cv_formula.py
    # ("floor share"), hybrid nDCG@10 on 300 formula queries made from the archive / the judged
    # 20 (structure: formulas written from memory, which a strict floor cuts off):
    # 0.1: 0.9400 / 0.942 (0.878), 0.15: 0.9400 / 0.939 (0.867), 0.2: 0.9402 / 0.930 (0.841),
    # 0.3: 0.9400 / 0.916 (0.792), 0.5: 0.9395 / 0.910 (0.769). The made set is flat; 4 of 5
    # folds pick 0.2, which ships (the judged set alone would go lower). Out-of-domain formula
    # queries answered: 13 of 15 at every share.
    formula: float = 0.2

    def report(self, evidence: Evidence, cjk: bool) -> FloorReport:
        best = max(evidence.semantic.values(), default=0.0)
        if cjk:
            score, gate = best, self.gate
        elif evidence.second is None:
            score, gate = best, self.gate_latin
        else:
            score, gate = best + self.second_weight * evidence.second, self.gate_latin_pair
        covered = any(c >= self.lexical for c in evidence.coverage.values()) or any(
            c >= self.formula for c in evidence.formula.values()
        )
        return FloorReport(best, score, gate, score >= gate or covered or bool(evidence.exact))

    def reason(self, post_id: int, evidence: Evidence, best: float) -> Reason | None:
        """Why `post_id` is a hit (None: it is not), for a query whose best score is `best`."""
        if post_id in evidence.exact:
            return "exact"
        if evidence.formula.get(post_id, 0.0) >= self.formula:
            return "formula"
        coverage = evidence.coverage.get(post_id, 0.0)
        if coverage >= self.hit_coverage:
            return "covers the query"
        if evidence.semantic.get(post_id, -1.0) >= best - self.band:
            return "within the band"
        if coverage >= self.tail_coverage:
            return "covers part of the query"
        return None

    def apply(self, ranked: Ranked, evidence: Evidence, cjk: bool) -> list[tuple[int, float]]:
        """The posts of `ranked` that are hits for a query (`cjk`: with Chinese in it), in its
        order, those covering only part of the query after the others."""
        report = self.report(evidence, cjk)
        if not report.passed:
            return []
        reasons = [(p, s, self.reason(p, evidence, report.best)) for p, s in ranked]
        first = [(p, s) for p, s, why in reasons if why and why != PARTIAL]
        return first + [(p, s) for p, s, why in reasons if why == PARTIAL]


DEFAULT_FLOOR = Floor()
