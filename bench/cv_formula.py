"""5-fold cross-validation of the formula list's fusion knobs on generated formula queries.

    python bench/cv_formula.py --data-dir DIR [--generated bench/out/formula-queries.jsonl]
        [--judged ../shared/eval/formula-dev.jsonl] [--knob NAME ...] [--mode hybrid]

The judged set has 20 queries (the hidden one 30): values are chosen on the generated ones
(bench/make_formula_queries.py: exact, variant and mixed, 100 each), the judged set is the check.
For each knob (one at a time, the others at their shipped values) every value ranks the queries
it can change (a formula alone, or one with words) through `Searcher.ranking`: what ships. For
each of 5 folds the value with the best mean nDCG@10 on the other four is picked and scored on
the held-out fold. Printed: each value's nDCG@10 by type on the generated and on the judged
queries, each fold's pick, and the held-out mean against the shipped value's on the same folds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from _common import REPO, SHARED

from search import DEFAULT_CONFIG, JudgedQuery, RankingConfig, Searcher, load_queries
from search.evaluate import dedupe, ndcg_at
from search.fusion import FORMULA


def _formula(**changes: float) -> RankingConfig:
    if "floor" in changes and DEFAULT_CONFIG.floor is not None:
        return replace(
            DEFAULT_CONFIG, floor=replace(DEFAULT_CONFIG.floor, formula=changes["floor"])
        )
    if "weight" in changes:
        fusion = DEFAULT_CONFIG.fusion.with_weights(formula=changes.pop("weight"))
        return replace(DEFAULT_CONFIG, fusion=fusion)
    return replace(DEFAULT_CONFIG, formula=replace(DEFAULT_CONFIG.formula, **changes))


# knob: (the values, the shipped one, which queries it can change: alone or with words)
KNOBS: dict[str, tuple[dict[float, RankingConfig], float, bool | None]] = {
    "formula weight": (
        {w: _formula(weight=w) for w in (1.0, 1.5, 2.0, 3.0, 4.0)},
        DEFAULT_CONFIG.fusion.weight(FORMULA),
        None,
    ),
    "dense alone": (
        {w: _formula(dense_alone=w) for w in (0.25, 0.5, 0.75, 1.0)},
        DEFAULT_CONFIG.formula.dense_alone,
        True,
    ),
    "feedback alone": (
        {w: _formula(feedback_alone=w) for w in (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)},
        DEFAULT_CONFIG.formula.feedback_alone,
        True,
    ),
    "bm25 with words": (
        {w: _formula(bm25_with_words=w) for w in (1.0, 1.5, 2.0, 3.0)},
        DEFAULT_CONFIG.formula.bm25_with_words,
        False,
    ),
    "floor share": (
        {w: _formula(floor=w) for w in (0.1, 0.15, 0.2, 0.3, 0.4, 0.5)},
        DEFAULT_CONFIG.floor.formula if DEFAULT_CONFIG.floor else 0.0,
        None,
    ),
    "with words": (
        {w: _formula(with_words=w) for w in (0.1, 0.25, 0.5, 1.0)},
        DEFAULT_CONFIG.formula.with_words,
        False,
    ),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--generated", type=Path, default=REPO / "bench/out/formula-queries.jsonl")
    ap.add_argument("--judged", type=Path, default=SHARED / "eval" / "formula-dev.jsonl")
    ap.add_argument("--knob", action="append", choices=list(KNOBS), help="only these knobs")
    ap.add_argument("--mode", default="hybrid", choices=["hybrid", "lexical"])
    args = ap.parse_args()
    if not args.generated.is_file():
        sys.exit(f"cv_formula: no {args.generated} (run bench/make_formula_queries.py)")
    generated, judged = load_queries(args.generated), load_queries(args.judged)
    rng = random.Random(7)
    order = list(range(len(generated)))
    rng.shuffle(order)
    folds = [{generated[i].qid for i in order[k::5]} for k in range(5)]
    s = Searcher.open(args.data_dir)
    everything = [*generated, *judged]
    alone = {}
    for q in everything:
        fq = s.analyse(q.query).formula
        alone[q.qid] = None if fq is None else fq.alone

    def scores(config: RankingConfig, which: Callable[[JudgedQuery], bool]) -> dict[str, float]:
        out = {}
        for q in everything:
            if which(q):
                ranked = s.ranking(q.query, mode=args.mode, config=config)[1].ranked  # type: ignore[arg-type]
                out[q.qid] = ndcg_at(dedupe(p for p, _ in ranked), q.relevant)
        return out

    shipped_scores = scores(DEFAULT_CONFIG, lambda q: True)

    def mean(values: dict[str, float], qids: set[str] | None, kind: str = "") -> float:
        picked = [
            v
            for q in everything
            if (qids is None or q.qid in qids) and (not kind or q.type == kind)
            for v in [values[q.qid]]
        ]
        return statistics.fmean(picked) if picked else float("nan")

    gen_ids = {q.qid for q in generated}
    judged_ids = {q.qid for q in judged}
    kinds = sorted({q.type for q in generated})
    for knob in args.knob or list(KNOBS):
        values, shipped, touches = KNOBS[knob]
        by_value: dict[float, dict[str, float]] = {}
        for value, config in values.items():
            changed = scores(config, lambda q, t=touches: t is None or alone[q.qid] is t)
            by_value[value] = {**shipped_scores, **changed}
        print(f"\n{knob} (shipped {shipped}), {args.mode}: nDCG@10 generated by type | judged")
        for value, sc in by_value.items():
            gen = "  ".join(f"{k[8:]} {mean(sc, gen_ids, k):.3f}" for k in kinds)
            jud = "  ".join(
                f"{k[8:]} {mean(sc, judged_ids, k):.3f}" for k in sorted({q.type for q in judged})
            )
            print(
                f"  {value:>5}: all {mean(sc, gen_ids):.4f}  {gen} | all {mean(sc, judged_ids):.4f}"
                f"  {jud}"
            )
        held: list[float] = []
        base: list[float] = []
        picks = defaultdict(int)
        for fold in folds:
            train = gen_ids - fold
            best = max(by_value, key=lambda v: (mean(by_value[v], train), v == shipped))
            picks[best] += 1
            held.append(mean(by_value[best], fold))
            base.append(mean(by_value.get(shipped, shipped_scores), fold))
        print(
            f"  folds picked {dict(picks)}: held-out {statistics.fmean(held):.4f} "
            f"(± {statistics.stdev(held):.4f}) vs shipped {statistics.fmean(base):.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
