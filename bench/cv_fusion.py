"""5-fold cross-validation of the fusion's knobs over the dev and the generated queries.

    python bench/cv_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]
                              [--generated bench/out/generated-queries.jsonl]

For each knob (one at a time, the others at their shipped values), every candidate value runs
the whole pipeline (`Searcher.ranking`) over all the queries once; then, for each of 5 folds,
the value with the best nDCG@10 on the other four is picked and scored on the fold. Printed per
knob: each value's nDCG@10 on all queries (dev and generated apart), the value each fold picked,
and the folds' held-out mean and spread, against the shipped value's on the same folds. A knob
whose folds pick different values, all within the spread, sits on a plateau. Slow (each value is
a pass over ~740 hybrid queries): a few minutes a knob.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from _common import DEFAULT_QUERIES, REPO

from search import DEFAULT_CONFIG, JudgedQuery, RankingConfig, Searcher, evaluate, load_queries

GENERATED = REPO / "bench" / "out" / "generated-queries.jsonl"


def _fusion(**changes: float) -> RankingConfig:
    named = ("e5", "bm25", "use", "bm25_fb")
    weights = {k: changes.pop(k) for k in list(changes) if k in named}
    fusion = replace(DEFAULT_CONFIG.fusion, **changes).with_weights(**weights)
    return replace(DEFAULT_CONFIG, fusion=fusion)


KNOBS: dict[str, dict[float, RankingConfig]] = {
    "use weight": {w: _fusion(use=w) for w in (0.2, 0.3, 0.4, 0.5, 0.6)},
    "bm25 weight": {w: _fusion(bm25=w) for w in (0.3, 0.4, 0.5, 0.6, 0.7)},
    "dense feedback": {w: _fusion(feedback=w) for w in (0.0, 0.2, 0.4, 0.6)},
    "lexical feedback": {w: _fusion(bm25_fb=w) for w in (0.0, 0.15, 0.3, 0.45)},
}
SHIPPED = {"use weight": 0.4, "bm25 weight": 0.5, "dense feedback": 0.4, "lexical feedback": 0.3}


def ndcg(queries: list[JudgedQuery], ranked: dict[str, list[int]]) -> float:
    return evaluate(queries, lambda q: ranked[q]).overall["ndcg@10"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--generated", type=Path, default=GENERATED)
    ap.add_argument("--knob", action="append", choices=list(KNOBS), help="only these knobs")
    args = ap.parse_args()
    dev = load_queries(args.queries)
    generated = load_queries(args.generated) if args.generated.is_file() else []
    queries = [*dev, *generated]
    rng = random.Random(7)
    order = list(range(len(queries)))
    rng.shuffle(order)
    folds = [[queries[i] for i in order[k::5]] for k in range(5)]
    s = Searcher.open(args.data_dir)
    for knob in args.knob or list(KNOBS):
        ranked = {}
        for value, config in KNOBS[knob].items():
            ranked[value] = {
                q.query: [d for d, _ in s.ranking(q.query, config=config)[1].ranked]
                for q in queries
            }
        print(f"\n{knob} (shipped {SHIPPED[knob]}): nDCG@10 dev / generated")
        for value in KNOBS[knob]:
            print(
                f"  {value:>5}: {ndcg(dev, ranked[value]):.4f} / "
                f"{ndcg(generated, ranked[value]):.4f}"
                if generated
                else f"  {value:>5}: {ndcg(dev, ranked[value]):.4f}"
            )
        held, shipped, picks = [], [], []
        for k, fold in enumerate(folds):
            train = [q for j, f in enumerate(folds) if j != k for q in f]
            best = max(KNOBS[knob], key=lambda v: ndcg(train, ranked[v]))
            picks.append(best)
            held.append(ndcg(fold, ranked[best]))
            shipped.append(ndcg(fold, ranked[SHIPPED[knob]]))
        print(
            f"  folds picked {picks}: held-out {statistics.mean(held):.4f} "
            f"({min(held):.4f}..{max(held):.4f}); shipped value on the same folds "
            f"{statistics.mean(shipped):.4f} ({min(shipped):.4f}..{max(shipped):.4f}); "
            f"all queries, shipped: {ndcg(queries, ranked[SHIPPED[knob]]):.4f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
