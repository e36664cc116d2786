"""5-fold cross-validation of the fusion's knobs over the dev and the generated queries, and
the ablation table that judges the generated set.

    python bench/cv_fusion.py --data-dir DIR [--queries ../shared/eval/dev-queries.jsonl]
                              [--generated bench/out/generated-queries.jsonl]
                              [--knob NAME ...] [--ablations] [--types T,T,...]

`--ablations`: ~10 configurations (each list alone, no feedback, USE and BM25 weights apart)
scored per query type on dev and on the generated set, and per type the Spearman correlation
of the two sets' figures across the configurations: a generated type that tracks dev ranks the
configurations as dev does (near 1), one that does not cannot choose between them.

`--knob`: for each knob (one at a time, the others at their shipped values), every candidate
value runs the whole pipeline (`Searcher.ranking`) over all the queries once; then, for each of
5 folds, the value with the best nDCG@10 on the other four is picked and scored on the fold.
Printed per knob: each value's nDCG@10 on dev and generated apart (and on the Latin-script
queries), the value each fold picked, and the folds' held-out mean and spread, against the
shipped value's on the same folds. `--types` keeps the generated types named (those that track).

Query vectors and rankings are cached in bench/out/ (keyed by the code of search/ and index/,
so a change there ranks anew); the first pass over ~1,100 queries takes minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from _common import DEFAULT_QUERIES, REPO
from _qcache import persist_query_vectors
from scipy.stats import spearmanr

from search import DEFAULT_CONFIG, JudgedQuery, RankingConfig, Searcher, evaluate, load_queries

GENERATED = REPO / "bench" / "out" / "generated-queries.jsonl"
RANKINGS = REPO / "bench" / "out" / "rankings.json"


def _fusion(**changes: float) -> RankingConfig:
    named = ("e5", "bm25", "use", "bm25_fb")
    weights = {k: changes.pop(k) for k in list(changes) if k in named}
    fusion = replace(DEFAULT_CONFIG.fusion, **changes).with_weights(**weights)
    return replace(DEFAULT_CONFIG, fusion=fusion)


def _latin(**weights: float) -> RankingConfig:
    fusion = DEFAULT_CONFIG.fusion
    return replace(DEFAULT_CONFIG, fusion=replace(fusion, latin={**fusion.latin, **weights}))


KNOBS: dict[str, dict[float, RankingConfig]] = {
    "latin use weight": {w: _latin(use=w) for w in (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)},
    "latin bm25 weight": {w: _latin(bm25=w) for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)},
    "latin bm25 weight, use 0.8": {w: _latin(bm25=w, use=0.8) for w in (0.1, 0.2, 0.3, 0.4, 0.5)},
    "exact body min tokens": {n: replace(DEFAULT_CONFIG, exact_body_min_tokens=n) for n in (3, 4)},
    "use weight": {w: _fusion(use=w) for w in (0.2, 0.3, 0.4, 0.5, 0.6)},
    "bm25 weight": {w: _fusion(bm25=w) for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)},
    "dense feedback": {w: _fusion(feedback=w) for w in (0.0, 0.2, 0.4, 0.6)},
    "lexical feedback": {w: _fusion(bm25_fb=w) for w in (0.0, 0.15, 0.3, 0.45)},
}
SHIPPED = {
    "latin use weight": 0.4,
    "latin bm25 weight": 0.3,
    "latin bm25 weight, use 0.8": 0.3,
    "exact body min tokens": 3,
    "use weight": 0.4,
    "bm25 weight": 0.5,
    "dense feedback": 0.4,
    "lexical feedback": 0.3,
}
# A configuration, or the name of one first-round list ranked alone by the pipeline's tail.
ABLATIONS: dict[str, RankingConfig | str] = {
    "shipped": DEFAULT_CONFIG,
    "bm25 alone": "bm25",
    "e5 alone": "e5",
    "use alone": "use",
    "no feedback": _fusion(feedback=0.0, bm25_fb=0.0),
    "no lexical feedback": _fusion(bm25_fb=0.0),
    "use 0.2": _fusion(use=0.2),
    "use 0.6": _fusion(use=0.6),
    "bm25 0.3": _fusion(bm25=0.3),
    "bm25 0.7": _fusion(bm25=0.7),
}


def _code_key() -> str:
    """A fingerprint of the code and data a ranking depends on."""
    digest = hashlib.sha256()
    for folder in ("search", "index"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in {".py", ".tsv", ".txt"} and path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Rankings:
    """Each (configuration, query)'s ranked ids, cached on disk across runs."""

    def __init__(self, searcher: Searcher, data_dir: str) -> None:
        self.s = searcher
        self.key = f"{_code_key()}:{Path(data_dir).resolve()}"
        stored = json.loads(RANKINGS.read_text("utf-8")) if RANKINGS.is_file() else {}
        self.cache: dict[str, list[int]] = stored.get(self.key, {})
        self._shipped: dict[str, tuple] = {}  # the single-list rows re-rank one pass

    def get(self, query: str, variant: RankingConfig | str) -> list[int]:
        tag = f"{variant if isinstance(variant, str) else repr(variant)}\x00{query}"
        if tag not in self.cache:
            if isinstance(variant, str):
                if query not in self._shipped:
                    self._shipped[query] = self.s.ranking(query)
                analysed, ranking = self._shipped[query]
                if variant == "bm25":
                    ids = ranking.lists["bm25"].ids()
                else:
                    pipeline = self.s._pipeline(self.s.sides)
                    one = pipeline.finish(replace(ranking, final=(variant,)), analysed)
                    ids = [d for d, _ in one.ranked]
            else:
                ids = [d for d, _ in self.s.ranking(query, config=variant)[1].ranked]
            self.cache[tag] = ids
        return self.cache[tag]

    def save(self) -> None:
        tmp = RANKINGS.with_suffix(".tmp")
        tmp.write_text(json.dumps({self.key: self.cache}), "utf-8")
        tmp.replace(RANKINGS)


def ndcg(queries: list[JudgedQuery], ranked: dict[str, list[int]]) -> float:
    return evaluate(queries, lambda q: ranked[q]).overall["ndcg@10"] if queries else float("nan")


def latin(queries: list[JudgedQuery]) -> list[JudgedQuery]:
    return [q for q in queries if not any("\u3400" <= c <= "\u9fff" for c in q.query)]


def ablations(r: Rankings, dev: list[JudgedQuery], generated: list[JudgedQuery]) -> None:
    """Per type nDCG@10 of every ablation on dev and generated, and their rank correlation."""
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for name, variant in ABLATIONS.items():
        ranked = {q.query: r.get(q.query, variant) for q in [*dev, *generated]}
        d = evaluate(dev, lambda q: ranked[q])  # noqa: B023
        g = evaluate(generated, lambda q: ranked[q])  # noqa: B023
        row = {t: (d.by_type[t]["ndcg@10"], float("nan")) for t in d.by_type}
        for t, v in g.by_type.items():
            row[t] = (row.get(t, (float("nan"),))[0], v["ndcg@10"])
        row["all"] = (d.overall["ndcg@10"], g.overall["ndcg@10"])
        table[name] = row
        r.save()
    types = sorted({t for row in table.values() for t in row})
    print("nDCG@10 dev / generated per type")
    print(f"{'configuration':<20} " + " ".join(f"{t[:14]:>14}" for t in types))
    for name, row in table.items():
        cells = [row.get(t, (float("nan"), float("nan"))) for t in types]
        print(f"{name:<20} " + " ".join(f"{a:>7.3f}/{b:<6.3f}" for a, b in cells))
    print("\nSpearman rank correlation across configurations, generated type vs dev type")
    for t in types:
        dev_type = t.removesuffix("-own")
        xs = [table[n].get(dev_type, (float("nan"),))[0] for n in table]
        ys = [table[n].get(t, (0, float("nan")))[1] for n in table]
        if any(x != x for x in xs) or any(y != y for y in ys):
            continue
        rho = spearmanr(xs, ys).statistic
        print(f"  {t:<15} vs dev {dev_type:<11} rho {rho:+.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--generated", type=Path, default=GENERATED)
    ap.add_argument("--knob", action="append", choices=list(KNOBS), help="only these knobs")
    ap.add_argument("--ablations", action="store_true", help="the ablation table only")
    ap.add_argument("--types", help="only these generated types (comma-separated)")
    args = ap.parse_args()
    dev = load_queries(args.queries)
    generated = load_queries(args.generated) if args.generated.is_file() else []
    s = Searcher.open(args.data_dir)
    persist_query_vectors(s)
    r = Rankings(s, args.data_dir)
    if args.types:
        generated = [q for q in generated if q.type in args.types.split(",")]
    if args.ablations:
        ablations(r, dev, generated)
        return 0
    queries = [*dev, *generated]
    rng = random.Random(7)
    order = list(range(len(queries)))
    rng.shuffle(order)
    folds = [[queries[i] for i in order[k::5]] for k in range(5)]
    for knob in args.knob or list(KNOBS):
        cross_validate(r, knob, dev, generated, folds)
    return 0


def cross_validate(
    r: Rankings,
    knob: str,
    dev: list[JudgedQuery],
    generated: list[JudgedQuery],
    folds: list[list[JudgedQuery]],
) -> None:
    """One knob's values over all the queries, and the value 5 folds pick."""
    if knob.startswith("latin"):  # the others' rankings do not change: leave them out
        dev, generated = latin(dev), latin(generated)
        folds = [latin(fold) for fold in folds]
    queries = [*dev, *generated]
    ranked = {}
    for value, config in KNOBS[knob].items():
        ranked[value] = {q.query: r.get(q.query, config) for q in queries}
        r.save()
    print(f"\n{knob} (shipped {SHIPPED[knob]}): nDCG@10 dev / generated / Latin-script all")
    for value in KNOBS[knob]:
        print(
            f"  {value:>5}: {ndcg(dev, ranked[value]):.4f} / "
            f"{ndcg(generated, ranked[value]):.4f} / {ndcg(latin(queries), ranked[value]):.4f}"
            + "   by type "
            + " ".join(
                f"{t} {ndcg([q for q in dev if q.type == t], ranked[value]):.3f}/"
                f"{ndcg([q for q in generated if q.type == t], ranked[value]):.3f}"
                for t in sorted({q.type for q in queries})
            )
        )
    held, shipped, picks = [], [], []
    for k, fold in enumerate(folds):
        train = [q for j, f in enumerate(folds) if j != k for q in f]
        best = max(KNOBS[knob], key=lambda v: ndcg(train, ranked[v]))
        picks.append(best)
        held.append(ndcg(fold, ranked[best]))
        shipped.append(ndcg(fold, ranked[SHIPPED[knob]]))
    print(
        f"  folds picked {picks}: held-out {statistics.mean(held):.4f} "
        f"({min(held):.4f}..{max(held):.4f}); shipped value on the same folds "
        f"{statistics.mean(shipped):.4f} ({min(shipped):.4f}..{max(shipped):.4f}); "
        f"all queries, shipped: {ndcg(queries, ranked[SHIPPED[knob]]):.4f}"
    )


if __name__ == "__main__":
    sys.exit(main())
