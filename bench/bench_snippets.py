"""Snippets over real queries: how many are not prose (issue 19), before and after.

A snippet fails when it is shorter than 40 characters (the ellipses aside) while its post has
prose, or holds raw LaTeX: a backslash, a `$`, `\\end{` or pylatexenc's `<ref>`. Checked over
the top 10 hits of the dev queries in hybrid mode (the hits are what `search query --json`
prints: same Searcher, same snippets) and over a few hundred queries of our own made from the
corpus at run time (its tags, and two-word pairs of them), in hybrid mode when the index has
vectors. "before" runs the same searches with the snippet code of a git revision (default:
main), loaded from git into this process, so both are measured in one run on one index; it
also says whether every snippet came out the same (text, highlights, offset, formulas) and
what a make_snippet call cost each (CPU time of its thread, on a second pass: every post rendered already),
the formula queries of the eval set included.

    .venv/bin/python bench/bench_snippets.py [--data-dir DIR] [--before main] [--own 300]
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import subprocess
import sys
import time
import types
from pathlib import Path

from _common import DEFAULT_QUERIES, REPO

import search.api as api
from search.api import Searcher
from search.snippets import render

MIN_CHARS = 40
RAW = ("\\", "$", "\\end{", "<ref>")


def prose_length(body: str) -> int:
    """Characters of a post's readable text outside formulas and code blocks."""
    doc = render(body)
    return len(doc.text) - sum(e - s for s, e in doc.math)


def failure(text: str, body: str) -> str | None:
    """Why a snippet is not prose, or None. Short counts only when the post has the prose."""
    for mark in RAW:
        if mark in text:
            return f"raw {mark!r}"
    if len(text.strip("… ")) < MIN_CHARS and prose_length(body) >= MIN_CHARS:
        return "short"
    return None


def old_make_snippet(revision: str):
    """`make_snippet` as it was at `revision`, with the terminal renderer it used."""

    def load(name: str, path: str, replace: dict[str, str]) -> types.ModuleType:
        source = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{revision}:{path}"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        for old, new in replace.items():
            source = source.replace(old, new)
        module = types.ModuleType(name)
        module.__file__ = path
        sys.modules[name] = module
        exec(compile(source, path, "exec"), module.__dict__)
        return module

    load("_before_render", "search/render.py", {})
    snippets = load(
        "_before_snippets", "search/snippets.py", {"search.render import": "_before_render import"}
    )
    return snippets.make_snippet


def own_queries(searcher: Searcher, count: int) -> list[str]:
    """Tags of the archive (the most used first) and pairs of them: everyday queries."""
    counts = collections.Counter(t for m in searcher.meta.values() for t in m.tags)
    tags = [t for t, _ in counts.most_common()]
    queries = tags[: count // 2]
    rng = random.Random(19)
    while len(queries) < count and len(tags) > 1:
        a, b = rng.sample(tags[:200], 2)
        queries.append(f"{a} {b}")
    return queries


def timed(fn, spent: list[float]):
    """`fn`, adding the CPU time of each call to spent[0] and counting calls in spent[1]."""

    def call(*args, **kwargs):
        started = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[0] += time.thread_time() - started
            spent[1] += 1

    return call


def check(searcher: Searcher, queries: list[str], mode: str) -> dict:
    fails: collections.Counter[str] = collections.Counter()
    examples: list[str] = []
    total = 0
    shown = []
    started = time.perf_counter()
    for q in queries:
        for hit in searcher.search(q, limit=10, mode=mode):
            total += 1
            shown.append((q, hit.post_id, hit.snippet.to_dict()))
            post = searcher.get(hit.post_id)
            why = failure(hit.snippet.text, post.body if post else "")
            if why:
                fails[why] += 1
                if len(examples) < 8:
                    examples.append(f"{q!r} #{hit.post_id} {why}: {hit.snippet.text[:70]!r}")
    return {
        "queries": len(queries),
        "snippets": total,
        "failures": sum(fails.values()),
        "by_kind": dict(fails),
        "examples": examples,
        "seconds": round(time.perf_counter() - started, 1),
        "shown": shown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument(
        "--formulas", type=Path, default=DEFAULT_QUERIES.with_name("formula-dev.jsonl")
    )
    parser.add_argument("--before", default="main", help="git revision for 'before' ('' skips)")
    parser.add_argument("--own", type=int, default=300, help="how many queries of our own")
    parser.add_argument("--mode", default="hybrid")
    args = parser.parse_args()
    dev = [json.loads(line)["query"] for line in args.queries.read_text().splitlines() if line]
    formula = []
    if args.formulas.is_file():
        lines = args.formulas.read_text().splitlines()
        formula = [json.loads(line)["query"] for line in lines if line]
    searcher = Searcher.open(args.data_dir)
    own = own_queries(searcher, args.own)
    current = api.make_snippet
    sets = {"dev": dev, "formula": formula, "own": own}
    report: dict[str, dict] = {}
    versions = [("after", current)]
    if args.before:
        versions.insert(0, ("before", old_make_snippet(args.before)))
    spent: dict[str, list[float]] = {}
    for label, fn in versions:
        api.make_snippet = fn
        for queries in sets.values():  # each version's render cache filled, untimed
            check(searcher, queries, args.mode)
        spent[label] = [0.0, 0]
        api.make_snippet = timed(fn, spent[label])
        for name, queries in sets.items():
            report[f"{label} {name}"] = check(searcher, queries, args.mode)
    api.make_snippet = current
    for key, r in report.items():
        print(
            f"{key:12} {r['queries']:4} queries, {r['snippets']:5} snippets ({args.mode}): "
            f"{r['failures']:4} not prose {r['by_kind']}  [{r['seconds']} s]"
        )
        for e in r["examples"][:5]:
            print("      ", e)
    for label, (seconds, calls) in spent.items():
        print(
            f"{label:12} make_snippet {seconds / max(calls, 1) * 1e6:.1f} us CPU a call ({calls})"
        )
    if args.before:
        for name in sets:
            before, after = report[f"before {name}"]["shown"], report[f"after {name}"]["shown"]
            same = sum(b == a for b, a in zip(before, after, strict=True))
            print(f"same snippets before/after ({name}): {same} of {len(after)}")


if __name__ == "__main__":
    main()
