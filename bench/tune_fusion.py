"""Grid over fusion policies on judged queries, for choosing the hybrid default.

    python bench/tune_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

Every variant is a `RankingConfig` that `Searcher.ranking` runs through the pipeline that ships
(search/pipeline.py), feedback rounds included (they depend on the first fusion); the
single-list rows rank one named list through the pipeline's own tail (`Pipeline.finish`). The
script first checks that the default configuration reproduces `search` exactly.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from _common import index_and_queries_args

from search import DEFAULT_CONFIG, RankingConfig, Searcher, evaluate, load_queries

Variant = RankingConfig | str  # a configuration, or the name of one list ranked alone


def _fusion(**changes) -> RankingConfig:
    named = ("e5", "bm25", "use", "bm25_fb", "cited")
    weights = {k: changes.pop(k) for k in list(changes) if k in named}
    fusion = replace(DEFAULT_CONFIG.fusion, **changes).with_weights(**weights)
    return replace(DEFAULT_CONFIG, fusion=fusion)


def variants(models: list[str]) -> dict[str, Variant]:
    """Each list alone, RRF, the convex weights, and each feedback round's grid."""
    grid: dict[str, Variant] = {f"{name} only": name for name in ["bm25", *models]}
    for k in (10, 30, 60, 100):
        grid[f"rrf k={k}"] = _fusion(method="rrf", rrf_k=k)
    for a in (0.3, 0.4, 0.5, 0.6, 0.7):
        grid[f"convex e5={a} bm25={1 - a:.1f}"] = _fusion(e5=a, bm25=1 - a)
    grid["default, no exact-first"] = _fusion(exact_first=False)
    grid["default, no dense feedback"] = _fusion(feedback=0.0)
    grid["default, no lexical feedback"] = _fusion(bm25_fb=0.0)
    grid["default, no feedback at all"] = _fusion(feedback=0.0, bm25_fb=0.0)
    for w in (0.025, 0.05, 0.1):
        grid[f"citations ×{w}"] = _fusion(cited=w)
    for n in (2, 3, 4, 5):
        for t in (10, 20, 40):
            for w in (0.15, 0.25, 0.35, 0.5):
                grid[f"lexical feedback {n} posts {t} terms ×{w}"] = _fusion(
                    bm25_fb=w, lexical_feedback_posts=n, lexical_feedback_terms=t
                )
    for n in (1, 2, 3, 5):
        for b in (0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
            grid[f"feedback {n} passages ×{b}"] = _fusion(feedback=b, feedback_passages=n)
    if "use" in models:
        for a in (0.4, 0.5, 0.6, 0.7):
            for w in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
                grid[f"convex e5={a} +use w={w}"] = _fusion(e5=a, bm25=1 - a, use=w)
    return grid


def main() -> int:
    args = index_and_queries_args(__doc__)
    queries = load_queries(args.queries)
    s = Searcher.open(args.data_dir)
    shipped = {q.query: s.ranking(q.query) for q in queries}
    for q in queries:  # the grid must tune what search() ships
        ranked = [h.post_id for h in s.search(q.query, limit=100, mode="hybrid")]
        if [d for d, _ in shipped[q.query][1].ranked][:100] != ranked:
            sys.exit(f"tune_fusion: the pipeline does not reproduce search() for {q.query!r}")
    pipeline = s._pipeline(s.sides)

    def rank(query: str, variant: Variant) -> list[int]:
        analysed, ranking = shipped[query]
        if isinstance(variant, str):  # one list, cut by the floor as every ranking is
            if variant == "bm25":
                return ranking.lists["bm25"].ids()
            ranking = pipeline.finish(replace(ranking, final=(variant,)), analysed)
        else:
            ranking = s.ranking(query, config=variant)[1]
        return [d for d, _ in ranking.ranked]

    rows = []
    for name, variant in variants([side.name for side in s.sides]).items():
        rows.append((name, evaluate(queries, lambda q, v=variant: rank(q, v))))
    types = list(rows[0][1].by_type)
    print(
        f"{'variant':<40} {'nDCG@10':>8} {'MRR@10':>7} {'R@10':>6} {'R@100':>6}  "
        + " ".join(f"{t[:9]:>9}" for t in types)
    )
    for name, res in rows:
        o = res.overall
        per = " ".join(f"{res.by_type[t]['ndcg@10']:>9.3f}" for t in types)
        print(
            f"{name:<40} {o['ndcg@10']:>8.3f} {o['mrr@10']:>7.3f} {o['recall@10']:>6.3f} {o['recall@100']:>6.3f}  {per}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
