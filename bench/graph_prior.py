"""Would a citation prior help? A post-hoc measurement for the ranking work (issue 21, item 4).

    python bench/graph_prior.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]

Each judged query's hybrid hits (100 deep, as `Searcher.search` ranks them) are re-ranked by
their min-max normalised score plus w x a prior: log(1 + in-degree) / log(1 + the largest
in-degree), or PageRank min-max normalised (search/graph.py). The hits and the floor are the
shipped pipeline's; only the order changes, so this bounds what a prior can do as a late
signal, not as a fused list. It also prints where `RoPE` ranks 8265, the post that introduced
it. The data directory needs its links (any `search index` run by this version adds them).

Measured on the shared corpus (e5 + USE, 60 dev queries, the one ranking pipeline), nDCG@10:
  in-degree w=0: 0.9069, 0.02: 0.9078, 0.05: 0.9084 (no type lower: variant 0.889 -> 0.902,
  english 0.849 -> 0.852, paraphrase, question +0.001), 0.1: 0.9067 (english 0.841), 0.2:
  0.8962; PageRank at most 0.9074 (w=0.1, question 0.846 -> 0.845). `RoPE`: 8265 from #6
  to #4 at any w >= 0.02, either prior. Run with PYTHONPATH=. from the checkout.
"""

from __future__ import annotations

import math

from _common import index_and_queries_args

from search import Searcher, evaluate, graph_of, load_queries

WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2)


def main() -> None:
    args = index_and_queries_args(__doc__)
    queries = load_queries(args.queries)
    with Searcher.open(args.data_dir) as s:
        s.warm_up()
        graph = graph_of(s)
        degree = graph.in_degree()
        top = math.log1p(max(degree.values(), default=1))
        rank = graph.pagerank()
        lo, hi = min(rank.values()), max(rank.values())
        priors = {
            "in-degree": {p: math.log1p(degree.get(p, 0)) / top for p in s.meta},
            "pagerank": {p: (rank[p] - lo) / ((hi - lo) or 1) for p in s.meta},
        }
        texts = [q.query for q in queries] + ["RoPE"]
        hits = {t: [(h.post_id, h.score) for h in s.search(t, limit=100)] for t in texts}

    def reranked(prior: dict[int, float], w: float, text: str) -> list[int]:
        found = hits[text]
        if not found:
            return []
        best, worst = max(sc for _, sc in found), min(sc for _, sc in found)
        span = (best - worst) or 1.0
        ordered = sorted(found, key=lambda h: -((h[1] - worst) / span + w * prior[h[0]]))
        return [p for p, _ in ordered]

    for name, prior in priors.items():
        for w in WEIGHTS:
            result = evaluate(queries, lambda text, p=prior, w=w: reranked(p, w, text))
            types = " ".join(f"{t} {m['ndcg@10']:.3f}" for t, m in sorted(result.by_type.items()))
            order = reranked(prior, w, "RoPE")
            where = order.index(8265) + 1 if 8265 in order else None
            print(f"{name:9} w={w:<4} nDCG@10 {result.overall['ndcg@10']:.4f} | {types} | "
                  f"RoPE: 8265 at #{where}")  # fmt: skip


if __name__ == "__main__":
    main()
