"""English queries over Chinese posts: add the Chinese words for the English terms.

BM25 cannot match "steepest descent" to 最速下降, and the multilingual model only partly
bridges the languages. Two glossaries map English phrases to the blog's Chinese words: one
written for this project (index/data/glossary.tsv) and one mined from the archive at index time
(index/glossary.py: the posts' own glosses, 梯度裁剪（Gradient Clipping）). For a query written
without Chinese their words are added to the lexical query and to the text the semantic side
embeds. The written one wins where both know a phrase; longest phrases win; a plural "s" is
forgiven.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CJK = re.compile(r"[\u3400-\u9fff]")
MAX_WORDS = 4
# The weight of a mined expansion in the lexical query, against 1 for a typed word and for a
# written expansion. A mined entry adds one Chinese term for one or more typed words, so at 1
# it never outweighs them. On the 60 dev queries with the mined glossary alone (the written one
# covers their English terms), english nDCG@10 lexical / hybrid: no glossary 0.519 / 0.106,
# weight 1.0 -> 0.561 / 0.601, 0.5 -> 0.543 / 0.594; both glossaries: lexical 0.826 -> 0.828
# (english 0.671 -> 0.682), hybrid 0.897 either way. Queries with Chinese in them are not
# expanded: doing so moved hybrid by -0.004 with the written glossary and +0.003 with both.
MINED_WEIGHT = 1.0

Source = Literal["written", "mined"]


@cache
def written_glossary() -> dict[str, tuple[str, ...]]:
    """The hand-written glossary: {english phrase: Chinese words}."""
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


def _key(phrase: str) -> str:
    """A mined phrase as queries are looked up: words singular, hyphens as spaces."""
    return " ".join(_singular(w) for w in _WORD.findall(phrase.lower().replace("-", " ")))


@dataclass(frozen=True, slots=True)
class Entry:
    phrase: str
    chinese: tuple[str, ...]
    source: Source
    posts: int = 0  # mined: how many posts gloss it so


class Glossary:
    """The written glossary and the archive's mined one ({english: (chinese, posts)})."""

    def __init__(
        self,
        written: Mapping[str, tuple[str, ...]] | None = None,
        mined: Mapping[str, tuple[str, int]] | None = None,
    ) -> None:
        self.written = written_glossary() if written is None else written
        # Looked up as queries are: singular words, hyphens as spaces (`mixture of experts`
        # was never found: a query's words are made singular before the look-up).
        self._written = {_key(en): (en, words) for en, words in self.written.items()}
        keyed = {_key(en): v for en, v in (mined or {}).items()}
        self.mined = {k: v for k, v in keyed.items() if k}

    def lookup(self, phrase: str) -> Entry | None:
        """The entry for one phrase (lowercase, singular words), written first."""
        found = self._written.get(_key(phrase))
        if found:
            return Entry(found[0], found[1], "written")  # as the glossary writes it
        mined = self.mined.get(phrase.replace("-", " "))
        if mined:
            return Entry(phrase, (mined[0],), "mined", mined[1])
        return None

    def english_for(self, chinese: str) -> list[Entry]:
        """The entries whose Chinese words include `chinese`: written ones, then mined."""
        found = [Entry(en, zh, "written") for en, zh in self.written.items() if chinese in zh]
        mined = [(en, n) for en, (zh, n) in self.mined.items() if zh == chinese]
        mined.sort(key=lambda item: (-item[1], item[0]))  # the most glossed first
        return sorted(found, key=lambda e: e.phrase) + [
            Entry(en, (chinese,), "mined", n) for en, n in mined
        ]

    def sizes(self) -> dict[str, int]:
        return {"written": len(self.written), "mined": len(self.mined)}


WRITTEN = Glossary()  # for callers without an index (and tests)


def entries_in(text: str, glossary: Glossary = WRITTEN) -> list[Entry]:
    """The glossary phrases in `text`, longest first at each place; none for text with
    Chinese in it."""
    return _matches(text, glossary)[0]


def expansions(text: str, glossary: Glossary = WRITTEN) -> list[tuple[str, float]]:
    """The Chinese words for `text`'s phrases with their lexical weights (1, or MINED_WEIGHT)."""
    out: dict[str, float] = {}
    for entry in entries_in(text, glossary):
        weight = 1.0 if entry.source == "written" else MINED_WEIGHT
        for word in entry.chinese:
            out[word] = max(out.get(word, 0.0), weight)
    return list(out.items())


def chinese_for(text: str, glossary: Glossary = WRITTEN) -> list[str]:
    """Chinese words for the glossary phrases in `text`; nothing for text with Chinese in it."""
    return [word for word, _ in expansions(text, glossary)]


def glossed(text: str, glossary: Glossary = WRITTEN) -> set[str]:
    """The words of `text` (lowercased, as typed) that are part of a glossary phrase."""
    return _matches(text, glossary)[1]


def _matches(text: str, glossary: Glossary) -> tuple[list[Entry], set[str]]:
    if _CJK.search(text):
        return [], set()
    typed = _WORD.findall(text.lower().replace("-", " "))
    words = [_singular(w) for w in typed]
    found: list[Entry] = []
    covered: set[str] = set()
    i = 0
    while i < len(words):
        for n in range(min(MAX_WORDS, len(words) - i), 0, -1):
            entry = glossary.lookup(" ".join(words[i : i + n]))
            if entry:
                found.append(entry)
                covered.update(typed[i : i + n])
                i += n
                break
        else:
            i += 1
    return found, covered
