"""Grid over fusion strategies on judged queries, for choosing the hybrid default.

    python bench/tune_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

Each query's lexical and semantic lists (100 deep) are computed once; every fusion variant then
re-ranks those same lists, so the grid is cheap and the comparison is like for like.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from search import Searcher
from search.evaluate import evaluate, load_queries
from search.fusion import fuse_convex, fuse_rrf

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", default=str(ROOT.parent / "shared/eval/dev-queries.jsonl"))
    args = ap.parse_args()
    queries = load_queries(Path(args.queries))
    s = Searcher.open(args.data_dir)
    lists: dict[str, tuple[list[tuple[int, float]], list[tuple[int, float]]]] = {}
    for q in queries:
        lex = [(h.post_id, h.score) for h in s.search(q.query, limit=100, mode="lexical")]
        sem = [(h.post_id, h.score) for h in s.search(q.query, limit=100, mode="semantic")]
        lists[q.query] = (lex, sem)

    variants: dict[str, object] = {
        "lexical only": lambda lex, sem: lex,
        "semantic only": lambda lex, sem: sem,
    }
    for k in (10, 30, 60, 100):
        variants[f"rrf k={k}"] = lambda lex, sem, k=k: fuse_rrf([lex, sem], k=k)
    for w in (0.5, 1.5, 2.0):
        variants[f"rrf k=60 sem×{w}"] = lambda lex, sem, w=w: fuse_rrf(
            [lex, sem], k=60, weights=[1, w]
        )
    for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        variants[f"convex α={a}"] = lambda lex, sem, a=a: fuse_convex(lex, sem, a)

    rows = []
    for name, fuse in variants.items():
        res = evaluate(queries, lambda q, fuse=fuse: [d for d, _ in fuse(*lists[q])])  # type: ignore[operator]
        rows.append((name, res))
    types = list(rows[0][1].by_type)
    print(
        f"{'variant':<20} {'nDCG@10':>8} {'MRR@10':>7} {'R@10':>6} {'R@100':>6}  "
        + " ".join(f"{t[:9]:>9}" for t in types)
    )
    for name, res in rows:
        o = res.overall
        per = " ".join(f"{res.by_type[t]['ndcg@10']:>9.3f}" for t in types)
        print(
            f"{name:<20} {o['ndcg@10']:>8.3f} {o['mrr@10']:>7.3f} {o['recall@10']:>6.3f} {o['recall@100']:>6.3f}  {per}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
