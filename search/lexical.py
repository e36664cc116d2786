"""BM25 retrieval: a ParsedQuery becomes one Tantivy boolean query over jieba terms."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import tantivy
from tantivy import Occur, Query

from index.lexical import LexicalIndex
from index.tokenize import index_tokens, normalize, query_terms
from search.query import Filters, ParsedQuery

# Field weights and the whole-phrase bonus, tuned on the dev queries (bench/eval_lexical.py).
FIELD_BOOSTS = {"title": 3.0, "tags": 1.5, "body": 1.0, "category": 0.3}
PHRASE_BOOST = 2.0


@dataclass(frozen=True, slots=True)
class LexicalHit:
    post_id: int
    score: float


def _term(schema: tantivy.Schema, field: str, term: str, boost: float = 1.0) -> Query:
    q = Query.term_query(schema, field, term)
    return q if boost == 1.0 else Query.boost_query(q, boost)


def _any_field(schema: tantivy.Schema, term: str) -> Query:
    """The term in any text field, weighted by field."""
    return Query.boolean_query(
        [(Occur.Should, _term(schema, f, term, b)) for f, b in FIELD_BOOSTS.items()]
    )


def _all_terms(schema: tantivy.Schema, text: str) -> list[str]:
    return query_terms(text, drop_stopwords=False)


def _phrase(schema: tantivy.Schema, field: str, text: str, boost: float) -> Query | None:
    """Tokens of `text` at their positions (the index's own tokenization), or None for one token."""
    primary: dict[int, str] = {}
    for tok in index_tokens(text):
        primary.setdefault(tok.position, tok.text)
    if len(primary) < 2:
        return None
    words = [(pos, word) for pos, word in sorted(primary.items())]
    return Query.boost_query(Query.phrase_query(schema, field, words), boost)


def filter_clauses(schema: tantivy.Schema, filters: Filters) -> list[tuple[Occur, Query]]:
    clauses: list[tuple[Occur, Query]] = []
    for tag in filters.tags:
        clauses.append((Occur.Must, _term(schema, "tag_exact", normalize(tag))))
    if filters.categories:
        any_cat = [
            (Occur.Should, _term(schema, "category_exact", normalize(c)))
            for c in filters.categories
        ]
        clauses.append((Occur.Must, Query.boolean_query(any_cat)))
    if filters.since or filters.until:
        lo = filters.since or dt.date(1, 1, 1)
        hi = filters.until or dt.date(9999, 12, 31)
        clauses.append(
            (
                Occur.Must,
                Query.range_query(
                    schema,
                    "date",
                    tantivy.FieldType.Date,
                    dt.datetime(lo.year, lo.month, lo.day),
                    dt.datetime(hi.year, hi.month, hi.day),
                ),
            )
        )
    return clauses


def build_query(schema: tantivy.Schema, parsed: ParsedQuery) -> Query:
    clauses: list[tuple[Occur, Query]] = []
    words = " ".join(parsed.words)
    for term in query_terms(words) if words.strip() else []:
        clauses.append((Occur.Should, _any_field(schema, term)))
    # The whole typed text as a phrase: an exact title or sentence match must rank first.
    if len(parsed.words) > 1 or (words and not parsed.phrases):
        for field in ("title", "body"):
            phrase = _phrase(schema, field, words, PHRASE_BOOST * FIELD_BOOSTS[field])
            if phrase is not None:
                clauses.append((Occur.Should, phrase))
    for phrase in parsed.phrases:
        terms = _all_terms(schema, phrase)
        if not terms:
            continue
        for term in terms:
            clauses.append((Occur.Must, _any_field(schema, term)))
        for field in ("title", "body"):
            q = _phrase(schema, field, phrase, PHRASE_BOOST * FIELD_BOOSTS[field])
            if q is not None:
                clauses.append((Occur.Should, q))
    for text in parsed.title:
        for term in _all_terms(schema, text):
            clauses.append((Occur.Must, _term(schema, "title", term, FIELD_BOOSTS["title"])))
    has_positive = bool(clauses)
    for text in parsed.excluded:
        terms = _all_terms(schema, text)
        if not terms:
            continue
        every = Query.boolean_query([(Occur.Must, _any_field(schema, t)) for t in terms])
        clauses.append((Occur.MustNot, every))
    clauses.extend(filter_clauses(schema, parsed.filters))
    if not has_positive:
        clauses.append((Occur.Must, Query.all_query()))
    return Query.boolean_query(clauses)


def contains_phrases(text: str, phrases: tuple[str, ...]) -> bool:
    low = normalize(text)
    return all(normalize(p).strip() in low for p in phrases)


def search_lexical(
    index: LexicalIndex,
    parsed: ParsedQuery,
    limit: int,
    *,
    searcher: tantivy.Searcher | None = None,
) -> list[LexicalHit]:
    """Best posts first. Phrases are verified on the original text by the caller."""
    searcher = searcher or index.searcher()
    query = build_query(index.schema, parsed)
    if not parsed.has_text:
        result = searcher.search(query, limit, order_by_field="date")
        return [LexicalHit(searcher.doc(a)["id"][0], 0.0) for _, a in result.hits]
    result = searcher.search(query, limit)
    return [LexicalHit(searcher.doc(addr)["id"][0], float(score)) for score, addr in result.hits]
