"""Scale benchmark: the shared corpus copied 1x, 10x, 100x; prints numbers, asserts nothing.

    python bench/bench_scale.py [--sizes 1,10,100] [--out bench/out/scale] [--source DIR]
        [--code DIR] [--passes 2] [--no-build] [--json] [--probes 64,91 [--lists 917]]

Each copy keeps the texts and gives the posts new ids and URLs (id + k * 100000), so the
passages' vectors come from the vector cache and nothing is embedded: the build starts from a
copy of `--source`'s store (a data directory built over the shared corpus with both models,
holding that cache) and runs `search index CORPUS --rebuild`, as a child process, for its wall
time and peak RSS. Then, in a fresh child per size: warm p50/p95 of `Searcher.search` per mode
over the dev queries (models loaded, queries embedded afresh), the child's peak RSS, and the
recall@10 and @100 of each model's semantic list against an exact scan of every passage.

Recall is tie-aware: the copies make every passage a hundred times over, so the exact top 100
is a choice among equal scores. An approximate hit counts when its (exactly rescored) post
score reaches the exact list's k-th.

`--probes N,M` measures recall alone, each approximate index probing N lists, then M; with
`--lists L` each model's vectors are first put in a new IVF of L lists, in memory (100x has
917: at 10x, where recall still means something, that is 100x's partition of the same texts).

`--code DIR` builds and searches with another checkout (e.g. /work/main for the baseline; its
results go to OUT/<name of DIR>/): compare the two in one sitting. Built corpora and data
directories are kept under `--out` and reused (`--rebuild-data` to build again).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DEFAULT_CORPUS,
    DEFAULT_QUERIES,
    REPO,
    SHARED,
    mode_times_ms,
    summary,
    tree_size,
    warm_searcher,
)

from index.vectors import APPROXIMATE_FROM

DEFAULT_SOURCE = SHARED.parent / "data-shared"
ID_STRIDE = 100_000  # copy k of post n is post n + k * ID_STRIDE (the corpus's ids stay below)
MODES = ("lexical", "semantic", "hybrid")


def write_corpus(source: Path, times: int, target: Path) -> int:
    """`times` copies of the posts in `source`, new ids and URLs; returns the post count."""
    if target.is_file():
        return sum(1 for _ in target.open(encoding="utf-8"))
    rows = [json.loads(line) for line in source.open(encoding="utf-8") if line.strip()]
    if max(r["id"] for r in rows) >= ID_STRIDE:
        sys.exit(f"bench: post ids in {source} reach {ID_STRIDE}: copies would collide")
    tmp = target.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for k in range(times):
            for r in rows:
                post_id = r["id"] + k * ID_STRIDE
                row = {**r, "id": post_id, "url": f"https://kexue.fm/archives/{post_id}"}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, target)
    return len(rows) * times


def measured(argv: list[str], code: Path) -> dict:
    """Run this script's `--child` mode in a fresh process (its own peak RSS), parse its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-5:]
        sys.exit("bench: child failed: " + " | ".join(tail))
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_build(data: Path, corpus: Path) -> dict:
    """`search index CORPUS --rebuild` as a grandchild: wall time and its peak RSS."""
    cmd = [sys.executable, "-m", "search.cli", "--quiet", "--data-dir", str(data)]
    cmd += ["index", "--rebuild", str(corpus)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: index failed: {err.strip().splitlines()[-1:] or out}")
    return {"build_s": seconds, "build_peak_mb": usage.ru_maxrss / 1024}


def _recall(approx: list[tuple[int, float]], exact: list[tuple[int, float]], k: int) -> float:
    """Tie-aware recall@k: approximate hits whose score reaches the exact k-th score."""
    exact = exact[:k]
    if not exact:
        return 1.0
    bar = exact[-1][1] - 1e-5
    return sum(1 for _, s in approx[:k] if s >= bar) / len(exact)


def _side_recall(side, texts: list[str]) -> dict[str, float]:
    """Recall@10 and @100 of a side's semantic list against its exact scan, over `texts`."""
    retriever = side.retriever
    approximate = retriever.approximate
    at10, at100 = [], []
    for q in texts:
        vector = side.embed(q)
        got = [(h.post_id, h.score) for h in retriever.search(vector, 100)]
        retriever.approximate = False
        want = [(h.post_id, h.score) for h in retriever.search(vector, 100)]
        retriever.approximate = approximate
        at10.append(_recall(got, want, 10))
        at100.append(_recall(got, want, 100))
    return {"at10": sum(at10) / len(at10), "at100": sum(at100) / len(at100)}


def _probed(side, lists: int, probes: list[int], texts: list[str]) -> dict[int, dict]:
    """Each side's recall probing each of `probes` lists, its vectors put in an IVF of `lists`
    lists (0: the index as built): 100x's partition measured over 10x's vectors, whose recall
    still means something (at 100x any probe finds one of a text's hundred copies)."""
    from index.vectors import VectorIndex

    vectors = side.retriever.vectors
    if lists:
        ivf = VectorIndex.create(vectors.path / "unused", vectors.dim, size=lists * lists)
        ivf.add(vectors.ids(), vectors.matrix)
        vectors.index = ivf.index
    side.retriever.approximate = True
    found = {}
    for n in probes:
        vectors.index.nprobe = n
        found[n] = _side_recall(side, texts)
    return found


def child_search(
    data: Path, queries: Path, passes: int, lists: int = 0, probes: list[int] | None = None
) -> dict:
    import resource

    from search import load_queries

    texts = [q.query for q in load_queries(queries)]
    r: dict = {}
    with warm_searcher(data) as s:
        if probes:  # recall only: the indexes are changed in memory
            return {"probes": {side.name: _probed(side, lists, probes, texts) for side in s.sides}}
        for mode in MODES:
            r[mode] = summary(mode_times_ms(s, texts, mode, passes))
        r["search_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        recall: dict[str, dict[str, float]] = {}
        for side in s.sides:
            if not hasattr(side.retriever, "approximate"):
                break  # code without an approximate path: every search is exact
            recall[side.name] = {
                "approximate": bool(side.retriever.approximate),
                **_side_recall(side, texts),
            }
        r["recall"] = recall
        r["posts"] = s._posts()
    return r


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1,10,100", help="copies of the corpus, comma-separated")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "scale")
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="data dir (vector cache)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--code", type=Path, default=REPO, help="the checkout to build and search with")
    ap.add_argument("--passes", type=int, default=2, help="timed passes over the queries")
    ap.add_argument("--no-build", action="store_true", help="search the data dirs as they are")
    ap.add_argument("--rebuild-data", action="store_true", help="build even when built")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--probes", default="", help="only recall, probing these many lists (comma-separated)"
    )
    ap.add_argument("--lists", type=int, default=0, help="with --probes: rebuild IVFs this wide")
    ap.add_argument("--child", choices=("build", "search"), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--posts", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child == "build":
        print(json.dumps(child_build(args.data, args.posts)))
        return 0
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        probes = [int(p) for p in args.probes.split(",") if p]
    except ValueError:
        sys.exit("bench: --sizes and --probes take numbers separated by commas")
    fewest = math.isqrt(APPROXIMATE_FROM - 1) + 1  # fewer lists: VectorIndex.create is flat
    if 0 < args.lists < fewest:
        sys.exit(f"bench: --lists takes {fewest} or more")
    if args.child == "search":
        found = child_search(args.data, args.queries, args.passes, args.lists, probes)
        print(json.dumps(found))
        return 0

    for path, what in ((args.corpus, "corpus"), (args.queries, "queries")):
        if not path.is_file():
            sys.exit(f"bench: {what} not found at {path}")
    if not (args.source / "store.sqlite").is_file():
        sys.exit(f"bench: no data directory at {args.source} (pass --source DIR)")
    code = args.code.resolve()
    out = args.out / ("" if code == REPO else code.name)
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for n in sizes:
        corpus = args.out / f"corpus-{n}x.jsonl"
        posts = write_corpus(args.corpus, n, corpus)
        data = out / f"data-{n}x"
        row: dict = {"posts": posts}
        built = data / "built.json"
        if not args.no_build and (args.rebuild_data or not built.is_file()):
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            shutil.copy2(args.source / "store.sqlite", data / "store.sqlite")
            print(f"bench: building {n}x ({posts} posts) …", file=sys.stderr, flush=True)
            info = measured(["--child", "build", "--data", str(data), "--posts", str(corpus)], code)
            built.write_text(json.dumps(info))
            print(  # a run stopped later still has the build's figures
                f"bench: built {n}x in {info['build_s']:.0f} s, "
                f"peak {info['build_peak_mb']:.0f} MiB",
                file=sys.stderr,
                flush=True,
            )
        if built.is_file():
            row.update(json.loads(built.read_text()))
        row["disk_mb"] = (tree_size(data) - tree_size(built)) / 2**20
        print(f"bench: searching {n}x …", file=sys.stderr, flush=True)
        argv = ["--child", "search", "--data", str(data), "--queries", str(args.queries)]
        argv += ["--probes", args.probes, "--lists", str(args.lists)]
        row.update(measured([*argv, "--passes", str(args.passes)], code))
        rows[n] = row
        if not args.json:
            print(_table_row(n, row), flush=True)
    if args.json:
        print(json.dumps({"code": str(code), "sizes": rows}, indent=1))
    return 0


def _table_row(n: int, r: dict) -> str:
    if "probes" in r:
        return "\n".join(
            f"{n:>4}x {name} probing {p}: r@10 {v['at10']:.3f} r@100 {v['at100']:.3f}"
            for name, found in r["probes"].items()
            for p, v in found.items()
        )
    modes = "  ".join(f"{m} {r[m]['p50']:.1f}/{r[m]['p95']:.1f}" for m in MODES)
    recall = "  ".join(
        f"{name} r@10 {v['at10']:.3f} r@100 {v['at100']:.3f}{'' if v['approximate'] else ' (exact)'}"
        for name, v in r.get("recall", {}).items()
    )
    build = (
        f"build {r['build_s']:.0f} s peak {r['build_peak_mb']:.0f} MiB  " if "build_s" in r else ""
    )
    return (
        f"{n:>4}x {r['posts']} posts  {build}disk {r['disk_mb']:.0f} MiB  "
        f"search peak {r['search_peak_mb']:.0f} MiB  ms p50/p95: {modes}  {recall}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
