"""A query analysed once: every stage of a search, and every front end, reads this.

Before, each stage re-segmented the text with its own options, so they disagreed (a traditional
phrase was folded for BM25 but not when checked against the posts) and every front end got a
different treatment of typos. Here the parsed query is corrected, folded (case, width,
traditional -> simplified) and segmented once per piece of text; the retrievers, the floor, the
snippets and the feedback rounds only read the result.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from index.tokenize import QueryText, has_cjk, segment_query, word_parts
from search.expand import Glossary, chinese_for, expansions
from search.formula import FormulaQuery, formula_query
from search.query import Filters, ParsedQuery
from search.spelling import Vocabulary, correct


@dataclass(frozen=True, slots=True)
class Piece:
    """A phrase, title word or exclusion as typed, and segmented."""

    text: str
    segmented: QueryText

    @property
    def folded(self) -> str:
        """What a post's folded text (index.tokenize.normalize) must contain, as a phrase."""
        return self.segmented.folded.strip()


@dataclass(frozen=True, slots=True)
class AnalyzedQuery:
    """What a search needs to know about its query, computed once."""

    typed: ParsedQuery  # as written: what the models embed
    parsed: ParsedQuery  # with corrections: what the lexical side searches
    corrections: tuple[str, ...]  # a note for each corrected or completed word
    cjk: bool  # the text holds Chinese (the floor's gate, the glossaries' direction)
    words: QueryText | None  # the free words (corrected), None when there are none
    weighted: tuple[tuple[str, float], ...]  # BM25's terms: the words', parts, glossary words
    parts: tuple[tuple[str, tuple[str, ...]], ...]  # long Chinese terms' dictionary words
    phrases: tuple[Piece, ...]
    titles: tuple[Piece, ...]
    excluded: tuple[Piece, ...]
    text_terms: tuple[str, ...]  # the terms of the words, phrases and title words
    highlight: tuple[str, ...]  # what snippets mark: those terms, then the phrases as typed
    embed_text: str  # what each model embeds: the typed text and its glossary words
    formula: FormulaQuery | None = None  # the LaTeX in the query, tokenised (None: none)

    @property
    def filters(self) -> Filters:
        return self.parsed.filters

    @property
    def has_text(self) -> bool:
        return self.parsed.has_text

    @property
    def text(self) -> str:
        return self.parsed.text

    @property
    def terms(self) -> tuple[str, ...]:
        """The words' terms without stopwords: coordination and coverage weigh these."""
        return self.words.terms if self.words else ()

    @property
    def all_terms(self) -> tuple[str, ...]:
        """The words' terms with stopwords: what lexical feedback must not add again."""
        return self.words.all_terms if self.words else ()

    @property
    def positions(self) -> tuple[tuple[int, str], ...]:
        """The words as the index's tokens: the whole-query phrase and exact matches."""
        return self.words.positions if self.words else ()

    @property
    def hard(self) -> bool:
        """Whether the query has parts a post must (not) hold: phrases, title words,
        exclusions."""
        return bool(self.phrases or self.titles or self.excluded)


def _pieces(texts: Iterable[str]) -> tuple[Piece, ...]:
    return tuple(Piece(t, segment_query(t)) for t in texts)


def analyse(
    parsed: ParsedQuery,
    *,
    vocabulary: Vocabulary,
    texts: Callable[[Iterable[int]], Iterable[str]],
    glossary: Glossary,
    typing: bool = False,
    part_weight: float = 0.0,
) -> AnalyzedQuery:
    """Correct, fold and segment `parsed` once. `vocabulary` says which words the archive has
    (typo correction; `typing` completes an unknown last word instead); `texts(post_ids)`
    gives posts' text for the correction's candidates. `part_weight`: the BM25 weight of the
    dictionary words inside a long Chinese term (0: none), so that 旋转位置编码 finds a post
    that writes 旋转式位置编码."""
    # Corrections serve the lexical side; the model embeds what was typed (e5 reads an
    # inflection or a typo well: embedding the corrections instead lowered dev semantic
    # nDCG@10 from 0.809 to 0.808 when they were also applied to glossary words).
    corrected, notes = correct(parsed, vocabulary, texts, prefix=typing)
    text = " ".join(corrected.words)
    words = segment_query(text) if text.strip() else None
    weighted: dict[str, float] = {}
    parts: dict[str, tuple[str, ...]] = {}
    if words is not None:
        weighted.update(dict.fromkeys(words.terms, 1.0))
        if part_weight:
            parts = {t: p for t in words.terms if (p := word_parts(t))}
            for inner in parts.values():
                for part in inner:
                    weighted.setdefault(part, part_weight)
        for chinese, weight in expansions(text, glossary):
            for term in segment_query(chinese).all_terms:
                weighted.setdefault(term, weight)
    phrases = _pieces(corrected.phrases)
    titles = _pieces(corrected.title)
    text_terms: dict[str, None] = {}
    for segmented in (words, *(p.segmented for p in (*phrases, *titles))):
        if segmented is not None:
            text_terms.update(dict.fromkeys(segmented.terms))
    typed_text = parsed.text
    inner = [part for compound in parts.values() for part in compound]
    return AnalyzedQuery(
        typed=parsed,
        parsed=corrected,
        corrections=tuple(notes),
        cjk=has_cjk(corrected.text),
        words=words,
        weighted=tuple(weighted.items()),
        parts=tuple(parts.items()),
        phrases=phrases,
        titles=titles,
        excluded=_pieces(corrected.excluded),
        text_terms=tuple(text_terms),
        highlight=tuple(dict.fromkeys([*text_terms, *inner, *corrected.phrases])),
        # An English query also carries the glossary's Chinese words: the model matches a
        # bilingual query to Chinese passages far better (dev english nDCG@10 0.43 -> 0.66).
        embed_text=" ".join([typed_text, *chinese_for(typed_text, glossary)]),
        # As typed: a correction must not touch LaTeX.
        formula=formula_query(typed_text),
    )
