"""The MCP hang-up harness: clients that go away mid-work must never crash `search mcp`.

    python bench/mcp_hangup.py DATA_DIR [--trials 20] [--most 3.0] [--seed 7]

Each trial starts `search mcp` on DATA_DIR (an index with vectors, so the models load while it
runs), initializes, asks a search (hybrid or lexical, or several at once) and closes the
server's stdin after a random delay of 0 to `--most` seconds, as a client that quits does. The
server must exit with status 0 and write no traceback and no "terminate called" (the SIGABRT of
ONNX Runtime threads still running at interpreter exit, issue 23 item 8). Prints the trials
that did not (target 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Summary:
    trials: int = 0
    aborted: list[str] = field(default_factory=list)  # a signal or "terminate called"
    failed: list[str] = field(default_factory=list)  # another status, or a traceback
    seconds: list[float] = field(default_factory=list)  # from the hang-up to the exit


def hang_up(
    data: Path, delay: float, calls: list[dict], timeout: float = 120.0
) -> tuple[int, str, float]:
    """One trial: (exit status, stderr, seconds from the hang-up to the exit)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "search.cli", "--data-dir", str(data), "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=str(REPO),
    )
    assert proc.stdin and proc.stdout

    def send(message: dict) -> None:
        proc.stdin.write((json.dumps(message, ensure_ascii=False) + "\n").encode())
        proc.stdin.flush()

    send({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "mcp_hangup", "version": "0"}},
    })  # fmt: skip
    proc.stdout.readline()
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    for number, arguments in enumerate(calls, 1):
        call = {"name": "search", "arguments": arguments}
        send({"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": call})
    time.sleep(delay)
    hung_up = time.monotonic()
    _, stderr = proc.communicate(timeout=timeout)  # closes stdin first
    return proc.returncode, stderr.decode("utf-8", "replace"), time.monotonic() - hung_up


def run(data: Path, *, trials: int = 20, most: float = 3.0, seed: int = 7) -> Summary:
    rng = random.Random(seed)
    queries = ["RoPE 外推", "梯度惩罚", "why divide attention by sqrt d", "扩散模型 采样"]
    summary = Summary()
    for trial in range(trials):
        delay = rng.uniform(0, most)
        calls = [
            {"query": rng.choice(queries), "mode": rng.choice(["hybrid", "hybrid", "lexical"])}
            for _ in range(rng.choice([1, 1, 3]))
        ]
        status, stderr, took = hang_up(data, delay, calls)
        summary.trials += 1
        summary.seconds.append(took)
        what = f"trial {trial}: hung up after {delay:.2f} s, {len(calls)} call(s): status {status}"
        if status < 0 or "terminate called" in stderr:
            summary.aborted.append(what)
        elif status != 0 or "Traceback" in stderr:
            summary.failed.append(f"{what}; {stderr.strip().splitlines()[-1:] or ''}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a data directory with vectors")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--most", type=float, default=3.0, help="the longest delay, in seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    s = run(args.data, trials=args.trials, most=args.most, seed=args.seed)
    slowest = max(s.seconds, default=0.0)
    print(f"{s.trials} hang-ups: {len(s.aborted)} aborted, {len(s.failed)} failed; "
          f"the slowest exit {slowest:.1f} s after the hang-up")  # fmt: skip
    for line in s.aborted + s.failed:
        print("  " + line)
    sys.exit(1 if s.aborted or s.failed else 0)


if __name__ == "__main__":
    main()
