"""The long query fuzzer: generated queries over the shared corpus; prints what went wrong.

    python bench/fuzz_queries.py [--lexical 100000] [--hybrid 2000] [--seed 7] [--data-dir DIR]
    python bench/fuzz_queries.py --posts [--size 1000000]     # hostile posts instead

--posts sends hostile posts (issue 23: math openers without closers, a megabyte long; the
renderer's placeholders; deep nesting; escape sequences in titles, tags and categories; YAML
alias bombs; ids of 5,000 digits; charsets that are no codec) through every reader (JSON Lines,
markdown, saved HTML, the crawler on a loopback site), indexes what is read, then runs query,
show (rendered for a terminal) and similar on each post through the CLI. It counts internal
errors (an exception or exit 3), hangs (a step over --hang seconds) and escapes (a control
character of post data in the CLI's output); target 0 each.

Queries mix arbitrary code points (lone surrogates, controls, NUL), field syntax (tag:,
category:, year:, since:, until:, title:, -, quotes), dates in and out of range, real words
of the corpus, LaTeX spliced from pieces (unbalanced braces, `\\begin` without `\\end`, 999
backslashes) and very long strings. Every answer must be a SearchResult or a one-line
QuerySyntaxError; anything else is counted and shown (target: 0). The slowest query is shown
too. Without --data-dir it indexes the shared corpus first (lexically; hybrid needs vectors,
so --hybrid runs only on a --data-dir that has them).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from _common import DEFAULT_CORPUS, require_file
from hostile_posts import fuzz_posts

from search import QuerySyntaxError, Searcher, update

FIELDS = ["", "", "", "tag:", "category:", "title:", "year:", "since:", "until:", "-", '"', "“"]
WORDS = ["RoPE", "外推", "梯度", "位置编码", "Transformer", "$x^2$", "\\begin{equation}", "的"]
# LaTeX, whole or broken (formula search scans whatever a query holds): pieces to splice.
FORMULA_PIECES = [
    "\\frac{",
    "}{",
    "}",
    "{",
    "\\sqrt",
    "^{",
    "_{",
    "^",
    "_",
    "\\left(",
    "\\right)",
    "\\begin{align}",
    "\\end{align}",
    "\\\\",
    "&",
    "$",
    "$$",
    "\\",
    "\\text{",
    "\\color{red}",
    "\\mathrm{softmax}",
    "x",
    "\\theta",
    "e^{im\\theta}",
    "QK^\\top",
    "\\log",
    "\\sum_{i=1}^n",
    "=",
    "-\\nabla",
    "%",
    "0.5",
]


def random_formula(rng: random.Random) -> str:
    """LaTeX spliced from pieces (balanced or not), or a long run of one brace or backslash."""
    if rng.random() < 0.05:
        return rng.choice(["{", "}", "\\", "^", "_{", "\\frac"]) * rng.choice([10, 300, 999])
    return "".join(rng.choice(FORMULA_PIECES) for _ in range(rng.randrange(1, 30)))


def random_text(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        pick = rng.random()
        if pick < 0.4:
            out.append(chr(rng.randrange(0x4E00, 0x9FA6)))  # CJK
        elif pick < 0.6:
            out.append(chr(rng.randrange(0x20, 0x7F)))
        elif pick < 0.7:
            out.append(chr(rng.randrange(0xD800, 0xE000)))  # lone surrogates
        elif pick < 0.8:
            out.append(chr(rng.randrange(0, 0x20)))
        else:
            out.append(chr(rng.randrange(0, 0x110000)))
    return "".join(out)


def random_date(rng: random.Random) -> str:
    year = rng.choice([0, 1, 999, 1000, 1677, 1678, 2009, 2023, 2262, 2263, 9999, 99999])
    shape = rng.randrange(4)
    if shape == 0:
        return f"{year:04d}"
    if shape == 1:
        return f"{year:04d}-{rng.randrange(0, 14):02d}"
    if shape == 2:
        return f"{year:04d}-{rng.randrange(0, 14):02d}-{rng.randrange(0, 33):02d}"
    return f"{year}..{rng.choice([0, 2020, 9999])}"


def random_query(rng: random.Random, vocabulary: list[str]) -> str:
    if rng.random() < 0.01:
        return random_text(rng, rng.choice([999, 1000, 1001, 5000]))
    if rng.random() < 0.1:
        return random_formula(rng)
    parts = []
    for _ in range(rng.randrange(0, 7)):
        field = rng.choice(FIELDS)
        kind = rng.random()
        if field in ("year:", "since:", "until:") or kind < 0.1:
            value = random_date(rng)
        elif kind < 0.5:
            value = rng.choice(vocabulary)
        elif kind < 0.6:
            value = rng.choice(WORDS)
        elif kind < 0.7:
            value = random_formula(rng)
        else:
            value = random_text(rng, rng.randrange(0, 12))
        parts.append(field + value)
    return " ".join(parts)


def run(searcher: Searcher, queries: list[str], mode: str) -> tuple[Counter, list, tuple]:
    errors: Counter[str] = Counter()
    examples: list[tuple[str, str]] = []
    slowest = (0.0, "")
    for query in queries:
        started = time.perf_counter()
        try:
            searcher.search(query, mode=mode)  # type: ignore[arg-type]
        except QuerySyntaxError as exc:
            if "\n" in str(exc):
                errors["multi-line QuerySyntaxError"] += 1
        except Exception as exc:
            errors[type(exc).__name__] += 1
            if len(examples) < 5:
                examples.append((query, traceback.format_exc(limit=3)))
        took = time.perf_counter() - started
        if took > slowest[0]:
            slowest = (took, query)
    return errors, examples, slowest


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lexical", type=int, default=100_000)
    ap.add_argument("--hybrid", type=int, default=2_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--data-dir", type=Path, help="an index to use (with vectors for --hybrid)")
    ap.add_argument("--posts", action="store_true", help="fuzz hostile posts, not queries")
    ap.add_argument("--size", type=int, default=1_000_000, help="--posts: characters a bomb")
    ap.add_argument("--hang", type=float, default=10.0, help="--posts: seconds that are a hang")
    args = ap.parse_args()
    if args.posts:
        with tempfile.TemporaryDirectory(prefix="kexue-fuzz-posts-") as tmp:
            r = fuzz_posts(Path(tmp), size=args.size, hang_seconds=args.hang)
        print(r.report())
        return 0 if r.clean else 1
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kexue-fuzz-") as tmp:
        data_dir = args.data_dir
        if data_dir is None:
            data_dir = Path(tmp) / "data"
            update(data_dir, [require_file(args.corpus, "corpus")], vectors=False)
        with Searcher.open(data_dir) as searcher:
            vocabulary = [w for m in searcher.meta.values() for w in (m.title, *m.tags)]
            vocabulary = [w for text in vocabulary for w in text.split()] or WORDS
            plan = [("lexical", args.lexical)]
            if args.hybrid and searcher.has_vectors:
                searcher.warm_up()  # the model's loading is not a query's time
                plan.append(("hybrid", args.hybrid))
            elif args.hybrid:
                print(f"hybrid: skipped ({data_dir} has no vectors; pass --data-dir)")
            failed = 0
            for mode, count in plan:
                queries = [random_query(rng, vocabulary) for _ in range(count)]
                started = time.perf_counter()
                errors, examples, slowest = run(searcher, queries, mode)
                seconds = time.perf_counter() - started
                failed += sum(errors.values())
                print(
                    f"{mode:8} {count:>7} queries in {seconds:6.1f} s: "
                    f"{sum(errors.values())} unexpected exceptions (target 0) {dict(errors)}; "
                    f"slowest {slowest[0] * 1000:.0f} ms ({len(slowest[1])} chars: "
                    f"{slowest[1][:40]!r}…)"
                )
                for query, trace in examples:
                    print(f"  query {query[:80]!r}\n{trace}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
