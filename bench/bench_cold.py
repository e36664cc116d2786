"""Cold start, whole processes: `search query` lexical, hybrid in-process, hybrid through a
running `search serve`, and `search mcp` answering a hybrid search from its start (issue 22).

    python bench/bench_cold.py [--data DIR] [--baseline TREE] [--runs 5] [--query "旋转位置编码 外推"]

Each row runs `python -m search.cli` from a code tree (this one, and `--baseline`, e.g. a checkout
of main, in the same run: the machine is shared, so only side-by-side ratios mean anything), the
runs of the two trees interleaved. Wall time is the median of `--runs` fresh processes; peak
memory their median peak RSS, read with RUSAGE_CHILDREN in a grandchild that runs nothing else.
Every answer of a mode (both trees, in-process and through the server) must be the same JSON.
The data directory is copied to a temporary folder (the server writes its socket there).
Targets: hybrid ≤ 1.0 s and ≤ 450 MB; through the server ≤ 0.25 s; MCP hybrid within 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "data-shared"
# Times the command, passes its output on, and prints its peak RSS in KiB on stderr's last line.
PEAK = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE); "
    "took = time.perf_counter() - t; sys.stdout.buffer.write(r.stdout); "
    "print(r.returncode, took, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
    "file=sys.stderr)"
)


def env_for(tree: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree), "NO_COLOR": "1", **extra}


def cold_query(
    tree: Path, data: Path, query: str, mode: str, *, server: bool
) -> tuple[float, float, str]:
    """(seconds, peak MB, its hits as JSON) of one `search query` process."""
    cmd = [sys.executable, "-m", "search.cli", "--data-dir", str(data), "query", query]
    cmd += ["--mode", mode, "-n", "10", "--json"]
    env = env_for(tree, KEXUE_SEARCH_NO_SERVER="" if server else "1")
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *cmd], capture_output=True, text=True, env=env, cwd=tree
    )
    status, took, peak_kib = done.stderr.strip().splitlines()[-1].split()
    if status != "0":
        sys.exit(f"bench: {' '.join(cmd)} exited with {status} (from {tree})")
    return float(took), int(peak_kib) / 1024, done.stdout


def start_server(tree: Path, data: Path, timeout: float = 120.0) -> subprocess.Popen[bytes]:
    """`search serve` on `data`, once its socket answers a hybrid search as hybrid."""
    sys.path.insert(0, str(tree))
    from search.server.local import ask

    server = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "--data-dir", str(data), "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env_for(tree),
        cwd=tree,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        health = ask(data, "/healthz", {})
        if health and health.get("semantic") is True:
            return server
        time.sleep(0.2)
    server.kill()
    sys.exit("bench: the server did not get its models ready")


async def _mcp_hybrid(tree: Path, data: Path, query: str) -> tuple[float, str]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "search.cli", "--data-dir", str(data), "mcp"],
        env=env_for(tree),
        cwd=str(tree),
    )
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        result = await client.call_tool("search", {"query": query, "mode": "hybrid"})
        took = time.perf_counter() - started
    return took, result.structured_content["mode"]


def mcp_hybrid(tree: Path, data: Path, query: str) -> float:
    """Seconds from starting `search mcp` to its first hybrid answer, as an agent sees it."""
    took, mode = asyncio.run(_mcp_hybrid(tree, data, query))
    if mode != "hybrid":
        sys.exit(f"bench: search mcp answered {mode}, not hybrid (from {tree})")
    return took


def median_row(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s for s, _ in samples), statistics.median(m for _, m in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline", type=Path, help="another code tree (e.g. main) to compare")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", default="旋转位置编码 外推")
    args = parser.parse_args()
    if not (args.data / "store.sqlite").is_file():
        sys.exit(f"bench: no index at {args.data} (pass --data DIR)")
    trees = {"this": REPO} | ({"baseline": args.baseline.resolve()} if args.baseline else {})
    with tempfile.TemporaryDirectory(prefix="bench-cold.") as tmp:
        data = Path(shutil.copytree(args.data, Path(tmp) / "data", symlinks=True))
        (data / "serve.sock").unlink(missing_ok=True)
        rows: dict[str, dict[str, tuple[float, float]]] = {}
        answers: dict[str, set[str]] = {}  # each mode's distinct outputs, over trees and runs
        for mode in ("lexical", "hybrid"):
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
            answers[mode] = set()
            for _ in range(args.runs):
                for name, tree in trees.items():
                    took, mb, out = cold_query(tree, data, args.query, mode, server=False)
                    samples[name].append((took, mb))
                    answers[mode].add(out)
            rows[f"{mode} in-process"] = {n: median_row(s) for n, s in samples.items()}
        mcp = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, tree in trees.items():
                mcp[name].append((mcp_hybrid(tree, data, args.query), 0.0))
        rows["mcp hybrid from start"] = {n: median_row(s) for n, s in mcp.items()}
        server = start_server(REPO, data)
        try:
            through = [
                cold_query(REPO, data, args.query, "hybrid", server=True) for _ in range(args.runs)
            ]
            answers["hybrid"].update(out for _, _, out in through)
            rows["hybrid through serve"] = {"this": median_row([(s, mb) for s, mb, _ in through])}
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
    print(f"query {args.query!r}, median of {args.runs} processes each")
    header = f"{'row':24} {'this s':>8} {'this MB':>8}"
    if args.baseline:
        header += f" {'base s':>8} {'base MB':>8} {'time x':>7} {'mem x':>7}"
    print(header)
    for row, by_tree in rows.items():
        s, mb = by_tree["this"]
        line = f"{row:24} {s:8.3f} {mb or float('nan'):8.0f}"  # nan: not measured (MCP)
        if "baseline" in by_tree:
            bs, bmb = by_tree["baseline"]
            mem = f"{mb / bmb:7.2f}" if bmb else f"{'':7}"
            line += f" {bs:8.3f} {bmb or float('nan'):8.0f} {s / bs:7.2f} {mem}"
        print(line)
    for mode, outputs in answers.items():  # the same hits, order and snippets every time
        print(f"{mode} answers: {'identical' if len(outputs) == 1 else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
