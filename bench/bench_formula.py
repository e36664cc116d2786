"""Benchmark formula search against issue 20's speed targets.

    python bench/bench_formula.py --data-dir DIR [--corpus PATH] [--queries PATH] [--reps 5]

* Index time of the formula side against the lexical index: the whole BM25 index of the corpus
  is built into a temp folder twice (`LexicalIndex.update`, what `search index` runs), with the
  formula field and with it left empty; the difference is the formula side (scanning, tokens,
  Tantivy's postings). Target: ≤ 20% of the lexical index time without it. The scanner alone
  (`index.formula.body_tokens` over every post) is timed too. Each build is the best of `--reps`.
* A formula query's warm latency: `Searcher.search` over the judged formula queries (hybrid and
  lexical; one pass first so the query vectors, document frequencies and the shown posts'
  formulas are warm), p50 and p90 of `--reps` passes; and the formula list alone. Target: warm
  p50 ≤ 15 ms.

Prints numbers only: no assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

from corpus.post import Post
from corpus.readers import read_source
from index import lexical as lexical_module
from index.formula import body_tokens
from index.lexical import LexicalIndex
from search import Searcher, load_queries


def build_seconds(posts: list[Post], reps: int, *, formulas: bool) -> float:
    best = float("inf")
    for _ in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            index = LexicalIndex.open(Path(tmp) / "lexical", create=True)
            started = time.perf_counter()
            if formulas:
                index.update(posts)
            else:
                with mock.patch.object(lexical_module, "body_tokens", lambda body: []):
                    index.update(posts)
            best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    here = Path(__file__).resolve().parents[2] / "shared"
    ap.add_argument("--corpus", default=str(here / "corpus" / "kexue-posts.jsonl"))
    ap.add_argument("--queries", default=str(here / "eval" / "formula-dev.jsonl"))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    posts = [p for p in read_source(Path(args.corpus)) if isinstance(p, Post)]
    build_seconds(posts[:20], 1, formulas=True)  # jieba's dictionary, imports
    started = time.perf_counter()
    tokens = sum(len(body_tokens(p.body)) for p in posts)
    scan = time.perf_counter() - started
    without = build_seconds(posts, args.reps, formulas=False)
    with_formulas = build_seconds(posts, args.reps, formulas=True)
    side = with_formulas - without
    print(f"posts {len(posts)}, formula tokens {tokens:,}")
    print(f"lexical index without formulas {without:.2f} s, with {with_formulas:.2f} s")
    print(f"formula side {side:.2f} s = {side / without:.0%} of the lexical index (target ≤ 20%)")
    print(f"  of which the scanner alone {scan:.2f} s")

    queries = [q.query for q in load_queries(Path(args.queries))]
    with Searcher.open(args.data_dir) as s:
        if s.has_vectors:
            s.warm_up()
        for mode in ("lexical", "hybrid"):
            for q in queries:
                s.search(q, mode=mode)  # warm
            times = []
            for _ in range(args.reps):
                for q in queries:
                    started = time.perf_counter()
                    s.search(q, mode=mode)
                    times.append((time.perf_counter() - started) * 1000)
            p50 = statistics.median(times)
            p90 = statistics.quantiles(times, n=10)[-1]
            print(f"{mode:8} formula queries warm p50 {p50:.1f} ms, p90 {p90:.1f} ms (target ≤ 15)")
        retriever = s._formula_retriever()
        analysed = [s.analyse(q) for q in queries]
        times = []
        for _ in range(args.reps):
            for a in analysed:
                if a.formula is not None:
                    started = time.perf_counter()
                    retriever.search(a.formula, 100, s.config.formula)
                    times.append((time.perf_counter() - started) * 1000)
        print(f"formula list alone p50 {statistics.median(times):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
