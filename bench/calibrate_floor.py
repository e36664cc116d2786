"""Calibrate the relevance floor: which (semantic, lexical) evidence a hit needs.

    python bench/calibrate_floor.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

The floor (search/relevance.py) has a gate (the query's best semantic score), a band (how far
below the best a post's semantic score may be) and a lexical coverage that suffices alone. For
each setting on a grid this prints, from the very candidate lists that `Searcher.search`
fuses and with the same `Floor.apply`: the share of the out-of-domain queries in bench/data/ood-queries.txt
left with no hit (target >= 85%), the dev queries left with none (target 0) and dev hybrid
nDCG@10 (at most 0.005 below no floor) and the mean number of hits per dev query. Needs an
index with vectors.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from _common import index_and_queries_args

from search import Floor, Ranking, Searcher, evaluate, load_queries
from search.analysis import AnalyzedQuery

ROOT = Path(__file__).resolve().parents[1]
OOD = ROOT / "bench" / "data" / "ood-queries.txt"


def ood_queries(path: Path = OOD) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    return [q.strip() for q in lines if q.strip() and not q.startswith("#")]


def ranked(s: Searcher, found: tuple[AnalyzedQuery, Ranking], floor: Floor | None) -> list[int]:
    """The ranking's final fusion cut by `floor`, through the pipeline's own tail."""
    q, ranking = found
    config = replace(s.config, floor=floor)
    return [d for d, _ in s._pipeline(s.sides).finish(ranking, q, config).ranked]


def main() -> int:
    args = index_and_queries_args(__doc__)
    dev = load_queries(args.queries)
    ood = ood_queries()
    s = Searcher.open(args.data_dir)
    if not s.has_vectors:
        sys.exit(f"calibrate_floor: {args.data_dir} has no vectors")
    found = {q: s.ranking(q) for q in [*(d.query for d in dev), *ood]}
    base = evaluate(dev, lambda q: ranked(s, found[q], None)).overall["ndcg@10"]
    print(f"no floor: dev nDCG@10 {base:.4f}; {len(ood)} out-of-domain queries, {len(dev)} dev")
    print(
        f"{'gate':>6} {'latin':>6} {'band':>5} {'lexical':>7}  {'ood empty':>9} "
        f"{'dev empty':>9} {'nDCG@10':>8} {'delta':>7} {'hits':>5}"
    )
    for gate in (0.865, 0.87, 0.875, 0.88):
        for latin in (0.835, 0.845, 0.85):
            for band in (0.03, 0.04, 0.05):
                for lexical in (0.4, 0.5, 0.6):
                    floor = Floor(gate, latin, band, lexical)
                    lists = {q: ranked(s, found[q], floor) for q in found}
                    empty_ood = sum(not lists[q] for q in ood) / len(ood)
                    empty_dev = sum(not lists[d.query] for d in dev)
                    ndcg = evaluate(dev, lambda q: lists[q]).overall["ndcg@10"]  # noqa: B023
                    hits = sum(len(lists[d.query]) for d in dev) / len(dev)
                    print(
                        f"{gate:>6.3f} {latin:>6.3f} {band:>5.2f} {lexical:>7.2f}  "
                        f"{empty_ood:>9.0%} {empty_dev:>9} {ndcg:>8.4f} {ndcg - base:>+7.4f} "
                        f"{hits:>5.0f}"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
