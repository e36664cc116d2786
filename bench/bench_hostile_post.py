"""One hostile post must not freeze anything (issue 23, item 1): index it, time the commands on
it, and keep asking the server's /healthz while the server works on it.

    python bench/bench_hostile_post.py [--body begin] [--size 999000] [--quick]

The post is issue 23's: "旋转位置编码 外推 " and a math opener without a closer repeated to
`--size` characters (`--body begin`: `\\begin{a}`, the item-1 post; also brackets `\\[`,
parens `\\(`, fences "```a" lines, dollars `$$ `), indexed with --no-vectors beside the test
fixtures. Timed: `search query` and `search show` (rendered as for a terminal), then, on a
`search serve` in another process, /search, /posts/ID, /posts/ID?format=html (the page's
render) and /posts/ID/similar, while a thread asks /healthz every 20 ms. Targets: each under
1 s; /healthz always under 100 ms. Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "posts.jsonl"
POST_ID = 31337
UNITS = {"begin": "\\begin{a}", "brackets": "\\[", "parens": "\\(", "fences": "```a\n"}
UNITS["dollars"] = "$$ "
COMMAND_TARGET_S = 1.0
HEALTHZ_TARGET_MS = 100.0


@dataclass
class Timings:
    steps: dict[str, float] = field(default_factory=dict)  # seconds
    statuses: dict[str, int] = field(default_factory=dict)
    healthz_ms: list[float] = field(default_factory=list)
    healthz_failures: int = 0

    def report(self) -> tuple[str, bool]:
        ok = True
        lines = []
        for name, took in self.steps.items():
            status = self.statuses.get(name)
            miss = took > COMMAND_TARGET_S
            ok &= not miss
            shown = f" (status {status})" if status is not None else ""
            lines.append(f"  {name:32} {took * 1000:8.0f} ms{shown}{'  over 1 s' if miss else ''}")
        worst = max(self.healthz_ms, default=float("nan"))
        over = sum(ms > HEALTHZ_TARGET_MS for ms in self.healthz_ms)
        ok &= over == 0 and self.healthz_failures == 0 and bool(self.healthz_ms)
        lines.append(
            f"  /healthz: {len(self.healthz_ms)} answers, slowest {worst:.0f} ms, "
            f"{over} over {HEALTHZ_TARGET_MS:.0f} ms, {self.healthz_failures} failed (target 0)"
        )
        return "\n".join(lines), ok


def cli(data: Path, *args: str) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "search.cli", "--data-dir", str(data), *args],
        capture_output=True,
        env=env,
        timeout=600,
    )
    return time.perf_counter() - started, done.returncode


def serve(data: Path) -> tuple[subprocess.Popen[str], str]:
    code = (
        "import sys\nfrom search.server.listen import serve\n"
        "serve(sys.argv[1], port=0, say=lambda m: print(m, flush=True))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    line = child.stdout.readline() if child.stdout else ""
    if "http://" not in line:
        child.kill()
        raise SystemExit(f"bench: the server did not start ({line!r})")
    return child, "http://" + line.split("http://")[1].split("/")[0]


def run(work: Path, body: str, size: int) -> Timings:
    data = work / "data"
    post = {
        "id": POST_ID,
        "title": "big bomb",
        "body": "旋转位置编码 外推 " + UNITS[body] * (size // len(UNITS[body])),
    }
    source = work / "bomb.jsonl"
    source.write_text(json.dumps(post, ensure_ascii=False) + "\n", "utf-8")
    t = Timings()
    took, code = cli(data, "index", "--no-vectors", "-q", str(FIXTURES), str(source))
    t.steps["search index (fixtures + post)"], t.statuses["search index (fixtures + post)"] = (
        took,
        code,
    )
    # Each command beside the same command on an ordinary fixture post: the difference is what
    # the hostile post costs (start-up, imports and the dictionary are the same for both).
    for name, args, ordinary in (
        ("search query", ["query", "big bomb", "--mode", "lexical"], ["RoPE"]),
        ("search show (terminal)", ["show", str(POST_ID), "--no-pager", "--color", "always"], []),
        ("search similar", ["similar", str(POST_ID)], []),
    ):
        normal = [a if a != str(POST_ID) else "1001" for a in args]
        if ordinary:
            normal[1] = ordinary[0]
        base = min(cli(data, *normal)[0] for _ in range(2))
        took, code = min(cli(data, *args) for _ in range(2))
        t.steps[name], t.statuses[name] = max(0.0, took - base), code
    t.steps.pop("search index (fixtures + post)")  # indexing a megabyte is allowed its time

    child, root = serve(data)
    stop = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    client.get(f"{root}/healthz").raise_for_status()
                    t.healthz_ms.append((time.perf_counter() - started) * 1000)
                except httpx.HTTPError:
                    t.healthz_failures += 1
                stop.wait(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    try:
        with httpx.Client(timeout=120) as client:
            client.get(f"{root}/healthz")  # the server is up before the clock starts
            poller.start()
            for name, path in (
                ("GET /search", "/search?q=big%20bomb&mode=lexical"),
                ("GET /posts/ID", f"/posts/{POST_ID}"),
                ("GET /posts/ID?format=html", f"/posts/{POST_ID}?format=html"),
                ("GET /posts/ID/similar", f"/posts/{POST_ID}/similar"),
            ):
                started = time.perf_counter()
                try:
                    status = client.get(root + path).status_code
                except httpx.HTTPError:
                    status = -1
                t.steps[name], t.statuses[name] = time.perf_counter() - started, status
            time.sleep(0.2)
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(timeout=10)
        child.terminate()
        child.wait(timeout=30)
    return t


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--body", choices=sorted(UNITS), default="begin")
    ap.add_argument("--size", type=int, default=999_000, help="characters of the repeated unit")
    ap.add_argument("--quick", action="store_true", help="a 200,000-character post")
    args = ap.parse_args()
    size = 200_000 if args.quick else args.size
    with tempfile.TemporaryDirectory(prefix="kexue-bomb-") as tmp:
        t = run(Path(tmp), args.body, size)
    text, ok = t.report()
    print(f"hostile post ({args.body}, {size:,} characters): each target 1 s\n{text}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
