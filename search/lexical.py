"""BM25 retrieval: an analysed query becomes one Tantivy boolean query over jieba terms."""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tantivy
from tantivy import Occur, Query

from index.lexical import (
    BODY,
    DATE,
    ID,
    TAGS,
    TITLE,
    LexicalIndex,
    category_query,
    date_range_query,
    fuzzy_query,
    ids_query,
    phrase_query_at,
    tag_query,
    term_query,
)
from index.tokenize import QUERY_STOPWORDS, is_word, normalize, segment
from search.config import LexicalConfig
from search.expand import WRITTEN, Glossary
from search.query import Filters

if TYPE_CHECKING:
    from search.analysis import AnalyzedQuery

FEEDBACK_CACHE = 512  # posts whose marking terms are kept (a round reads a few)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")  # \mathcal, \frac: markup, not what a post is about


@dataclass(frozen=True, slots=True)
class LexicalHit:
    post_id: int
    score: float
    coverage: float = 1.0  # the idf-weighted share of the typed terms the post contains


@dataclass(frozen=True, slots=True)
class LexicalMatches:
    """The best hits and how many posts the query matched in all."""

    hits: list[LexicalHit]
    total: int


def _any_field(schema: tantivy.Schema, term: str, boosts: LexicalConfig) -> Query:
    """The term in any text field, weighted by field."""
    return Query.boolean_query(
        [(Occur.Should, term_query(schema, f, term, b)) for f, b in boosts.field_boosts.items()]
    )


def filter_clauses(schema: tantivy.Schema, filters: Filters) -> list[tuple[Occur, Query]]:
    clauses = [(Occur.Must, tag_query(schema, tag)) for tag in filters.tags]
    if filters.categories:
        clauses.append((Occur.Must, category_query(schema, filters.categories)))
    if filters.since or filters.until:
        clauses.append((Occur.Must, date_range_query(schema, filters.since, filters.until)))
    return clauses


def build_query(
    schema: tantivy.Schema,
    q: AnalyzedQuery,
    config: LexicalConfig,
    *,
    constraints_only: bool = False,
) -> Query:
    """The BM25 query; with `constraints_only`, just what a post must (not) contain: phrases,
    title words, exclusions and filters, for restricting semantic results the same way."""
    scoring: list[tuple[Occur, Query]] = []  # any of these makes a match, each adds to the score
    required: list[tuple[Occur, Query]] = []
    for term, weight in q.weighted:
        clause = _any_field(schema, term, config)
        scoring.append(
            (Occur.Should, clause if weight == 1.0 else Query.boost_query(clause, weight))
        )
    # The whole typed text as a phrase, and each quoted phrase: an exact title or sentence
    # match must rank first.
    phrases = [q.positions, *(p.segmented.positions for p in q.phrases)]
    for phrase in q.phrases:
        for term in phrase.segmented.all_terms:
            required.append((Occur.Must, _any_field(schema, term, config)))
    for positions in phrases:
        for f in (TITLE, BODY):
            boost = config.phrase_boost * config.field_boosts[f]
            query = phrase_query_at(schema, f, positions, boost)
            if query is not None:
                scoring.append((Occur.Should, query))
    for title in q.titles:
        for term in title.segmented.all_terms:
            required.append(
                (Occur.Must, term_query(schema, TITLE, term, config.field_boosts[TITLE]))
            )
    clauses = list(required)
    if scoring and not constraints_only:
        # Wrapped, so that required clauses and filters do not make the scoring terms optional.
        clauses.append((Occur.Must if not required else Occur.Should, Query.boolean_query(scoring)))
    for excluded in q.excluded:
        terms = excluded.segmented.all_terms
        if terms:
            every = Query.boolean_query(
                [(Occur.Must, _any_field(schema, t, config)) for t in terms]
            )
            clauses.append((Occur.MustNot, every))
    clauses.extend(filter_clauses(schema, q.filters))
    if not required and (constraints_only or not scoring):
        if q.has_text and not constraints_only:
            # Text with no searchable term (punctuation, symbols): it matches nothing, not all.
            return Query.boolean_query([(Occur.MustNot, Query.all_query())])
        clauses.append((Occur.Must, Query.all_query()))
    return Query.boolean_query(clauses)


def contains_phrases(text: str, q: AnalyzedQuery) -> bool:
    """Whether `text` holds every quoted phrase of `q`, folded as the query was."""
    low = normalize(text)
    return all(p.folded in low for p in q.phrases)


_counted: OrderedDict[bytes, tuple[int, tuple[tuple[str, int], ...]]] = OrderedDict()
_counted_lock = threading.Lock()


def term_counts(text: str, most: int) -> tuple[int, tuple[tuple[str, int], ...]]:
    """How many words `text` has, and its `most` most frequent terms with their
    counts (LaTeX commands, stopwords and single characters left out).

    Segmenting a post takes ~3 ms of Python; the counts depend on the text alone, so they are
    kept across index generations, by the text's digest: after a commit the server's new
    searcher would otherwise segment every popular post again (hybrid queries on a fresh
    generation: 18 ms each instead of 11)."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    key = digest + most.to_bytes(4, "little")
    with _counted_lock:
        kept = _counted.get(key)
        if kept is not None:
            _counted.move_to_end(key)
            return kept
    words = [
        w
        for w in segment(normalize(_LATEX_COMMAND.sub(" ", text)))
        if len(w) > 1 and is_word(w) and w not in QUERY_STOPWORDS
    ]
    made = (len(words), tuple(Counter(words).most_common(most)))
    with _counted_lock:
        _counted[key] = made
        while len(_counted) > FEEDBACK_CACHE:
            _counted.popitem(last=False)
    return made


class LexicalRetriever:
    """BM25 over one Tantivy searcher, re-ranked by coordination.

    BM25 sums per-term scores, so a post that repeats one common query term can outrank a post
    that has every term. Multiplying by the idf-weighted share of query terms a post contains
    fixes that: on the dev queries nDCG@10 went from 0.744 to 0.804 (questions 0.66 -> 0.72,
    paraphrases 0.72 -> 0.84), with no loss on keyword or exact queries.
    """

    def __init__(
        self,
        index: LexicalIndex,
        glossary: Glossary = WRITTEN,
        config: LexicalConfig | None = None,
    ) -> None:
        """`glossary`: the vocabulary typo correction must not touch (search.spelling)."""
        self.schema = index.schema
        self.glossary = glossary
        self.config = config or LexicalConfig()
        self.searcher = index.searcher()
        everything = self.searcher.search(Query.all_query(), max(self.searcher.num_docs, 1))
        # Doc addresses are stable for one searcher: map them to post ids once, not per hit.
        self._ids = {
            (a.segment_ord, a.doc): self.searcher.doc(a)[ID][0] for _, a in everything.hits
        }
        self._df: dict[str, int] = {}
        self._id_terms: dict[int, Query] = {}  # a post's id as a term query (_these)
        self._marks: OrderedDict[int, tuple[tuple[str, float], ...]] = OrderedDict()
        self._lock = threading.Lock()

    def _post(self, addr: tantivy.DocAddress) -> int:
        return self._ids[(addr.segment_ord, addr.doc)]

    def post_of(self, addr: tantivy.DocAddress) -> int:
        """The post id of a hit of this retriever's searcher (the formula list's too)."""
        return self._ids[(addr.segment_ord, addr.doc)]

    def idf(self, term: str) -> float:
        n, df = self.searcher.num_docs, self.doc_freq(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(
        self, q: AnalyzedQuery, limit: int, *, among: Collection[int] | None = None
    ) -> LexicalMatches:
        """Best posts first, among `among` only when given. Phrases are verified on the
        original text by the caller."""
        query = build_query(self.schema, q, self.config)
        if among is not None:
            only = Query.const_score_query(ids_query(self.schema, list(among)), 0.0)
            query = Query.boolean_query([(Occur.Must, query), (Occur.Must, only)])
        if not q.has_text:
            result = self.searcher.search(query, limit, order_by_field=DATE)
            hits = [LexicalHit(self._post(a), 0.0) for _, a in result.hits]
            return LexicalMatches(hits, result.count)
        result = self.searcher.search(query, max(limit, self.config.coord_depth))
        ids = self._ids
        found = [(ids[(a.segment_ord, a.doc)], float(score)) for score, a in result.hits]
        terms = list(q.terms)
        if (len(terms) > 1 or q.parts) and found:
            hits = self._coordinate(found, terms, dict(q.parts), limit)
        else:
            hits = [LexicalHit(p, score) for p, score in found[:limit]]
        return LexicalMatches(hits, result.count)

    def doc_freq(self, term: str) -> int:
        """How many posts hold `term` in their title, body or tags (the most of the three)."""
        df = self._df.get(term)
        if df is None:
            df = self._df[term] = max(self.searcher.doc_freq(f, term) for f in (TITLE, BODY, TAGS))
        return df

    def feedback(
        self,
        posts: Sequence[tuple[int, float]],
        texts: Callable[[list[int]], list[str]],
        *,
        exclude: Collection[str],
        terms: int,
        limit: int,
        allowed: Collection[int] | None = None,
    ) -> list[LexicalHit]:
        """Posts found by the `terms` terms that mark the (post id, weight) `posts` most, but
        those in `exclude` (the query's own), as one BM25 query weighted by how much each marks
        them, each post counting by its weight; among `allowed` only, when given. `texts` gives
        posts' titles and bodies, for those whose terms are not kept yet (RM3-like
        pseudo-relevance feedback; FusionPolicy)."""
        post_ids = [p for p, _ in posts]
        with self._lock:
            marks = {p: self._marks.get(p) for p in post_ids}
        missing = [p for p, m in marks.items() if m is None]
        if missing:
            made = {p: self._marking(text) for p, text in zip(missing, texts(missing), strict=True)}
            marks.update(made)
            with self._lock:
                self._marks.update(made)
                while len(self._marks) > FEEDBACK_CACHE:
                    self._marks.popitem(last=False)
        summed: Counter[str] = Counter()
        for p, share in posts:
            for term, weight in marks[p] or ():
                if term not in exclude:
                    summed[term] += share * weight
        chosen = summed.most_common(terms)
        if not chosen or (allowed is not None and not allowed):
            return []
        top = chosen[0][1]
        query = Query.boolean_query(
            [
                (Occur.Should, Query.boost_query(_any_field(self.schema, t, self.config), w / top))
                for t, w in chosen
            ]
        )
        if allowed is not None:
            among = Query.const_score_query(ids_query(self.schema, list(allowed)), 0.0)
            query = Query.boolean_query([(Occur.Must, query), (Occur.Must, among)])
        found = self.searcher.search(query, limit, count=False)
        return [LexicalHit(self._post(a), float(score)) for score, a in found.hits]

    def _marking(self, text: str) -> tuple[tuple[str, float], ...]:
        """A post's terms by how much they mark it: share of its words times idf, best first."""
        config = self.config
        total, counts = term_counts(text, config.feedback_candidates)
        most = config.feedback_max_share * self.searcher.num_docs
        scored = []
        for term, count in counts:
            df = self.doc_freq(term)
            if config.feedback_min_posts <= df <= most:
                scored.append((term, count / total * self.idf(term)))
        scored.sort(key=lambda x: x[1], reverse=True)
        return tuple(scored[: config.feedback_kept])

    def unseen(self, terms: list[str]) -> list[str]:
        """The terms no post has in any field."""
        fields = (TITLE, BODY, TAGS, "category")
        return [t for t in terms if not any(self.searcher.doc_freq(f, t) for f in fields)]

    def near(self, term: str, distance: int, *, prefix: bool = False, limit: int = 50) -> list[int]:
        """Posts holding a word within `distance` edits of `term` (or starting with it)."""
        clauses = [
            (Occur.Should, fuzzy_query(self.schema, f, term, distance, prefix=prefix))
            for f in (TITLE, BODY, TAGS)
        ]
        found = self.searcher.search(Query.boolean_query(clauses), limit, count=False)
        return [self._post(a) for _, a in found.hits]

    def constrained(self, q: AnalyzedQuery) -> set[int] | None:
        """Posts that satisfy the query's hard parts, or None when it has none."""
        if not q.hard:
            return None
        query = build_query(self.schema, q, self.config, constraints_only=True)
        found = self.searcher.search(query, max(self.searcher.num_docs, 1), count=False)
        return {self._post(a) for _, a in found.hits}

    def exact(self, positions: Sequence[tuple[int, str]], field: str, limit: int = 10) -> list[int]:
        """Posts whose `field` holds these tokens as a phrase."""
        query = phrase_query_at(self.schema, field, positions)
        if query is None:
            return []
        found = self.searcher.search(query, limit, count=False)
        return [self._post(a) for _, a in found.hits]

    def coverage(self, q: AnalyzedQuery, post_ids: list[int]) -> dict[int, float]:
        """How much of the query's typed terms each of these posts contains (idf-weighted)."""
        if not q.terms:
            return dict.fromkeys(post_ids, 1.0)
        return self._shares(post_ids, list(q.terms), dict(q.parts))

    def _shares(
        self, post_ids: list[int], terms: list[str], parts: Mapping[str, Sequence[str]]
    ) -> dict[int, float]:
        """Each post's idf-weighted share of `terms`, from one search: each term a constant
        score of its weight, so a post's score is the sum of the terms it holds. A search per
        term cost the dev queries 7.2 ms a lexical query (4.4 ms so), 14.1 ms a hybrid one
        (9.1), their query vectors kept."""
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        clauses = [(Occur.Must, Query.const_score_query(self._these(post_ids), 0.0))]
        clauses += [
            (Occur.Should, Query.const_score_query(self._held(t, parts.get(t)), w / total))
            for t, w in weights.items()
        ]
        share = dict.fromkeys(post_ids, 0.0)
        found = self.searcher.search(Query.boolean_query(clauses), max(len(post_ids), 1))
        for score, addr in found.hits:
            share[self._post(addr)] = float(score)
        return share

    def _these(self, post_ids: list[int]) -> Query:
        """These posts, as a union of one id term each, the terms kept per post: for the
        hundred posts coordination re-ranks, 0.11 ms a query where ids_query's term set took
        0.21 ms (dev queries, shared corpus), with the same scores."""
        terms = self._id_terms
        for p in post_ids:
            if p not in terms:
                terms[p] = Query.term_query(self.schema, ID, p)
        return Query.boolean_query([(Occur.Should, terms[p]) for p in post_ids])

    def _held(self, term: str, parts: Sequence[str] | None) -> Query:
        """A post holds `term`: the term itself, or every one of its `parts` (the dictionary
        words of a compound the post writes otherwise)."""
        query = _any_field(self.schema, term, self.config)
        if not parts:
            return query
        every = Query.boolean_query(
            [(Occur.Must, _any_field(self.schema, p, self.config)) for p in parts]
        )
        return Query.boolean_query([(Occur.Should, query), (Occur.Should, every)])

    def _coordinate(
        self,
        found: list[tuple[int, float]],
        terms: list[str],
        parts: Mapping[str, Sequence[str]],
        limit: int,
    ) -> list[LexicalHit]:
        """The best `limit` of `found` (post id, BM25 score) by BM25 times coverage."""
        share = self._shares([p for p, _ in found], terms, parts)
        rescored = [(p, score * share[p], share[p]) for p, score in found]
        rescored.sort(key=lambda h: h[1], reverse=True)
        return [LexicalHit(*h) for h in rescored[:limit]]
