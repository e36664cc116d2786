"""Calibrate the relevance floor: which evidence makes a query about the archive, which a hit.

    python bench/calibrate_floor.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]
                                    [--generated bench/out/generated-queries.jsonl]

The floor (search/relevance.py) has a gate per script (a Chinese query: e5's best score; a Latin
one: e5's best plus a share of USE's), a lexical coverage that makes a query about the archive
on its own, a coverage that makes a post a hit, and a band below the best score. Every query's
ranking comes once from the pipeline that ships (`Searcher.ranking`); each setting is applied
with the pipeline's own tail (`Pipeline.finish`). For each setting on a grid this prints: the
share of the out-of-domain queries (bench/data/ood-queries.txt) left with no hit (target >= 90%),
the in-domain queries (dev, and the generated set of bench/make_queries.py when present) left
with none (target 0), dev hybrid nDCG@10, and the lowest margin over the query types of hybrid
Recall@100 over lexical's (target >= 0). Then a 5-fold cross-validation of the gates: each fold
picks the highest gates that empty no in-domain query of the other folds, and is scored on its
own.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
from dataclasses import replace
from pathlib import Path

from _common import DEFAULT_QUERIES, REPO
from _qcache import persist_query_vectors

from search import DEFAULT_CONFIG, Floor, Searcher, evaluate, load_queries

OOD = REPO / "bench" / "data" / "ood-queries.txt"
GENERATED = REPO / "bench" / "out" / "generated-queries.jsonl"


def ood_queries(path: Path = OOD) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    return [q.strip() for q in lines if q.strip() and not q.startswith("#")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--generated", type=Path, default=GENERATED)
    args = ap.parse_args()
    dev = load_queries(args.queries)
    generated = load_queries(args.generated) if args.generated.is_file() else []
    ood = ood_queries()
    s = Searcher.open(args.data_dir)
    if not s.has_vectors:
        sys.exit(f"calibrate_floor: {args.data_dir} has no vectors")
    persist_query_vectors(s)
    inside = [q.query for q in [*dev, *generated]]
    found = {q: s.ranking(q) for q in dict.fromkeys([*inside, *ood])}
    pipeline = s._pipeline(s.sides)

    def ranked(query: str, floor: Floor | None) -> list[int]:
        config = replace(DEFAULT_CONFIG, floor=floor)
        q, ranking = found[query]
        return [d for d, _ in pipeline.finish(ranking, q, config).ranked]

    lexical = evaluate(dev, lambda q: found[q][1].lists["bm25"].ids()).by_type
    base = evaluate(dev, lambda q: ranked(q, None)).overall["ndcg@10"]
    print(
        f"no floor: dev nDCG@10 {base:.4f}; {len(ood)} out-of-domain queries, {len(dev)} dev, "
        f"{len(generated)} generated"
    )
    print(
        f"{'gate':>6} {'latin2':>6} {'lexical':>7} {'hit':>5}  {'ood empty':>9} {'in empty':>8} "
        f"{'nDCG@10':>8} {'R@100-lex':>9} {'hits':>5}"
    )
    grid = itertools.product((0.875, 0.88, 0.885), (0.91, 0.92, 0.93), (0.5, 0.6, 0.7), (0.2, 0.5))
    for gate, pair, lex, hit in grid:
        floor = replace(Floor(), gate=gate, gate_latin_pair=pair, lexical=lex, hit_coverage=hit)
        lists = {q: ranked(q, floor) for q in found}
        empty_ood = sum(not lists[q] for q in ood) / len(ood)
        empty_in = sum(not lists[q] for q in inside)
        res = evaluate(dev, lambda q: lists[q])  # noqa: B023
        margin = min(res.by_type[t]["recall@100"] - lexical[t]["recall@100"] for t in lexical)
        hits = sum(len(lists[d.query]) for d in dev) / len(dev)
        print(
            f"{gate:>6.3f} {pair:>6.3f} {lex:>7.2f} {hit:>5.2f}  {empty_ood:>9.1%} {empty_in:>8} "
            f"{res.overall['ndcg@10']:>8.4f} {margin:>+9.3f} {hits:>5.0f}"
        )
    cross_validate(s, found, inside, ood)
    return 0


def cross_validate(s: Searcher, found: dict, inside: list[str], ood: list[str]) -> None:
    """5 folds over in-domain and out-of-domain queries: on four, the highest gates (of a fine
    grid) that empty no in-domain query; on the fifth, the share of its out-of-domain queries
    they empty and its in-domain queries they empty."""
    floor = Floor()

    def scores(query: str) -> tuple[bool, float, bool]:
        q, ranking = found[query]
        report = floor.report(ranking.evidence, q.cjk)
        covered = any(c >= floor.lexical for c in ranking.evidence.coverage.values())
        return q.cjk, report.score, covered or bool(ranking.evidence.exact)

    rng = random.Random(7)
    rows = [(q, True) for q in inside] + [(q, False) for q in ood]
    rng.shuffle(rows)
    folds = [rows[i::5] for i in range(5)]
    print("\n5-fold cross-validation of the gates (highest gate emptying no in-domain query):")
    chosen = []
    for i, test in enumerate(folds):
        train = [r for j, f in enumerate(folds) if j != i for r in f]
        picks = {}
        for cjk in (True, False):
            need = [scores(q)[1] for q, inside_q in train if inside_q and scores(q)[0] == cjk
                    and not scores(q)[2]]  # fmt: skip
            picks[cjk] = round(min(need, default=1.0) - 0.0005, 3)
        chosen.append(picks)
        empty_ood = [
            scores(q)[1] < picks[scores(q)[0]] and not scores(q)[2] for q, ins in test if not ins
        ]
        empty_in = sum(
            scores(q)[1] < picks[scores(q)[0]] and not scores(q)[2] for q, ins in test if ins
        )
        print(
            f"  fold {i + 1}: gate {picks[True]:.3f} (Chinese), {picks[False]:.3f} (Latin, pair); "
            f"held-out out-of-domain empty {sum(empty_ood) / max(len(empty_ood), 1):.1%}, "
            f"in-domain empty {empty_in}"
        )
    for cjk, name in ((True, "Chinese"), (False, "Latin pair")):
        values = [c[cjk] for c in chosen]
        print(f"  {name}: mean {sum(values) / 5:.3f}, spread {min(values):.3f}..{max(values):.3f}")


if __name__ == "__main__":
    sys.exit(main())
