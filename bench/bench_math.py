"""The reader's math over the whole shared corpus (issue 19): how many formulas read right,
and how long a post takes to render, before and after, in one run.

A formula fails when the reader shows it as its source (the engine could not convert it), or
its MathML still holds a literal `&` (an alignment the engine did not lay out in rows) or a raw
command (a backslash and letters in its text). "before" is search/server/render.py of a git
revision (default: main) loaded from git into this process; "after" is this checkout's.
Render time is render_post per post, each post once, in corpus order (the formula cache warms
as it goes, the same for both).

    .venv/bin/python bench/bench_math.py [--corpus PATH] [--before main] [--show 3]
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path

from _common import DEFAULT_CORPUS, REPO, require_file

_TEXT = re.compile(r">([^<]+)<")
_RAW = re.compile(r"\\[a-zA-Z]+")


def load_revision(revision: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:search/server/render.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    module = types.ModuleType("_before_server_render")
    sys.modules[module.__name__] = module
    exec(compile(source, "before:search/server/render.py", "exec"), module.__dict__)
    return module


def failure(source: str, html: str) -> str | None:
    """Why a formula's HTML does not read right, or None."""
    if '<span class="math-error">(?)</span>' in html:
        return "eqref to no label"
    if 'class="math-error"' in html:
        return "shown as source"
    text = "".join(_TEXT.findall(html))
    if "&amp;" in text and "\\&" not in source:
        return "literal &"
    if _RAW.search(text.replace("&amp;", "&")) and "\\backslash" not in source:
        return "raw command"
    return None


def measure(module: types.ModuleType, posts: list[dict], show: int) -> dict:
    kinds: collections.Counter[str] = collections.Counter()
    examples: dict[str, list[str]] = collections.defaultdict(list)
    failed_posts: set[int] = set()
    total = 0
    for post in posts:
        _, formulas = module._cut_math(post["body"])
        formulas, labels = module._number_formulas(formulas)
        for f in formulas:
            total += 1
            why = failure(f.source, module._mathml(f, labels))
            if why:
                kinds[why] += 1
                failed_posts.add(post["id"])
                if len(examples[why]) < show:
                    examples[why].append(f"#{post['id']}: {f.source[:90]!r}")
    times = []
    for post in posts:
        started = time.perf_counter()
        module.render_post.__wrapped__(post["body"], post["url"])
        times.append((time.perf_counter() - started) * 1000)
    failed = sum(kinds.values())
    return {
        "formulas": total,
        "failed": failed,
        "share_ok": 1 - failed / max(total, 1),
        "posts_with_failures": len(failed_posts),
        "by_kind": dict(kinds),
        "examples": dict(examples),
        "render_ms_median": statistics.median(times),
        "render_ms_max": max(times),
        "render_s_total": sum(times) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--before", default="main", help="git revision ('' skips)")
    parser.add_argument("--show", type=int, default=3, help="examples per kind of failure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    posts = [json.loads(line) for line in require_file(args.corpus, "corpus").open() if line]
    from search.server import render as after
    from search.server.render import engine_is_katex

    runs = []
    if args.before:
        runs.append((f"before ({args.before})", load_revision(args.before)))
    runs.append(("after" + (" (KaTeX)" if engine_is_katex() else " (latex2mathml)"), after))
    report = {label: measure(module, posts, args.show) for label, module in runs}
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return
    print(f"{len(posts)} posts")
    for label, r in report.items():
        print(
            f"{label}: {r['formulas'] - r['failed']}/{r['formulas']} formulas read right "
            f"({r['share_ok']:.2%}); failures in {r['posts_with_failures']} posts: {r['by_kind']}"
        )
        print(
            f"    render per post: median {r['render_ms_median']:.1f} ms, "
            f"max {r['render_ms_max']:.0f} ms, all {r['render_s_total']:.1f} s"
        )
        for kind, found in r["examples"].items():
            for e in found:
                print(f"    {kind}: {e}")


if __name__ == "__main__":
    main()
