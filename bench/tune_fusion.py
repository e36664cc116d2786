"""Grid over fusion policies on judged queries, for choosing the hybrid default.

    python bench/tune_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

Each query's candidate lists (lexical and semantic, 100 deep, and its exact matches) come from
`Searcher.candidates`, the very lists `Searcher.search` fuses; every variant is a
`FusionPolicy` ranking those same lists, so the grid is cheap, like for like, and tunes the code
path that ships. The script first checks that the default policy reproduces `search` exactly.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from search import DEFAULT_FUSION, Candidates, FusionPolicy, Searcher, evaluate, load_queries

ROOT = Path(__file__).resolve().parents[1]


def variants() -> dict[str, FusionPolicy | str]:
    grid: dict[str, FusionPolicy | str] = {"lexical only": "lexical", "semantic only": "semantic"}
    for k in (10, 30, 60, 100):
        grid[f"rrf k={k}"] = FusionPolicy(method="rrf", rrf_k=k)
    for w in (0.5, 1.5, 2.0):
        grid[f"rrf k=60 sem×{w}"] = FusionPolicy(method="rrf", rrf_k=60, rrf_weights=(1.0, w))
    for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        grid[f"convex α={a}"] = FusionPolicy(method="convex", alpha=a)
    grid["convex α=0.5, no exact-first"] = replace(DEFAULT_FUSION, exact_first=False)
    return grid


def rank(found: Candidates, policy: FusionPolicy | str) -> list[int]:
    if policy == "lexical":
        return [d for d, _ in found.lexical]
    if policy == "semantic":
        return [d for d, _ in found.semantic_ranked]
    assert isinstance(policy, FusionPolicy)
    return [d for d, _ in policy.fuse(found.lexical, found.semantic_ranked, found.exact)]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", default=str(ROOT.parent / "shared/eval/dev-queries.jsonl"))
    args = ap.parse_args()
    queries = load_queries(Path(args.queries))
    s = Searcher.open(args.data_dir)
    lists = {q.query: s.candidates(q.query) for q in queries}
    for q in queries:  # the grid must tune what search() ships
        shipped = [h.post_id for h in s.search(q.query, limit=100, mode="hybrid")]
        if rank(lists[q.query], s.fusion)[:100] != shipped:
            sys.exit(f"tune_fusion: candidates do not reproduce search() for {q.query!r}")

    rows = []
    for name, policy in variants().items():
        res = evaluate(queries, lambda q, policy=policy: rank(lists[q], policy))
        rows.append((name, res))
    types = list(rows[0][1].by_type)
    print(
        f"{'variant':<30} {'nDCG@10':>8} {'MRR@10':>7} {'R@10':>6} {'R@100':>6}  "
        + " ".join(f"{t[:9]:>9}" for t in types)
    )
    for name, res in rows:
        o = res.overall
        per = " ".join(f"{res.by_type[t]['ndcg@10']:>9.3f}" for t in types)
        print(
            f"{name:<30} {o['ndcg@10']:>8.3f} {o['mrr@10']:>7.3f} {o['recall@10']:>6.3f} {o['recall@100']:>6.3f}  {per}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
