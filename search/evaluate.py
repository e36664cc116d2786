"""Judged-query evaluation: nDCG@10, MRR@10, Recall@10 and Recall@100, overall and per type.

Definitions follow the judged-set README: graded gains (2/1/0) for nDCG, grade-2 posts only for
MRR, grade >= 1 for recall; rankings are post ids with duplicates dropped before the cut; every
query counts, an empty ranking scoring 0.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100")


@dataclass(frozen=True, slots=True)
class JudgedQuery:
    qid: str
    query: str
    type: str
    relevant: dict[int, int]


def load_queries(path: Path) -> list[JudgedQuery]:
    """Read a judged-query file; raises ValueError naming the line of a bad record."""
    queries = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                relevant = {int(k): int(v) for k, v in d["relevant"].items()}
                queries.append(
                    JudgedQuery(str(d["qid"]), str(d["query"]), str(d.get("type", "")), relevant)
                )
            except RecursionError:  # `[[[[…`: json recurses once per level
                raise ValueError(
                    f"{path}:{lineno}: not a judged query (nested too deeply)"
                ) from None
            # OverflowError: a grade of 1e400 is inf, which int() refuses with its own class
            except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
                raise ValueError(f"{path}:{lineno}: not a judged query ({exc})") from None
    return queries


def dedupe(ranking: Iterable[int]) -> list[int]:
    seen: set[int] = set()
    return [d for d in ranking if not (d in seen or seen.add(d))]


def ndcg_at(ranking: Sequence[int], relevant: dict[int, int], k: int = 10) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at(ranking: Sequence[int], relevant: dict[int, int], k: int = 10) -> float:
    for i, d in enumerate(ranking[:k]):
        if relevant.get(d, 0) >= 2:
            return 1.0 / (i + 1)
    return 0.0


def recall_at(ranking: Sequence[int], relevant: dict[int, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g >= 1}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


def score_query(ranking: Iterable[int], relevant: dict[int, int]) -> dict[str, float]:
    r = dedupe(ranking)
    return {
        "ndcg@10": ndcg_at(r, relevant),
        "mrr@10": mrr_at(r, relevant),
        "recall@10": recall_at(r, relevant, 10),
        "recall@100": recall_at(r, relevant, 100),
    }


@dataclass
class EvalResult:
    overall: dict[str, float]
    by_type: dict[str, dict[str, float]]
    counts: dict[str, int]
    per_query: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "overall": self.overall,
            "by_type": self.by_type,
            "counts": self.counts,
            "per_query": self.per_query,
        }


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: (sum(r[m] for r in rows) / len(rows) if rows else 0.0) for m in METRICS}


def evaluate(queries: Sequence[JudgedQuery], rank: Callable[[str], Sequence[int]]) -> EvalResult:
    """Score `rank(query_text) -> post ids` on every query (macro-averaged)."""
    rows: list[dict[str, float]] = []
    grouped: dict[str, list[dict[str, float]]] = defaultdict(list)
    per_query = []
    for q in queries:
        ranking = list(rank(q.query))
        scores = score_query(ranking, q.relevant)
        rows.append(scores)
        grouped[q.type].append(scores)
        per_query.append(
            {"qid": q.qid, "type": q.type, "query": q.query, **scores, "top": dedupe(ranking)[:10]}
        )
    return EvalResult(
        overall=_mean(rows),
        by_type={t: _mean(v) for t, v in sorted(grouped.items())},
        counts={t: len(v) for t, v in sorted(grouped.items())},
        per_query=per_query,
    )
