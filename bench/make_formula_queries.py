"""Generate judged formula queries from the archive: a tuning set larger than formula-dev's 20.

    python bench/make_formula_queries.py [--corpus ../shared/corpus/kexue-posts.jsonl]
        [--out bench/out/formula-queries.jsonl] [--per-type 100]

Deterministic (a fixed seed, posts in id order). The types follow formula-dev.jsonl's:
- `formula-exact`: one line of a display formula (20-300 characters) copied as the post writes it;
- `formula-variant`: the same, written as someone else would (bench/tune_formula.py `perturb`:
  every variable renamed, `\\frac{a}{b}` as `{a}/{b}`, `\\left`/`\\right` added or dropped,
  `\\boldsymbol` and thin spaces removed);
- `formula-mixed`: the post's rarest tag and a short formula of its own (6-40 symbols) that no
  other post writes, as `Lion 优化器 u_t = …` is.
Grades: a post writing the same formula (the same normalised symbols, index.formula.symbols) is
relevant at 2; at 1, as the judged set grades a post that restates the formula in its own
notation, one writing the same structure with other letters (the same roles), or one linked with
the post (either way) holding a formula with at least half the query's structure tokens (in
formula-dev, 17 of the 26 other posts judged for its exact and variant queries link to or from
the post the formula came from). Formulas written by more than 5 posts (`x^2`) are left out:
they name no post.
The output holds corpus text: it goes to bench/out/ (ignored by git) and is never committed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

from _common import DEFAULT_CORPUS, REPO, require_file
from tune_formula import perturb

from corpus.latex import math_spans
from corpus.post import Post
from corpus.readers import read_source
from index.formula import STRUCTURE, formula_tokens, role, symbols

SEED = 20
_ENV = re.compile(r"\\(begin|end)\{[a-zA-Z*]+\}(\{[^{}]*\})?|\\label\{[^}]*\}|\\tag\{[^}]*\}")
_MOST_POSTS = 5
_LINK = re.compile(r"kexue\.fm/archives/(\d+)")
# A linked post restates the formula when one of its formulas holds this share of the query's
# structure tokens.
_RESTATES = 0.5
# Table rows and prose in math (`\\hline`, `\\text{中文}`, `[5pt]` row spacing) are no formula a
# reader remembers.
_NOT_A_FORMULA = re.compile(r"\\hline|\\text\{[^}]*[\u3400-\u9fff]|\\multicolumn|^\[[^\]]*\]")


def _strip(text: str) -> str:
    for left, right in (("$$", "$$"), ("$", "$"), ("\\[", "\\]"), ("\\(", "\\)")):
        if text.startswith(left) and text.endswith(right) and len(text) >= len(left) * 2:
            return text[len(left) : -len(right)]
    return text


def _lines(latex: str) -> list[str]:
    """The lines of a display formula without its environment, labels and alignment."""
    body = _ENV.sub("", _strip(latex))
    lines = (line.replace("&", "").strip() for line in re.split(r"\\\\", body))
    return [line for line in lines if not _NOT_A_FORMULA.search(line)]


def _key(latex: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A formula's normalised symbols and their roles."""
    syms = tuple(s for s in symbols(latex) if s is not None)
    return syms, tuple(role(s) for s in syms)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "formula-queries.jsonl")
    ap.add_argument("--per-type", type=int, default=100)
    args = ap.parse_args()
    posts = sorted(
        (p for p in read_source(require_file(args.corpus, "corpus")) if isinstance(p, Post)),
        key=lambda p: p.id,
    )
    by_symbols: dict[tuple[str, ...], set[int]] = defaultdict(set)
    by_roles: dict[tuple[str, ...], set[int]] = defaultdict(set)
    lines: list[tuple[int, str, bool]] = []  # (post, line, from a display formula)
    for post in posts:
        for start, end in math_spans(post.body):
            latex = post.body[start:end]
            display = not latex.startswith("$") or latex.startswith("$$")
            for line in _lines(latex) if display else [_strip(latex).strip()]:
                syms, roles = _key(line)
                if len(syms) >= 6:
                    by_symbols[syms].add(post.id)
                    by_roles[roles].add(post.id)
                    lines.append((post.id, line, display))
    ids = {p.id for p in posts}
    linked: dict[int, set[int]] = defaultdict(set)
    for post in posts:
        for target in map(int, _LINK.findall(post.body)):
            if target in ids and target != post.id:
                linked[post.id].add(target)
                linked[target].add(post.id)
    bodies = {p.id: p.body for p in posts}
    structures: dict[int, list[frozenset[str]]] = {}

    def structure(latex: str) -> frozenset[str]:
        return frozenset(t for t in formula_tokens(latex) if t.startswith(STRUCTURE))

    def restating(post_id: int, query: frozenset[str]) -> bool:
        if post_id not in structures:
            body = bodies[post_id]
            structures[post_id] = [structure(body[a:b]) for a, b in math_spans(body)]
        return any(len(query & f) >= _RESTATES * len(query) for f in structures[post_id])

    tag_posts = Counter(t for p in posts for t in set(p.tags))
    tags = {p.id: sorted(p.tags, key=lambda t: (tag_posts[t], t)) for p in posts}

    def graded(line: str) -> dict[int, int] | None:
        syms, roles = _key(line)
        same = by_symbols[syms]
        if not same or len(same) > _MOST_POSTS:
            return None
        query = structure(line)
        near = {p for s in same for p in linked[s] if p not in same and restating(p, query)}
        relevant = dict.fromkeys(sorted((by_roles[roles] | near) - same)[: 2 * _MOST_POSTS], 1)
        return {**relevant, **dict.fromkeys(sorted(same), 2)}

    rng = random.Random(SEED)
    rng.shuffle(lines)
    out: list[dict[str, object]] = []
    made: Counter[str] = Counter()
    seen: set[str] = set()
    for post_id, line, display in lines:
        relevant = graded(line)
        if relevant is None or line in seen:
            continue
        n = len(_key(line)[0])
        kinds = []
        if display and 20 <= len(line) <= 300:
            kinds = ["formula-exact", "formula-variant"]
        elif 6 <= n <= 40 and relevant == {post_id: 2} and tags[post_id]:
            kinds = ["formula-mixed"]
        for kind in kinds:
            if made[kind] >= args.per_type:
                continue
            seen.add(line)
            if kind == "formula-exact":
                query = line
            elif kind == "formula-variant":
                query = perturb(line, rng)
            else:
                query = f"{tags[post_id][0]} {line}"
            made[kind] += 1
            qid = f"fg-{kind.removeprefix('formula-')}-{made[kind]:03d}"
            out.append({"qid": qid, "query": query, "type": kind, "relevant": relevant})
            break  # a line gives one query: exact and variant come from different lines
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in out), "utf-8")
    tmp.replace(args.out)
    print(f"{len(out)} queries ({dict(made)}) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
