"""Load and faults for `search serve`: many clients at once while `search index` commits a post.

What is measured, and why:

* The server runs in its own process (`search.server.serve`, as `search serve` runs it) on a
  loopback port, over a copy of the data directory (the original is never written to); the
  load is measured only once the embedding model is ready, so hybrid requests are hybrid.
* `--clients` concurrent clients (16) for `--seconds` (30), after `--warmup` seconds (5) of
  the same load that are measured apart: a server just started has no answers kept, and 16
  clients asking at once for what it has never computed is its cold start, not its steady
  state (the warm-up's hybrid p50/p99 are printed on their own line). Each client has its own
  keep-alive connection, each sending its next request when the last one is answered, after
  `--think-ms` (0: a closed loop, the heaviest load those clients can make). The mix: searches
  of the dev queries (hybrid 35%, lexical 25%), `GET /posts/{id}` (20%, and 5% with
  `format=html`, the page's reader), `/posts/{id}/similar` (5%) and `POST /embed` of 1-4 dev
  queries (10%).
* At `--index-at` seconds into the measured run, `search index` (the CLI, in a subprocess, with vectors) adds one new
  post and commits. A watcher asks every 100 ms for the post's title, lexically and
  semantically, and reports when each first finds it.
* Printed: requests/s, p50/p95/p99/max per endpoint, failed requests (anything but a 200, or a
  transport error: the target is 0), hybrid requests answered otherwise, and the visibility
  times. Targets on a 2-core machine: hybrid p50 <= 40 ms, p99 <= 200 ms, 0 failed requests.

    .venv/bin/python bench/bench_serve.py --data-dir DIR [--seconds 30] [--warmup 5]
        [--clients 16] [--think-ms 0] [--index-at 10] [--server-cache N] [--queries PATH]
        [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import DEFAULT_QUERIES, REPO, require_file

# The request mix, as (endpoint label, weight in %).
MIX = (
    ("search hybrid", 35),
    ("search lexical", 25),
    ("posts/{id}", 20),
    ("posts/{id} html", 5),
    ("similar", 5),
    ("embed", 10),
)
NEW_POST_ID = 99_000_001  # far past the archive's numbers
NEW_TITLE = "基准测试新文章：量子退火中的隧穿与绝热演化"
WATCH_EVERY = 0.1  # seconds between the watcher's look-ups for the new post
READY_TIMEOUT = 120  # seconds the model may take to load on a busy machine


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    started: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    t0: float = field(default_factory=time.monotonic)  # when the measured run began
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    fallbacks: int = 0
    warmup_hybrid: list[float] = field(default_factory=list)  # ms, before t0


def copy_data(source: Path, into: Path) -> Path:
    target = into / "data"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("write.lock"))
    return target


def start_server(data: Path, cache: int | None, log: Path) -> tuple[subprocess.Popen, str]:
    code = (
        "import sys, json; from search.server import serve; "
        "serve(sys.argv[1], port=0, cache=json.loads(sys.argv[2]), "
        "say=lambda m: print(m, flush=True))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", code, str(data), json.dumps(cache)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"http://[\d.]+:\d+", line)
    if not found:
        proc.kill()
        sys.exit(f"bench: the server did not start ({line.strip() or 'no output'})")
    return proc, found.group(0)


def wait_ready(base: str) -> float:
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=10) as c:
        while time.monotonic() - started < READY_TIMEOUT:
            health = c.get("/healthz").json()
            if health["semantic"]:
                return time.monotonic() - started
            if health["model_state"] == "failed":
                sys.exit("bench: the embedding model failed to load in the server")
            time.sleep(0.2)
    sys.exit(f"bench: the model was not ready after {READY_TIMEOUT} s")


def request_for(kind: str, rng: random.Random, queries: list[str], ids: list[int]):
    if kind.startswith("search"):
        mode = kind.split()[1]
        return "GET", "/search", {"params": {"q": rng.choice(queries), "mode": mode}}
    if kind == "posts/{id}":
        return "GET", f"/posts/{rng.choice(ids)}", {}
    if kind == "posts/{id} html":
        return "GET", f"/posts/{rng.choice(ids)}", {"params": {"format": "html"}}
    if kind == "similar":
        return "GET", f"/posts/{rng.choice(ids)}/similar", {}
    texts = rng.sample(queries, rng.randint(1, 4))
    return "POST", "/embed", {"json": {"texts": texts, "kind": "query"}}


async def client(
    n: int, base: str, until: float, think: float, tally: Tally, queries: list[str], ids: list[int]
) -> None:
    rng = random.Random(n)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.monotonic() < until:
            kind = rng.choices(kinds, weights)[0]
            method, path, kw = request_for(kind, rng, queries, ids)
            started = time.perf_counter()
            at = time.monotonic() - tally.t0
            try:
                r = await http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                tally.failures[kind].append(f"{type(exc).__name__}: {exc}")
                continue
            took = (time.perf_counter() - started) * 1000
            if at < 0:  # the warm-up: failures count, latencies are kept apart
                if kind == "search hybrid":
                    tally.warmup_hybrid.append(took)
            else:
                tally.latencies[kind].append(took)
                tally.started[kind].append(at)
            if r.status_code != 200:
                tally.failures[kind].append(f"{r.status_code} {r.text[:200]}")
            elif kind == "search hybrid" and r.json()["mode"] != "hybrid":
                tally.fallbacks += 1
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))


def write_post(folder: Path) -> Path:
    path = folder / "new-post.jsonl"
    post = {
        "id": NEW_POST_ID,
        "title": NEW_TITLE,
        "date": "2026-01-01",
        "category": "数学研究",
        "tags": ["量子退火", "优化"],
        "body": "量子退火借助量子隧穿跳出局部极小，绝热演化保证系统停留在基态。\n\n"
        "$$H(t) = (1-s(t))H_0 + s(t)H_1$$\n\n演化足够慢时，末态就是 $H_1$ 的基态。",
    }
    path.write_text(json.dumps(post, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


async def index_and_watch(
    base: str, data: Path, post_file: Path, at: float, started: float, events: dict
) -> None:
    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
    cmd = [sys.executable, "-c", "from search.cli import main; main()", "--data-dir", str(data)]
    events["index started"] = time.monotonic() - started
    proc = await asyncio.create_subprocess_exec(
        *cmd, "-q", "index", str(post_file),
        cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip

    async def wait_index() -> None:
        _, err = await proc.communicate()
        events["index finished"] = time.monotonic() - started
        if proc.returncode:
            events["index error"] = err.decode(errors="replace").strip()

    async def watch(mode: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while f"visible {mode}" not in events and time.monotonic() - started < at + 60:
                r = await http.get("/search", params={"q": NEW_TITLE, "mode": mode, "limit": 3})
                if r.status_code == 200 and any(
                    h["post_id"] == NEW_POST_ID for h in r.json()["hits"]
                ):
                    events[f"visible {mode}"] = time.monotonic() - started
                    return
                await asyncio.sleep(WATCH_EVERY)

    await asyncio.gather(wait_index(), watch("lexical"), watch("semantic"))


async def load(args, base: str, data: Path, queries: list[str], ids: list[int], tmp: Path):
    started = time.monotonic() + args.warmup  # the measured run
    tally = Tally(t0=started)
    events: dict = {}
    until = started + args.seconds
    think = args.think_ms / 1000
    tasks = [client(n, base, until, think, tally, queries, ids) for n in range(args.clients)]
    if args.index_at < args.seconds:  # later than the end: a run without the commit
        tasks.append(index_and_watch(base, data, write_post(tmp), args.index_at, started, events))
    await asyncio.gather(*tasks)
    return tally, events, time.monotonic() - started


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {
        "n": int(arr.size),
        "p50": float(np.percentile(arr, 50)),
        "p95": float(np.percentile(arr, 95)),
        "p99": float(np.percentile(arr, 99)),
        "max": float(arr.max()),
    }


WINDOW_S = 5.0  # where in the run the hybrid tail falls: the cold start, the commit, or all along


def hybrid_by_window(tally: Tally, seconds: float) -> list[tuple[float, float, float]]:
    """(window start, p50, p99) of the hybrid searches started in each WINDOW_S window."""
    at = np.asarray(tally.started.get("search hybrid", ()))
    ms = np.asarray(tally.latencies.get("search hybrid", ()))
    rows = []
    for start in np.arange(0.0, seconds, WINDOW_S):
        inside = ms[(at >= start) & (at < start + WINDOW_S)]
        if inside.size:
            rows.append((float(start), *np.percentile(inside, [50, 99]).tolist()))
    return rows


def report(args, tally: Tally, events: dict, elapsed: float, ready_s: float, posts: int) -> dict:
    rows = {k: percentiles(v) for k, v in tally.latencies.items() if v}
    every = [x for v in tally.latencies.values() for x in v]
    rows["all"] = percentiles(every)
    failed = sum(len(v) for v in tally.failures.values())
    window = args.seconds
    print(
        f"kexue-search serve: {args.clients} clients, {window} s after {args.warmup:g} s of "
        f"warm-up, think {args.think_ms} ms, "
        f"server cache {'default' if args.server_cache is None else args.server_cache}, "
        f"{os.cpu_count()} CPUs, {posts} posts; model ready {ready_s:.1f} s after start"
    )
    print(f"{'endpoint':<17}{'requests':>9}{'req/s':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
          f"{'failed':>8}  (ms)")  # fmt: skip
    for kind in [*(k for k, _ in MIX), "all"]:
        if kind not in rows:
            continue
        r = rows[kind]
        fails = failed if kind == "all" else len(tally.failures.get(kind, ()))
        print(
            f"{kind:<17}{r['n']:>9}{r['n'] / window:>8.1f}{r['p50']:>8.1f}{r['p95']:>8.1f}"
            f"{r['p99']:>8.1f}{r['max']:>8.1f}{fails:>8}"
        )
    if tally.warmup_hybrid:
        cold = percentiles(tally.warmup_hybrid)
        print(
            f"warm-up ({args.warmup:g} s before the run, not in the figures above): hybrid "
            f"p50 {cold['p50']:.0f} ms, p99 {cold['p99']:.0f} ms, {cold['n']} searches"
        )
    windows = hybrid_by_window(tally, args.seconds)
    print(
        "hybrid p50/p99 by 5 s window: "
        + ", ".join(f"{a:.0f}-{a + WINDOW_S:.0f} s {p50:.0f}/{p99:.0f}" for a, p50, p99 in windows)
    )
    print(f"failed requests: {failed} (target 0); hybrid answered otherwise: {tally.fallbacks}")
    for kind, messages in tally.failures.items():
        print(
            f"  {kind}: {messages[0]}"
            + (f" (+{len(messages) - 1} more)" if len(messages) > 1 else "")
        )
    start, finish = events.get("index started"), events.get("index finished")
    if "index error" in events:
        print(f"search index failed: {events['index error']}")
    if start is not None and finish is not None:
        print(
            f"search index: started at {start:.1f} s, committed at {finish:.1f} s ({finish - start:.1f} s)"
        )
        for mode in ("lexical", "semantic"):
            seen = events.get(f"visible {mode}")
            text = (f"at {seen:.1f} s ({seen - finish:+.1f} s from the end of the index run)"
                    if seen is not None else "never")  # fmt: skip
            print(f"new post visible ({mode}): {text}")
    hybrid = rows.get("search hybrid")
    if hybrid:
        ok = hybrid["p50"] <= 40 and hybrid["p99"] <= 200 and failed == 0
        print(
            f"targets: hybrid p50 {hybrid['p50']:.1f} ms (<= 40), p99 {hybrid['p99']:.1f} ms "
            f"(<= 200), failed {failed} (0): {'met' if ok else 'NOT met'}"
        )
    return {"rows": rows, "failed": failed, "fallbacks": tally.fallbacks, "events": events}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="an index with vectors")
    parser.add_argument("--seconds", type=float, default=30, help="the measured run")
    parser.add_argument(
        "--warmup", type=float, default=5, help="seconds of the same load before it, apart"
    )
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--think-ms", type=float, default=0, help="mean pause between requests")
    parser.add_argument(
        "--server-cache",
        type=int,
        default=None,
        help="search answers the server keeps (default: its own; 0: none, every search computed)",
    )
    parser.add_argument("--index-at", type=float, default=10, help="when to index the new post")
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    queries_path = require_file(args.queries, "queries")
    queries = [
        json.loads(line)["query"] for line in queries_path.open(encoding="utf-8") if line.strip()
    ]
    from search import Searcher

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        data = copy_data(args.data_dir, Path(tmp))
        with Searcher.open(data) as searcher:
            ids = sorted(searcher.meta)
            if not searcher.has_vectors:
                sys.exit(f"bench: {args.data_dir} has no vectors (index it without --no-vectors)")
        server_log = Path(tmp) / "server.log"
        proc, base = start_server(data, args.server_cache, server_log)
        try:
            ready = wait_ready(base)
            tally, events, elapsed = asyncio.run(load(args, base, data, queries, ids, Path(tmp)))
        finally:
            proc.terminate()
            proc.wait(10)
        figures = report(args, tally, events, elapsed, ready, len(ids))
        print("server log:")  # its generations, what it warmed, anything that went wrong
        for line in server_log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]:
            print(f"  {line}")
        if args.json:
            print(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
