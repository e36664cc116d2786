"""English queries over Chinese posts: add the Chinese words for the English terms.

BM25 cannot match "steepest descent" to 最速下降, and the multilingual model only partly
bridges the languages. A glossary of the field's terms (index/data/glossary.tsv, written for
this project) maps English phrases to the blog's Chinese words; for a query written without
Chinese they are added to the lexical query, and to the text the semantic side embeds.
Longest phrases win; a plural "s" is forgiven.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_WORDS = 4


@cache
def glossary() -> dict[str, tuple[str, ...]]:
    text = resources.files("index").joinpath("data/glossary.tsv").read_text("utf-8")
    entries: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, _, chinese = line.partition("\t")
        words = tuple(c.strip() for c in chinese.split(",") if c.strip())
        if words:
            entries[english.strip().lower()] = words
    return entries


_IRREGULAR = {
    "matrices": "matrix",
    "indices": "index",
    "vertices": "vertex",
    "analyses": "analysis",
}


def _singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def chinese_for(text: str) -> list[str]:
    """Chinese words for the glossary phrases in `text`; nothing for text with Chinese in it."""
    return _matches(text)[0]


def glossed(text: str) -> set[str]:
    """The words of `text` (lowercased, as typed) that are part of a glossary phrase."""
    return _matches(text)[1]


def _matches(text: str) -> tuple[list[str], set[str]]:
    if _CJK.search(text):
        return [], set()
    typed = _WORD.findall(text.lower())
    words = [_singular(w) for w in typed]
    table = glossary()
    found: list[str] = []
    covered: set[str] = set()
    i = 0
    while i < len(words):
        for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
            phrase = " ".join(words[i : i + n])
            hit = table.get(phrase) or table.get(phrase.replace(" ", "-"))
            if hit:
                found.extend(w for w in hit if w not in found)
                covered.update(typed[i : i + n])
                i += n
                break
        else:
            i += 1
    return found, covered
