"""The relevance floor: a post is a hit only with evidence that it is about the query.

Semantic similarity is never zero, so without a floor every query, nonsense included, would
list every post. Two questions decide:
- Is the query about anything in the archive? Its best semantic score (the primary model's
  first round) must reach the gate, or some post must cover its typed terms (`lexical`), or
  match it exactly, or hold enough of its formula. Otherwise: no hits.
- Which posts are hits? Those matching exactly, those holding `formula` of the query formula's
  tokens (search/formula.py), those with lexical coverage (the idf-weighted
  share of the typed terms a post contains, search/lexical.py) of at least `lexical`, and those
  whose semantic score is within `band` of the query's best.

The values and the measurements that chose them are in search/config.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from search.fusion import Ranked

Reason = Literal["exact", "formula", "covers the query", "within the band"]


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the floor reads of one query's lists."""

    semantic: Mapping[int, float] = field(default_factory=dict)  # primary model, first round
    coverage: Mapping[int, float] = field(default_factory=dict)  # lexical hits: terms covered
    exact: frozenset[int] = frozenset()
    formula: Mapping[int, float] = field(default_factory=dict)  # formula list: tokens covered


@dataclass(frozen=True, slots=True)
class FloorReport:
    """The query's verdict: its best semantic score against the gate for its script."""

    best: float
    gate: float
    passed: bool  # the query is about the archive (by the gate, coverage or an exact match)

    def to_dict(self) -> dict[str, Any]:
        return {"best": round(self.best, 6), "gate": self.gate, "passed": self.passed}


@dataclass(frozen=True, slots=True)
class Floor:
    gate: float = 0.87  # a query with Chinese in it
    gate_latin: float = 0.845  # a query without
    band: float = 0.04
    lexical: float = 0.5
    # The share of a query formula's tokens that makes a post a hit: 0.4 / 0.5 / 0.6 -> formula-dev
    # hybrid 0.877 / 0.877 / 0.857 (variants lose their posts above 0.5).
    formula: float = 0.5

    def report(self, evidence: Evidence, cjk: bool) -> FloorReport:
        best = max(evidence.semantic.values(), default=0.0)
        gate = self.gate if cjk else self.gate_latin
        covered = any(c >= self.lexical for c in evidence.coverage.values()) or any(
            c >= self.formula for c in evidence.formula.values()
        )
        return FloorReport(best, gate, best >= gate or covered or bool(evidence.exact))

    def reason(self, post_id: int, evidence: Evidence, best: float) -> Reason | None:
        """Why `post_id` is a hit (None: it is not), for a query whose best score is `best`."""
        if post_id in evidence.exact:
            return "exact"
        if evidence.formula.get(post_id, 0.0) >= self.formula:
            return "formula"
        if evidence.coverage.get(post_id, 0.0) >= self.lexical:
            return "covers the query"
        if evidence.semantic.get(post_id, -1.0) >= best - self.band:
            return "within the band"
        return None

    def apply(self, ranked: Ranked, evidence: Evidence, cjk: bool) -> list[tuple[int, float]]:
        """The posts of `ranked` (in its order) that are hits for a query (`cjk`: with
        Chinese in it)."""
        report = self.report(evidence, cjk)
        if not report.passed:
            return []
        return [(p, s) for p, s in ranked if self.reason(p, evidence, report.best) is not None]


DEFAULT_FLOOR = Floor()
