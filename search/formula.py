"""Formula search: the LaTeX in a query, and the `formula` list that answers it.

A query holding `$…$`, or LaTeX the scanner recognises (`\\frac`, `^{`, `_{`, `x_t`, `e^x`…),
gets its formula part cut out (`FormulaQuery`); the whole text still searches as before, and the
formula's structural tokens (index/formula.py) search the `formula` field as one more named
list. A query without LaTeX has no formula part, so it ranks exactly as before (the 60 dev
queries only change on the one that is a formula).

The list's score is BM25 over the formula tokens times the post's coverage (the idf-weighted
share of the query's distinct tokens it holds): the same coordination that made BM25 over words
prefer a post with every term to one repeating a few (search/lexical.py), and what the floor
reads (a post covering enough of the formula is a hit on that evidence alone).
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from tantivy import Occur, Query

from index.formula import NAMES, formula_tokens, post_formulas
from index.lexical import FORMULA, ids_query, term_query
from search.fusion import BM25, BM25_FEEDBACK, CITED, FusionPolicy, RankedList
from search.fusion import FORMULA as FORMULA_LIST

if TYPE_CHECKING:
    from search.config import FormulaConfig
    from search.lexical import LexicalRetriever

# A LaTeX construct no prose holds: a command, a braced script, a script on a letter, digit or
# bracket, a one-character subscript of a lone letter (`u_t`, `W_0`, not `clip_grad_norm`).
_MARKER = re.compile(
    r"\\[A-Za-z]+|[\^_]\{|[A-Za-z0-9)\]}]\^[A-Za-z0-9\\({-]"
    r"|(?<![A-Za-z0-9_])[A-Za-z]_[A-Za-z0-9](?![A-Za-z0-9_])"
)
# Delimited math: `$$…$$`, `$…$`, MathJax's `\[…\]` and `\(…\)`.
_DOLLARS = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.S)
_OPERATOR_END = tuple("=+-*/<>(,^_|&")
_LATEXISH = re.compile(r"[=+<>()/|\\^_{}\[\]]|^[A-Za-z]$|^\d+(?:\.\d+)?$|^[-−]$")
_PIECES = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+|\S+")
_WORDS = re.compile(r"[A-Za-z]{2,}|[\u3400-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True, slots=True)
class FormulaQuery:
    """The formula part of a query: its LaTeX as typed, its distinct tokens, and whether it is
    the whole query (`alone`: no words around it)."""

    latex: str
    tokens: tuple[str, ...]
    alone: bool = True


def find_formula(text: str) -> str | None:
    """The LaTeX of `text`: inside its `$…$` (or `\\[…\\]`, `\\(…\\)`), or else the longest
    stretches of whitespace-separated pieces that read as math and hold a LaTeX construct (the
    words around, Chinese or English, stay out). None when there is none."""
    if not text or ("\\" not in text and "^" not in text and "_" not in text and "$" not in text):
        return None
    dollars = [next(g for g in m.groups() if g is not None) for m in _DOLLARS.finditer(text)]
    if dollars:
        found = " ".join(d.strip() for d in dollars if d and d.strip())
        return found or None
    runs: list[list[str]] = []
    run: list[str] = []
    for m in _PIECES.finditer(text):
        piece = m.group()
        if _CJK.match(piece):
            if run:
                runs.append(run)
            run = []
            continue
        joins = bool(run) and run[-1].endswith(_OPERATOR_END)
        if _LATEXISH.search(piece) or joins:
            run.append(piece)
        else:
            if run:
                runs.append(run)
            run = []
    if run:
        runs.append(run)
    found = [" ".join(r) for r in runs if any(_MARKER.search(p) for p in r)]
    return " ".join(found) if found else None


def formula_query(text: str) -> FormulaQuery | None:
    """The formula part of a query and its tokens, or None (no LaTeX, or none that tokenises)."""
    latex = find_formula(text)
    if latex is None:
        return None
    tokens = tuple(dict.fromkeys(formula_tokens(latex)))
    rest = text
    for part in latex.split():
        rest = rest.replace(part, " ", 1)
    alone = not _WORDS.search(rest)
    return FormulaQuery(latex, tokens, alone) if tokens else None


@dataclass(frozen=True, slots=True)
class FormulaMatches:
    """The formula list, each listed post's coverage, and the query tokens' weights (the
    weightiest first)."""

    ranked: RankedList
    coverage: Mapping[int, float]
    weights: Mapping[str, float] = field(default_factory=dict)


class FormulaRetriever:
    """BM25 over the `formula` field of the lexical retriever's searcher, re-ranked by
    coverage. Keeps no per-search state (its document frequencies are a cache)."""

    def __init__(self, lexical: LexicalRetriever) -> None:
        self.lexical = lexical
        self.searcher = lexical.searcher
        self.schema = lexical.schema
        self._df: dict[str, int] = {}
        self._lock = threading.Lock()

    def weights(self, tokens: tuple[str, ...], config: FormulaConfig) -> dict[str, float]:
        """Each token's weight: its idf over the posts' formula fields, names scaled down. A
        token no post has weighs as much as the rarest (it counts against every post)."""
        n = max(self.searcher.num_docs, 1)
        out = {}
        for tok in tokens:
            df = self._df.get(tok)
            if df is None:
                df = self.searcher.doc_freq(FORMULA, tok)
                with self._lock:
                    self._df[tok] = df
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            out[tok] = idf * (config.names_weight if tok.startswith(NAMES) else 1.0)
        return out

    def search(
        self,
        fq: FormulaQuery,
        limit: int,
        config: FormulaConfig,
        allowed: set[int] | None = None,
    ) -> FormulaMatches:
        """The posts whose formulas share the most of `fq`'s tokens, best first (among
        `allowed` only, when given)."""
        empty = FormulaMatches(RankedList(FORMULA_LIST), {})
        weights = self.weights(fq.tokens, config)
        present = [t for t in weights if self._df.get(t)]
        if not present or (allowed is not None and not allowed):
            return empty
        names = config.names_weight
        query = Query.boolean_query(
            [
                (
                    Occur.Should,
                    term_query(self.schema, FORMULA, t, names if t.startswith(NAMES) else 1.0),
                )
                for t in present
            ]
        )
        if allowed is not None:
            among = Query.const_score_query(ids_query(self.schema, list(allowed)), 0.0)
            query = Query.boolean_query([(Occur.Must, query), (Occur.Must, among)])
        found = self.searcher.search(query, max(limit, config.candidates))
        bm25 = [(self.lexical.post_of(a), float(s)) for s, a in found.hits]
        if not bm25:
            return empty
        coverage = self._coverage([p for p, _ in bm25], weights, present)
        power = config.coverage_power
        scored = sorted(
            ((p, s * coverage[p] ** power) for p, s in bm25), key=lambda x: x[1], reverse=True
        )
        ranked = RankedList(FORMULA_LIST, tuple(scored[:limit]), found.count)
        weightiest = dict(sorted(weights.items(), key=lambda x: -x[1]))
        return FormulaMatches(ranked, coverage, weightiest)

    def _coverage(
        self, post_ids: list[int], weights: Mapping[str, float], present: list[str]
    ) -> dict[int, float]:
        """Each post's weighted share of the query's tokens, from one search of constant-score
        clauses (as search/lexical.py's coordination)."""
        total = sum(weights.values()) or 1.0
        clauses = [(Occur.Must, Query.const_score_query(ids_query(self.schema, post_ids), 0.0))]
        clauses += [
            (
                Occur.Should,
                Query.const_score_query(term_query(self.schema, FORMULA, t), weights[t] / total),
            )
            for t in present
        ]
        share = dict.fromkeys(post_ids, 0.0)
        found = self.searcher.search(Query.boolean_query(clauses), max(len(post_ids), 1))
        for score, addr in found.hits:
            share[self.lexical.post_of(addr)] = min(float(score), 1.0)
        return share


def fusion_policy(fusion: FusionPolicy, fq: FormulaQuery, config: FormulaConfig) -> FusionPolicy:
    """`fusion` for a query holding `fq`. With words around it, the formula list weighs
    `with_words` times its weight and BM25, which holds the words, `bm25_with_words` times:
    the words name the post, the formula narrows it. A formula alone has no words, so the
    words of the posts its formula finds (lexical feedback) weigh `feedback_alone` times more:
    they say what the formula is about, and find the posts that write it otherwise; the dense
    models' lists, which read LaTeX poorly, weigh `dense_alone` times theirs."""
    if not fq.alone:
        if config.with_words == 1.0 and config.bm25_with_words == 1.0:
            return fusion
        formula = fusion.weight(FORMULA_LIST) * config.with_words
        bm25 = fusion.weight(BM25) * config.bm25_with_words
        return replace(fusion, weights={**fusion.weights, FORMULA_LIST: formula, BM25: bm25})
    if config.dense_alone == 1.0 and config.feedback_alone == 1.0:
        return fusion
    lexical = {BM25, BM25_FEEDBACK, CITED, FORMULA_LIST}
    weights = {k: w * config.dense_alone for k, w in fusion.weights.items() if k not in lexical}
    weights[BM25_FEEDBACK] = fusion.weight(BM25_FEEDBACK) * config.feedback_alone
    return replace(fusion, weights={**fusion.weights, **weights})


# -- the formula a hit shows ---------------------------------------------------------------------
_SPANS_KEPT = 256
# The query tokens that choose the formula shown: over the 200 top-10 hits of the formula-dev
# queries, the inverted map takes 75-77 us a hit with all of them (a common token lists most of
# a post's formulas) and 23-28 us with the 40 weightiest (median; the scan of every formula's
# token set it replaced took 0.4 ms).
SHOWN_TOKENS = 40


@dataclass(frozen=True, slots=True)
class _PostFormulas:
    """A post's formulas (their spans) and, for each token, the formulas holding it."""

    spans: tuple[tuple[int, int], ...]
    holding: Mapping[str, tuple[int, ...]]


_posts: OrderedDict[tuple[int, int], _PostFormulas] = OrderedDict()
_posts_lock = threading.Lock()


def _post_formulas(post_id: int, body: str) -> _PostFormulas:
    """A post's formulas with their tokens, kept for the last posts shown (tokenising a post's
    formulas takes milliseconds; looking tokens up in the kept map, microseconds)."""
    key = (post_id, hash(body))
    with _posts_lock:
        kept = _posts.get(key)
        if kept is not None:
            _posts.move_to_end(key)
            return kept
    spans = tuple(post_formulas(body))
    holding: dict[str, list[int]] = {}
    for i, (start, end) in enumerate(spans):
        for token in set(formula_tokens(body[start:end])):
            holding.setdefault(token, []).append(i)
    made = _PostFormulas(spans, {t: tuple(v) for t, v in holding.items()})
    with _posts_lock:
        _posts[key] = made
        while len(_posts) > _SPANS_KEPT:
            _posts.popitem(last=False)
    return made


def best_formula(
    post_id: int, body: str, weights: Mapping[str, float], longest: int | None = None
) -> tuple[int, int, tuple[str, ...]] | None:
    """The formula of `body` that holds the most of the query's tokens (by weight): its span
    and the tokens it matched, weightiest first; None when none matches any. `weights` come
    weightiest first (FormulaMatches.weights), and only the first SHOWN_TOKENS count: the
    common ones (`v=v`) are in most formulas and would cost most of the time. `longest`: only
    formulas of at most this many characters."""
    post = _post_formulas(post_id, body)
    scores: dict[int, float] = {}
    for token, weight in itertools.islice(weights.items(), SHOWN_TOKENS):
        for i in post.holding.get(token, ()):
            scores[i] = scores.get(i, 0.0) + weight
    if longest is not None:  # the formulas short enough to show
        scores = {i: v for i, v in scores.items() if post.spans[i][1] - post.spans[i][0] <= longest}
    if not scores:
        return None
    best = max(scores, key=lambda i: (scores[i], -i))
    matched = [
        t for t in itertools.islice(weights, SHOWN_TOKENS) if best in post.holding.get(t, ())
    ]
    matched.sort(key=lambda t: -weights[t])
    start, end = post.spans[best]
    return start, end, tuple(matched)
