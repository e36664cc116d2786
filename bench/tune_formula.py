"""Grid over the formula list's values, on the judged formula queries and on queries made from
the corpus, for choosing the defaults in search/config.py.

    python bench/tune_formula.py --data-dir DIR [--queries ../shared/eval/formula-dev.jsonl]
        [--generated 60] [--modes hybrid,lexical]

The judged set has 20 queries (the hidden one 30): too few to pick values on alone. So the
script also makes queries from the corpus: display formulas of 40-200 characters, each written
differently (every variable renamed, `\\frac{a}{b}` as `{a}/{b}`, `\\left`/`\\right` added or
dropped, `\\boldsymbol` and spacing changed), whose target is the post they came from (grade 2;
other posts holding the very same formula grade 1). A value is chosen where both agree, on a
plateau. Every variant is a `RankingConfig` run through `Searcher.ranking`: what ships.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from corpus.latex import DISPLAY_MATH
from corpus.readers import read_source
from search import DEFAULT_CONFIG, RankingConfig, Searcher, load_queries
from search.evaluate import dedupe, ndcg_at

_LETTER = re.compile(r"(?<![\\A-Za-z])([A-Za-z])(?![A-Za-z])")


def perturb(latex: str, rng: random.Random) -> str:
    """`latex` as someone else would write it: the same formula, other letters and markup."""
    letters = sorted(set(_LETTER.findall(latex)))
    pool = [c for c in "abcdfghkpqruvwxyzABCDFGHKPQRUVWXYZ" if c not in letters]
    rng.shuffle(pool)
    renamed = dict(zip(letters, pool, strict=False))
    out = _LETTER.sub(lambda m: renamed.get(m.group(1), m.group(1)), latex)
    out = re.sub(r"\\[dt]?frac\{([^{}]*)\}\{([^{}]*)\}", r"{\1}/{\2}", out)
    out = re.sub(r"\\(?:left|right)(?![A-Za-z])", "", out)  # not `\\leftarrow`
    if rng.random() < 0.5:  # sized anew (once: `\\left\\left(` was a doubled size)
        out = out.replace("(", "\\left(").replace(")", "\\right)")
    out = out.replace("\\boldsymbol", "").replace("\\,", " ")
    return out


def generated(corpus: Path, n: int, seed: int = 20) -> list[tuple[str, dict[int, int]]]:
    rng = random.Random(seed)
    formulas: dict[str, set[int]] = defaultdict(set)
    for post in read_source(corpus):
        if not hasattr(post, "body"):
            continue
        for m in DISPLAY_MATH.finditer(post.body):
            text = (m.group("dollars") or m.group("block") or "").strip()
            text = re.sub(r"\\(begin|end)\{[a-zA-Z*]+\}|\\label\{[^}]*\}", "", text).strip()
            if 40 <= len(text) <= 200 and "\\\\" not in text and "&" not in text:
                formulas[text].add(post.id)  # type: ignore[union-attr]
    items = sorted(formulas.items())
    rng.shuffle(items)
    out = []
    for text, posts in items[:n]:
        relevant = dict.fromkeys(posts, 2) if len(posts) == 1 else dict.fromkeys(posts, 1)
        out.append((perturb(text, rng), relevant))
    return out


def _config(**changes: float) -> RankingConfig:
    formula = {
        k: changes.pop(k)
        for k in list(changes)
        if k in ("names_weight", "coverage_power", "with_words")
    }
    config = DEFAULT_CONFIG
    if formula:
        config = replace(config, formula=replace(config.formula, **formula))
    if "weight" in changes:
        config = replace(config, fusion=config.fusion.with_weights(formula=changes.pop("weight")))
    if "floor" in changes and config.floor is not None:
        config = replace(config, floor=replace(config.floor, formula=changes.pop("floor")))
    return config


def variants() -> dict[str, RankingConfig]:
    grid = {"default": DEFAULT_CONFIG, "no formula list": _config(weight=0.0)}
    for w in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
        grid[f"weight {w}"] = _config(weight=w)
    for nw in (0.0, 0.25, 0.5, 1.0):
        grid[f"names {nw}"] = _config(names_weight=nw)
    for p in (0.0, 1.0, 2.0, 3.0):
        grid[f"coverage ** {p}"] = _config(coverage_power=p)
    for m in (0.25, 0.5, 0.75):
        grid[f"with words x{m}"] = _config(with_words=m)
    for f in (0.3, 0.4, 0.6, 0.7):
        grid[f"floor {f}"] = _config(floor=f)
    return grid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    here = Path(__file__).resolve().parents[2] / "shared"
    ap.add_argument("--queries", default=str(here / "eval" / "formula-dev.jsonl"))
    ap.add_argument("--corpus", default=str(here / "corpus" / "kexue-posts.jsonl"))
    ap.add_argument("--generated", type=int, default=60)
    ap.add_argument("--modes", default="hybrid,lexical")
    ap.add_argument("--only", default="", help="comma-separated variant names")
    args = ap.parse_args()
    judged = [(q.query, q.relevant, q.type) for q in load_queries(Path(args.queries))]
    made = [(t, r, "generated") for t, r in generated(Path(args.corpus), args.generated)]
    grid = variants()
    if args.only:
        grid = {k: v for k, v in grid.items() if k in args.only.split(",")}
    with Searcher.open(args.data_dir) as s:
        for mode in args.modes.split(","):
            print(f"## {mode}: nDCG@10 by type (judged) and on {len(made)} generated queries")
            for name, config in grid.items():
                by: dict[str, list[float]] = defaultdict(list)
                for text, relevant, kind in (*judged, *made):
                    ranking = s.ranking(text, mode=mode, config=config)[1]  # type: ignore[arg-type]
                    score = ndcg_at(dedupe(p for p, _ in ranking.ranked), relevant)
                    by[kind].append(score)
                    if kind != "generated":
                        by["judged"].append(score)
                row = "  ".join(f"{k} {sum(v) / len(v):.3f}" for k, v in sorted(by.items()))
                print(f"{name:18} {row}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
