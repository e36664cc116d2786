"""The kill harness: `kill -9` a `search index` at random moments; nothing committed is lost.

    python bench/kill_index.py [--lexical 40] [--embedding 5] [--corpus PATH] [--seed 7]

Each round starts `search index` on the corpus into one data directory (lexical rounds with
--no-vectors; embedding rounds on the first posts of the corpus, with vectors), kills it at a
random moment, checks the directory (`search.check`: the store must be sound; derived indexes
may lag), then runs `search index` again to completion and checks that every post of the
source is stored and that the directory is sound. Prints lost posts (target 0), rounds whose
re-run failed (target 0) and the work the re-runs redid.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_CORPUS, require_file

from search import check


@dataclass
class Summary:
    rounds: int = 0
    killed: int = 0  # rounds whose process was still running when the kill came
    lost: int = 0  # posts of the source missing after the completing re-run
    dropped: int = 0  # posts stored before a kill that were gone after it
    failed_reruns: list[str] = field(default_factory=list)
    unsound_after_kill: list[str] = field(default_factory=list)
    redone_lexical: int = 0
    redone_vectors: int = 0


def index_cmd(data: Path, source: Path, vectors: bool, *extra: str) -> list[str]:
    cmd = [sys.executable, "-m", "search.cli", "--quiet", "--data-dir", str(data), "index"]
    return [*cmd, *([] if vectors else ["--no-vectors"]), "--json", *extra, str(source)]


def stored_ids(data: Path) -> set[int]:
    import sqlite3

    if not (data / "store.sqlite").exists():
        return set()
    with sqlite3.connect(f"file:{data / 'store.sqlite'}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM posts")}


def source_ids(source: Path) -> set[int]:
    return {json.loads(line)["id"] for line in source.open(encoding="utf-8") if line.strip()}


def one_round(
    data: Path, source: Path, vectors: bool, delay: float, s: Summary, *extra: str
) -> None:
    before = stored_ids(data)
    proc = subprocess.Popen(
        index_cmd(data, source, vectors, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        s.killed += 1
    proc.wait()
    s.rounds += 1
    after = stored_ids(data)
    s.dropped += len(before - after)
    report = check(data)
    store_problems = [f.problem for f in report.findings if not f.derivable]
    if store_problems:
        s.unsound_after_kill.append(f"delay {delay:.2f}s: {store_problems[0]}")
    rerun = subprocess.run(index_cmd(data, source, vectors), capture_output=True, text=True)
    if rerun.returncode != 0:
        s.failed_reruns.append(f"delay {delay:.2f}s: {rerun.stderr.strip()[:200]}")
        return
    done = json.loads(rerun.stdout)
    s.redone_lexical += done["lexical_updated"]
    s.redone_vectors += done["vectors_updated"]
    s.lost += len(source_ids(source) - stored_ids(data))
    final = check(data)
    if not final.ok:
        s.failed_reruns.append(f"delay {delay:.2f}s: unsound after re-run: {final.findings[0]}")


def run(corpus: Path, lexical: int, embedding: int, seed: int, work: Path) -> Summary:
    rng = random.Random(seed)
    s = Summary()
    # How long a whole run takes sets the range kill moments are drawn from.
    timing = work / "timing"
    started = time.perf_counter()
    subprocess.run(index_cmd(timing, corpus, False), capture_output=True, check=True)
    full = time.perf_counter() - started
    data = work / "lexical"
    for i in range(lexical):
        # Two rounds in three index into an empty directory; the third kills a --rebuild of a
        # complete one (the new index is built beside the old, which must survive).
        if i % 3 == 2:
            one_round(data, corpus, False, rng.uniform(0.3, full), s, "--rebuild")
        else:
            subprocess.run(["rm", "-rf", str(data)], check=True)
            one_round(data, corpus, False, rng.uniform(0.2, full), s)
    if embedding:
        subset = work / "subset.jsonl"
        lines = [line for line in corpus.open(encoding="utf-8") if line.strip()][:12]
        subset.write_text("".join(lines), encoding="utf-8")
        data = work / "vectors"
        started = time.perf_counter()
        subprocess.run(index_cmd(work / "timing-v", subset, True), capture_output=True, check=True)
        full = time.perf_counter() - started
        for _ in range(embedding):
            subprocess.run(["rm", "-rf", str(data)], check=True)
            one_round(data, subset, True, rng.uniform(1.0, full), s)
    return s


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lexical", type=int, default=40)
    ap.add_argument("--embedding", type=int, default=5)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    corpus = require_file(args.corpus, "corpus")
    with tempfile.TemporaryDirectory(prefix="kexue-kill-") as tmp:
        s = run(corpus, args.lexical, args.embedding, args.seed, Path(tmp))
    print(
        f"kill harness: {s.rounds} rounds ({s.killed} killed mid-run; "
        f"{args.lexical} lexical, {args.embedding} during embedding)\n"
        f"  lost posts after re-run      {s.lost}   (target 0)\n"
        f"  stored posts gone after kill {s.dropped}   (target 0)\n"
        f"  store unsound after a kill   {len(s.unsound_after_kill)}   (target 0)\n"
        f"  failed or unsound re-runs    {len(s.failed_reruns)}   (target 0)\n"
        f"  work redone by re-runs       {s.redone_lexical} posts re-indexed (BM25), "
        f"{s.redone_vectors} (vectors)"
    )
    for line in s.unsound_after_kill + s.failed_reruns:
        print("   ", line)
    bad = s.lost or s.dropped or s.unsound_after_kill or s.failed_reruns
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
