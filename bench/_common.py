"""Helpers shared by the benchmarks in bench/: paths, timing summaries, sizes, memory."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEFAULT_CORPUS = SHARED / "corpus" / "kexue-posts.jsonl"
DEFAULT_QUERIES = SHARED / "eval" / "dev-queries.jsonl"


def require_file(path: Path, what: str) -> Path:
    """The path if it is a file; otherwise exit with a one-line message."""
    if not path.is_file():
        sys.exit(f"bench: {what} not found at {path} (pass another with --{what} PATH)")
    return path


def timed_ms(fn: Callable[[], object]) -> float:
    """Wall time of one call, in milliseconds."""
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000.0


def summary(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and mean of latency samples (ms), with the sample count."""
    arr = np.asarray(samples_ms, dtype=float)
    if arr.size == 0:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "mean": float("nan")}
    return {
        "n": int(arr.size),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
    }


def tree_size(path: Path) -> int:
    """Bytes in a file or in every file under a folder (0 when it is missing)."""
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return 0


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def index_and_queries_args(doc: str | None) -> argparse.Namespace:
    """`--data-dir DIR` (required) and `--queries PATH` (the dev set): what the tuning
    scripts that re-rank one index's candidates take."""
    ap = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    return ap.parse_args()


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `search ARGS` in-process: (exit status, stdout, stderr). An exception escaping
    `main` is re-raised: that is a traceback a user would have seen."""
    import contextlib
    import io

    from search import cli

    out, err = io.StringIO(), io.StringIO()
    old = sys.argv
    sys.argv = ["search", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    return code, out.getvalue(), err.getvalue()


def warm_searcher(data: Path):
    """A Searcher over `data` whose models keep no query cache (every query embedded afresh,
    as a new query would be), loaded; use it in a `with`."""
    from index.models import Embedder
    from index.reader import IndexReader
    from search import Searcher

    reader = IndexReader.open(data)  # only to learn the models
    fresh = {spec.key: Embedder(spec, query_cache=0) for spec in reader.models}
    reader.close()
    searcher = Searcher.open(data, embedders=fresh)
    searcher.warm_up()
    return searcher


def mode_times_ms(searcher, texts: Sequence[str], mode: str, passes: int) -> list[float]:
    """Each search's ms over `passes` passes of `texts` in `mode` (limit 10), after five
    untimed ones."""
    for q in texts[:5]:
        searcher.search(q, mode=mode)
    times = []
    for _ in range(passes):
        for q in texts:
            started = time.perf_counter()
            searcher.search(q, limit=10, mode=mode)
            times.append((time.perf_counter() - started) * 1000)
    return times
