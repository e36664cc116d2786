"""Grid over fusion policies on judged queries, for choosing the hybrid default.

    python bench/tune_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

Each query's candidate lists (lexical, semantic and each extra model's, 100 deep, its exact
matches, and with feedback the lists searched again) come from `Searcher.candidates`, the very
lists `Searcher.search` fuses; every variant is a `FusionPolicy` ranking the lists that policy
itself fetched (feedback depends on its first fusion), so the grid tunes the code path that
ships. The script first checks that the default policy reproduces `search` exactly.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from _common import index_and_queries_args

from search import DEFAULT_FUSION, Candidates, FusionPolicy, Searcher, evaluate, load_queries
from search.relevance import Floor


def variants(extra: bool) -> dict[str, FusionPolicy | str]:
    """The two-list grid; with an ensemble index (`extra`), also the extra model alone and
    convex α × its weight w, and RRF with it as a third list."""
    grid: dict[str, FusionPolicy | str] = {"lexical only": "lexical", "semantic only": "semantic"}
    if extra:
        grid["extra model only"] = "extra"
    for k in (10, 30, 60, 100):
        grid[f"rrf k={k}"] = replace(DEFAULT_FUSION, method="rrf", rrf_k=k)
    for w in (0.5, 1.5, 2.0):
        grid[f"rrf k=60 sem×{w}"] = replace(
            DEFAULT_FUSION, method="rrf", rrf_k=60, rrf_weights=(1.0, w)
        )
    for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        grid[f"convex α={a}"] = replace(DEFAULT_FUSION, alpha=a)
    grid["default, no exact-first"] = replace(DEFAULT_FUSION, exact_first=False)
    grid["default, no feedback"] = replace(DEFAULT_FUSION, feedback=0.0)
    grid["default, no lexical feedback"] = replace(DEFAULT_FUSION, lexical_feedback=0.0)
    grid["default, no feedback at all"] = replace(
        DEFAULT_FUSION, feedback=0.0, lexical_feedback=0.0
    )
    for n in (2, 3, 4, 5):
        for t in (10, 20, 40):
            for w in (0.15, 0.25, 0.35, 0.5):
                grid[f"lexical feedback {n} posts {t} terms ×{w}"] = replace(
                    DEFAULT_FUSION,
                    lexical_feedback=w,
                    lexical_feedback_posts=n,
                    lexical_feedback_terms=t,
                )
    for n in (1, 2, 3, 5):
        for b in (0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
            grid[f"feedback {n} passages ×{b}"] = replace(
                DEFAULT_FUSION, feedback=b, feedback_passages=n
            )
    if extra:
        for a in (0.4, 0.5, 0.6, 0.7):
            for w in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
                grid[f"convex α={a} +extra w={w}"] = replace(
                    DEFAULT_FUSION, alpha=a, extra_weights=(w,)
                )
        for k in (30, 60):
            for w in (0.5, 1.0):
                grid[f"rrf k={k} +extra ×{w}"] = replace(
                    DEFAULT_FUSION, method="rrf", rrf_k=k, extra_weights=(w,)
                )
    return grid


def rank(
    found: Candidates, policy: FusionPolicy | str, floor: Floor | None = None, text: str = ""
) -> list[int]:
    """The ranking `policy` makes of these lists, cut by the relevance floor as `search` cuts
    every non-lexical ranking (the floor reads e5's list whatever ranked)."""
    if policy == "lexical":
        return [d for d, _ in found.lexical]
    if policy == "semantic":
        ranked = found.semantic_ranked
    elif policy == "extra":
        ranked = found.extra[0] if found.extra else []
    else:
        assert isinstance(policy, FusionPolicy)
        ranked = policy.rank(found)
    if floor is not None:
        ranked = floor.apply(ranked, found, text)
    return [d for d, _ in ranked]


def main() -> int:
    args = index_and_queries_args(__doc__)
    queries = load_queries(args.queries)
    s = Searcher.open(args.data_dir)
    texts = {q.query: s.parse(q.query).text for q in queries}

    def fetch(policy: FusionPolicy) -> dict[str, Candidates]:
        s.fusion = policy  # the lists a search with this policy fuses
        return {q.query: s.candidates(q.query) for q in queries}

    shipped_lists = fetch(DEFAULT_FUSION)
    for q in queries:  # the grid must tune what search() ships
        shipped = [h.post_id for h in s.search(q.query, limit=100, mode="hybrid")]
        if rank(shipped_lists[q.query], DEFAULT_FUSION, s.floor, texts[q.query])[:100] != shipped:
            sys.exit(f"tune_fusion: candidates do not reproduce search() for {q.query!r}")

    rows = []
    ensemble = any(found.extra for found in shipped_lists.values())
    for name, policy in variants(ensemble).items():
        lists = shipped_lists if isinstance(policy, str) else fetch(policy)
        res = evaluate(queries, lambda q, p=policy, f=lists: rank(f[q], p, s.floor, texts[q]))
        rows.append((name, res))
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
