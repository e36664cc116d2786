"""Typo and prefix tolerance for Latin words, as Meilisearch users expect.

A Latin word of five letters or more that no post holds (`tranformer`) is replaced by the word
of the archive nearest to it: within one edit (two from nine letters on), the most frequent of
the nearest. While typing (the TUI asks for it), a last Latin word that no post holds is
completed to the most frequent word it begins (`transfor` → `transformer`). Chinese runs are
never touched (jieba's segmentation is the tolerance there), nor a word that exists as typed
or that the glossary of English terms knows (`square root` finds 平方根, not `squares`).

The index cannot list its vocabulary, so the candidates come from the posts a fuzzy (or
prefix) query finds: their words within the distance, checked against the index. Only queries
with an unknown word pay for it (a few milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from rapidfuzz.distance import OSA

from search.expand import Glossary, glossed
from search.query import ParsedQuery

MIN_TYPO_LETTERS = 5  # shorter words have too many neighbours one edit away
TWO_EDITS_FROM = 9
MIN_PREFIX_LETTERS = 3
_LATIN = re.compile(r"[a-z]+")
_WORDS = re.compile(r"[a-z][a-z0-9]*")


class Vocabulary(Protocol):
    """What correction asks of the index (search.lexical.LexicalRetriever answers it)."""

    glossary: Glossary

    def doc_freq(self, term: str) -> int: ...

    def near(
        self, term: str, distance: int, *, prefix: bool = False, limit: int = 50
    ) -> list[int]: ...


def correct(
    parsed: ParsedQuery,
    retriever: Vocabulary,
    texts: Callable[[Iterable[int]], Iterable[str]],
    *,
    prefix: bool = False,
) -> tuple[ParsedQuery, list[str]]:
    """`parsed` with its unknown Latin words replaced, and a note for each replacement.

    `texts(post_ids)` gives the text of posts (title and body) to find candidates in.
    """
    words = list(parsed.words)
    known = glossed(" ".join(words), retriever.glossary)  # these get their Chinese words
    notes = []
    for i, word in enumerate(words):
        low = word.lower()
        if not _LATIN.fullmatch(low) or low in known or retriever.doc_freq(low):
            continue
        better = None
        if prefix and i == len(words) - 1 and len(low) >= MIN_PREFIX_LETTERS:
            better = _best(low, retriever, texts, distance=0, prefix=True)
        # A last word that begins no word of the archive may be a typo (`tranformer` while
        # typing): it is corrected as any other word is.
        if better is None and len(low) >= MIN_TYPO_LETTERS:
            distance = 2 if len(low) >= TWO_EDITS_FROM else 1
            better = _best(low, retriever, texts, distance=distance, prefix=False)
        if better:
            words[i] = better
            notes.append(f"searched for {better} (no post has {low})")
    if not notes:
        return parsed, []
    return replace(parsed, words=tuple(words)), notes


def _best(
    word: str,
    retriever: Vocabulary,
    texts: Callable[[Iterable[int]], Iterable[str]],
    *,
    distance: int,
    prefix: bool,
) -> str | None:
    posts = retriever.near(word, distance, prefix=prefix)
    if not posts:
        return None
    found: set[str] = set()
    for text in texts(posts):
        found.update(_WORDS.findall(text.lower()))
    # Edits as tantivy counts them: a transposition is one (optimal string alignment).
    if prefix:
        candidates = [w for w in found if w.startswith(word) and w != word]
    else:
        candidates = [w for w in found if w != word and OSA.distance(word, w) <= distance]
    # The nearest, then the most frequent; a completion: the most frequent, then the shortest.
    scored = []
    for w in candidates:
        df = retriever.doc_freq(w)
        if df:  # the index holds it as a term
            scored.append((-df, len(w), w) if prefix else (OSA.distance(word, w), -df, w))
    return min(scored)[2] if scored else None
