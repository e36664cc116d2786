"""Benchmark formula search against issue 20's speed targets.

    python bench/bench_formula.py --data-dir DIR [--corpus PATH] [--queries PATH] [--reps 5]

* Index time of the formula side against the lexical index: the corpus is indexed with the
  formula field and with it left empty, the difference being the formula side (scanning,
  tokens, Tantivy's postings); as the BM25 index alone (`LexicalIndex.update`) and as the whole
  lexical `index.update` into a fresh data dir (store, BM25 index, glossary: what
  bench/bench_lexical.py calls the lexical index time). Target: ≤ 20% of the lexical index time.
  Wall and CPU time (this machine is shared: CPU time is the steadier), best of `--reps`. The
  scanner alone (`index.formula.body_tokens` over every post) is timed too.
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
from index import formula as formula_module
from index import lexical as lexical_module
from index.formula import body_tokens
from index.indexer import update
from index.lexical import LexicalIndex
from search import Searcher, load_queries


def build_seconds(posts: list[Post], *, formulas: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one build of the whole BM25 index into a temp folder."""
    formula_module._short.clear()  # each build scans from nothing
    with tempfile.TemporaryDirectory() as tmp:
        index = LexicalIndex.open(Path(tmp) / "lexical", create=True)
        wall, cpu = time.perf_counter(), time.process_time()
        if formulas:
            index.update(posts)
        else:
            with mock.patch.object(lexical_module, "body_tokens", lambda body: []):
                index.update(posts)
        return time.perf_counter() - wall, time.process_time() - cpu


def update_seconds(posts: list[Post], *, formulas: bool) -> tuple[float, float]:
    """Wall and CPU seconds of `index.update` into a fresh data dir, lexical only: what
    bench/bench_lexical.py calls the lexical index time (store, BM25 index, glossary)."""
    formula_module._short.clear()
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        if formulas:
            update(Path(tmp) / "data", posts, vectors=False)
        else:
            with mock.patch.object(lexical_module, "body_tokens", lambda body: []):
                update(Path(tmp) / "data", posts, vectors=False)
        return time.perf_counter() - wall, time.process_time() - cpu


def scanner_parts(posts: list[Post], reps: int = 3) -> dict[str, float]:
    """CPU seconds of the scanner's steps over every formula of `posts`, best of `reps`: where
    the formulas are (corpus.latex), their symbols, the n-grams of those (the formulas of
    over 40 characters, which are scanned anew; the short ones are kept), and the whole
    `body_tokens` (with the short ones' cache and the per-post counting)."""
    formulas = [p.body[a:b] for p in posts for a, b in formula_module.post_formulas(p.body)]
    long = [f for f in formulas if len(f) > formula_module._SHORT]
    symbols = [formula_module.symbols(f) for f in long]
    steps = {
        "finding formulas": lambda: [formula_module.post_formulas(p.body) for p in posts],
        "symbols (long)": lambda: [formula_module.symbols(f) for f in long],
        "n-grams (long)": lambda: [formula_module.tokens(s) for s in symbols],
        "body_tokens": lambda: [body_tokens(p.body) for p in posts],
    }
    best = {}
    for name, step in steps.items():
        times = []
        for _ in range(reps):
            formula_module._short.clear()
            started = time.process_time()
            step()
            times.append(time.process_time() - started)
        best[name] = min(times)
    return best


def latencies(s: Searcher, queries: list[str], mode: str, reps: int) -> list[float]:
    for q in queries:
        s.search(q, mode=mode)  # warm
    times = []
    for _ in range(reps):
        for q in queries:
            started = time.perf_counter()
            s.search(q, mode=mode)
            times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    here = Path(__file__).resolve().parents[2] / "shared"
    ap.add_argument("--corpus", default=str(here / "corpus" / "kexue-posts.jsonl"))
    ap.add_argument("--queries", default=str(here / "eval" / "formula-dev.jsonl"))
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    posts = [p for p in read_source(Path(args.corpus)) if isinstance(p, Post)]
    build_seconds(posts[:20], formulas=True)  # jieba's dictionary, imports
    started = time.perf_counter()
    tokens = sum(len(body_tokens(p.body)) for p in posts)
    scan = time.perf_counter() - started
    parts = scanner_parts(posts)
    # Builds alternate, so a busy moment of this shared machine falls on both; best of each.
    for name, build in (("BM25 index alone", build_seconds), ("index.update", update_seconds)):
        runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(args.reps):
            for formulas in (False, True):
                runs[formulas].append(build(posts, formulas=formulas))
        wall0, wall1 = (min(w for w, _ in runs[f]) for f in (False, True))
        cpu0, cpu1 = (min(c for _, c in runs[f]) for f in (False, True))
        print(
            f"{name}: without formulas {wall0:.2f} s wall / {cpu0:.2f} s CPU, with "
            f"{wall1:.2f} s / {cpu1:.2f} s: the formula side {wall1 - wall0:.2f} s wall = "
            f"{(wall1 - wall0) / wall0:.0%}, {cpu1 - cpu0:.2f} s CPU = {(cpu1 - cpu0) / cpu0:.0%}"
            " (target ≤ 20%)"
        )
    print(
        f"posts {len(posts)}, formula tokens {tokens:,}; the scanner alone {scan:.2f} s ("
        + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())
        + ", CPU, best of 3)"
    )

    queries = [q.query for q in load_queries(Path(args.queries))]
    with Searcher.open(args.data_dir) as s:
        modes = ["lexical"]
        if s.has_vectors:
            s.warm_up()
            modes.append("hybrid")
        for mode in modes:
            times = latencies(s, queries, mode, args.reps)
            # The same queries as they ranked before: no formula part, so no formula list.
            with mock.patch("search.analysis.formula_query", lambda text: None):
                before = latencies(s, queries, mode, args.reps)
            print(
                f"{mode:8} formula queries warm p50 {statistics.median(times):.1f} ms "
                f"(p90 {statistics.quantiles(times, n=10)[-1]:.1f}; target ≤ 15); "
                f"without the formula list {statistics.median(before):.1f} ms"
            )
        retriever = s._formula_retriever()
        analysed = [s.analyse(q) for q in queries]
        times = []
        for _ in range(args.reps):
            for a in analysed:
                if a.formula is not None:
                    started = time.perf_counter()
                    retriever.search(a.formula, 100, s.config.formula)
                    times.append((time.perf_counter() - started) * 1000)
        print(f"the formula list alone p50 {statistics.median(times):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
