"""Benchmark formula search against issue 20's speed targets.

    python bench/bench_formula.py --data-dir DIR [--corpus PATH] [--queries PATH] [--reps 3]
        [--against OTHER/index/formula.py]

* Index time of the formula side against the lexical index: the corpus is indexed with the
  formula field and with it left empty, the difference being the formula side (scanning,
  tokens, Tantivy's postings); as the BM25 index alone (`LexicalIndex.update`) and as the whole
  lexical `index.update` into a fresh data dir (store, BM25 index, glossary: what
  bench/bench_lexical.py calls the lexical index time, so the issue's target is the
  `index.update` line: formula side / lexical index time ≤ 20%; the BM25 line is stricter).
  Wall and CPU time (this machine is shared: CPU time is the steadier), best of `--reps`. The
  `worker` row is the code as `search index` runs it, the formula fields made in a worker
  process on the other core (its CPU is not counted: compare wall time there); the `this` row
  makes them in-process, the CPU the formula side costs in all. The scanner alone (`index.formula.body_tokens` over every post) is timed too, from cold caches.
* `--against` another checkout's `index/formula.py` (the baseline, e.g. main's): its tokens
  must be the same for every post (as multisets: the order of a post's tokens never mattered,
  the field keeps no positions), and its scanner and formula side are timed in the same run,
  builds alternating, so the two share this machine's busy moments.
* A formula query's warm latency: `Searcher.search` over the judged formula queries (hybrid and
  lexical; one pass first so the query vectors, document frequencies and the shown posts'
  formulas are warm), p50 and p90 of `--reps` passes; and the formula list alone. Target: warm
  p50 ≤ 15 ms.

Prints numbers (and exits 1 when `--against` gives other tokens); no other assertion.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from unittest import mock

from corpus.post import Post
from corpus.readers import read_source
from index import formula as formula_module
from index import lexical as lexical_module
from index.formula import body_tokens
from index.indexer import update
from index.lexical import LexicalIndex
from search import Searcher, load_queries


def load_module(path: Path) -> ModuleType:
    """Another checkout's index/formula.py, as its own module (its imports resolve here)."""
    spec = importlib.util.spec_from_file_location(f"formula_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        sys.exit(f"bench_formula: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cold(module: ModuleType) -> None:
    """Each build scans from nothing: the module's caches emptied (the old one kept `_short`)."""
    if hasattr(module, "_reset"):
        module._reset()
    else:
        module._short.clear()
        module._ROLES.clear()


WORKER = "worker"  # this code as `search index` runs it: the formula fields in a worker process


@contextmanager
def formula_side(module: ModuleType | str | None) -> Iterator[None]:
    """Builds inside make the formula field with `module`'s tokens in this process (None: the
    field left empty), or with WORKER as the indexer does (in a worker process past
    FORMULA_WORKER_FROM posts: its CPU time is not this process's)."""
    if module == WORKER:
        cold(formula_module)
        yield
        return
    tokens = (lambda body: []) if module is None else module.body_tokens
    if module is not None:
        cold(module)
    with (
        mock.patch.object(lexical_module, "body_tokens", tokens),
        mock.patch.object(lexical_module, "FORMULA_WORKER_FROM", 10**9),
    ):
        yield


def build_seconds(posts: list[Post], module: ModuleType | str | None) -> tuple[float, float]:
    """Wall and CPU seconds of one build of the whole BM25 index into a temp folder."""
    with tempfile.TemporaryDirectory() as tmp, formula_side(module):
        index = LexicalIndex.open(Path(tmp) / "lexical", create=True)
        wall, cpu = time.perf_counter(), time.process_time()
        index.update(posts)
        return time.perf_counter() - wall, time.process_time() - cpu


def update_seconds(posts: list[Post], module: ModuleType | str | None) -> tuple[float, float]:
    """Wall and CPU seconds of `index.update` into a fresh data dir, lexical only: what
    bench/bench_lexical.py calls the lexical index time (store, BM25 index, glossary)."""
    with tempfile.TemporaryDirectory() as tmp, formula_side(module):
        wall, cpu = time.perf_counter(), time.process_time()
        update(Path(tmp) / "data", posts, vectors=False)
        return time.perf_counter() - wall, time.process_time() - cpu


def scanner_parts(posts: list[Post], module: ModuleType, reps: int = 3) -> dict[str, float]:
    """CPU seconds of the scanner's steps over every formula of `posts`, best of `reps`, from
    cold caches: where the formulas are (corpus.latex), the symbols of each distinct one, and
    the whole `body_tokens` (symbols, n-grams, counting)."""
    distinct = list(
        dict.fromkeys(p.body[a:b] for p in posts for a, b in module.post_formulas(p.body))
    )
    steps = {
        "finding formulas": lambda: [module.post_formulas(p.body) for p in posts],
        "symbols": lambda: [module.symbols(f) for f in distinct],
        "body_tokens": lambda: [module.body_tokens(p.body) for p in posts],
    }
    best = {}
    for name, step in steps.items():
        times = []
        for _ in range(reps):
            cold(module)
            started = time.process_time()
            step()
            times.append(time.process_time() - started)
        best[name] = min(times)
    return best


def same_tokens(posts: list[Post], one: ModuleType, other: ModuleType) -> int:
    """How many posts' formula tokens differ between two modules (as multisets)."""
    return sum(
        Counter(one.body_tokens(p.body)) != Counter(other.body_tokens(p.body)) for p in posts
    )


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
    ap.add_argument("--against", help="another checkout's index/formula.py, timed beside")
    args = ap.parse_args()

    posts = [p for p in read_source(Path(args.corpus)) if isinstance(p, Post)]
    modules = {"this": formula_module}
    if args.against:
        modules["against"] = load_module(Path(args.against))
        differing = same_tokens(posts, formula_module, modules["against"])
        print(f"tokens against {args.against}: {differing} of {len(posts)} posts differ")
    build_seconds(posts[:20], formula_module)  # jieba's dictionary, imports
    cold(formula_module)
    started = time.perf_counter()
    tokens = sum(len(body_tokens(p.body)) for p in posts)
    scan = time.perf_counter() - started
    print(f"posts {len(posts)}, formula tokens {tokens:,}; the scanner alone {scan:.2f} s wall")
    for label, module in modules.items():
        parts = scanner_parts(posts, module)
        print(f"  {label:7} " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items()) + " (CPU)")
    # Builds alternate, so a busy moment of this shared machine falls on each; best of each.
    for name, build in (("BM25 index alone", build_seconds), ("index.update", update_seconds)):
        sides: dict[str, ModuleType | str | None] = {"without": None, WORKER: WORKER, **modules}
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
        for _ in range(args.reps):
            for label in runs:
                runs[label].append(build(posts, sides[label]))
        wall0, cpu0 = (min(x[i] for x in runs["without"]) for i in (0, 1))
        print(f"{name}: without formulas {wall0:.2f} s wall / {cpu0:.2f} s CPU")
        for label in (WORKER, *modules):
            wall1, cpu1 = (min(x[i] for x in runs[label]) for i in (0, 1))
            print(
                f"  {label:7} with {wall1:.2f} s / {cpu1:.2f} s: the formula side "
                f"{wall1 - wall0:.2f} s wall = {(wall1 - wall0) / wall0:.0%}, "
                f"{cpu1 - cpu0:.2f} s CPU = {(cpu1 - cpu0) / cpu0:.0%} (target ≤ 20%)"
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
    return 1 if args.against and differing else 0


if __name__ == "__main__":
    sys.exit(main())
