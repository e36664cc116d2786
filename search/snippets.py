"""Snippets: the best window of a post's original text, with highlight spans for query terms.

The window is cut from a readable rendering of the markdown (links become their text, images
drop out, whitespace folds) that keeps a map back to body offsets; LaTeX stays as written. The
rendering is a few regular expressions rather than a markdown parser because the parsers in
reach (markdown-it) report line numbers, not the character offsets the map needs.

Snippets are on the path of every query (ten per page), so the rendering is cached per body and
its offset map holds one anchor per markup edit rather than one entry per character.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from functools import lru_cache

from corpus.latex import math_spans

WIDTH = 120

_MARKUP = re.compile(
    r"(?P<code>(?s:```.*?```)|`[^`\n]+`)"  # code stays as written (`**kwargs`), spaces folded
    r"|\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)"  # linked image [![alt](img)](img "title")
    r"|!\[[^\]]*\]\([^)]*\)"  # image
    r"|\[(?P<link>[^\]]+)\]\([^)]*\)"  # link: keep its text
    r"|<(?P<auto>https?://[^>\s]+)>"  # autolink: keep the address
    r"|(?m:^[ \t]*#{1,6}[ \t]+)"  # heading marks
    r"|\*\*|(?m:^>[ \t]?)"  # bold marks, quote marks
    r"|\s+"  # whitespace runs fold to one space
)
_SPACE = re.compile(r"\s+")
_BOUNDARY = re.compile(r"[。！？；!?;\n]|\.\s")


@dataclass(frozen=True, slots=True)
class Snippet:
    """`text` with `highlights` as (start, end) character offsets into it; `offset` is where
    the window starts in the post body (for scrolling a preview to it)."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()
    offset: int = 0

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "highlights": [list(h) for h in self.highlights],
            "offset": self.offset,
        }


@dataclass(frozen=True, slots=True)
class Readable:
    """Plain text plus anchors: plain[a:] starts at markdown[src[i]] for a = plain_at[i]."""

    text: str
    plain_at: tuple[int, ...]
    src: tuple[int, ...]
    low: str  # text lowercased, same length, for finding terms
    math: tuple[tuple[int, int], ...]  # (start, end) of each formula in `text`

    def source(self, i: int) -> int:
        """The markdown offset of plain character `i`."""
        k = bisect.bisect_right(self.plain_at, i) - 1
        return self.src[k] + (i - self.plain_at[k])

    def plain(self, source_offset: int) -> int:
        """The first plain character at or after markdown offset `source_offset`."""
        k = max(0, bisect.bisect_right(self.src, source_offset) - 1)
        return min(len(self.text), self.plain_at[k] + max(0, source_offset - self.src[k]))


@lru_cache(maxsize=512)
def render(markdown: str) -> Readable:
    out: list[str] = []
    plain_at: list[int] = [0]
    src: list[int] = [0]
    n = 0  # characters written so far
    pos = 0
    for m in _MARKUP.finditer(markdown):
        out.append(markdown[pos : m.start()])
        n += m.start() - pos
        group = "link" if m["link"] is not None else ("auto" if m["auto"] is not None else None)
        if m["code"] is not None:
            at = m.start()
            for space in _SPACE.finditer(markdown, m.start(), m.end()):
                out.append(markdown[at : space.start()])
                n += space.start() - at
                plain_at.append(n)
                src.append(space.start())
                out.append(" ")
                n += 1
                plain_at.append(n)
                src.append(space.end())
                at = space.end()
            out.append(markdown[at : m.end()])
            n += m.end() - at
        elif group is not None:
            plain_at.append(n)
            src.append(m.start(group))
            out.append(m[group])
            n += len(m[group])
        elif m.group().isspace():
            plain_at.append(n)
            src.append(m.start())
            out.append(" ")
            n += 1
        pos = m.end()
        plain_at.append(n)
        src.append(pos)
    out.append(markdown[pos:])
    text = "".join(out)
    low = text.lower()
    if len(low) != len(text):  # a few characters lowercase to two (İ): keep those as they are
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return Readable(text, tuple(plain_at), tuple(src), low, tuple(math_spans(text)))


def _occurrences(low: str, term: str, lo: int, hi: int) -> list[int]:
    """Start offsets of `term` in low[lo:hi]; an ASCII word only where it stands whole."""
    found = []
    whole = term.isascii() and term[:1].isalnum()
    i = low.find(term, lo, hi)
    while i >= 0:
        end = i + len(term)
        if not whole or (
            (i == 0 or not (low[i - 1].isascii() and low[i - 1].isalnum()))
            and (end == len(low) or not (low[end].isascii() and low[end].isalnum()))
        ):
            found.append(i)
        i = low.find(term, i + 1, hi)
    return found


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def make_snippet(
    body: str,
    terms: list[str] | tuple[str, ...],
    *,
    width: int = WIDTH,
    within: tuple[int, int] | None = None,
) -> Snippet:
    """The `width`-character window with the most (and longest) distinct terms.

    `within` restricts the window to a span of the body (a semantic hit's passage).
    """
    doc = render(body)
    plain = doc.text
    if not plain:
        return Snippet("")
    lo, hi = 0, len(plain)
    if within is not None:
        lo = doc.plain(within[0])
        hi = max(lo + 1, doc.plain(within[1]))
    hits: list[tuple[int, int, str]] = []
    for term in {t.strip().lower() for t in terms if t and t.strip()}:
        hits.extend((i, i + len(term), term) for i in _occurrences(doc.low, term, lo, hi))
    hits.sort()
    start = lo
    if hits:
        # Slide a window over the matches, scoring the distinct terms inside it.
        best, score, j = -1.0, 0.0, 0
        inside: dict[str, int] = {}
        for s, _, term in hits:
            while j < len(hits) and hits[j][0] <= s + width - 10:
                t = hits[j][2]
                inside[t] = inside.get(t, 0) + 1
                if inside[t] == 1:
                    score += 1.0 + len(t) / 4
                j += 1
            if score > best:
                best, start = score, s
            inside[term] -= 1
            if inside[term] == 0:
                score -= 1.0 + len(term) / 4
        # Open the window a little before the first match, at a sentence start when one is near.
        anchor = start
        back = max(lo, start - width // 4)
        cut = [m.end() for m in _BOUNDARY.finditer(plain, back, start)]
        start = cut[-1] if cut else back
        # Never open inside math: step back to the formula's start when it is near, else past
        # its end.
        k = bisect.bisect_right(doc.math, (start, len(plain))) - 1
        if k >= 0 and doc.math[k][0] < start < doc.math[k][1]:
            opening, closing = doc.math[k]
            if opening >= lo and start - opening <= width * 2 // 3:
                start = opening
            elif closing <= anchor:
                start = closing
    while start < hi and plain[start] == " ":
        start += 1
    end = min(len(plain), start + width)
    # Never close inside math either: take the rest of the formula when it is short, else stop
    # before it (a cut formula could not be rendered).
    k = bisect.bisect_right(doc.math, (end, len(plain))) - 1
    if k >= 0 and doc.math[k][0] < end < doc.math[k][1]:
        opening, closing = doc.math[k]
        end = closing if closing - end <= width // 3 else max(opening, start + 1)
    text = plain[start:end].strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(plain) else ""
    shift = len(prefix)
    spans = [
        (max(s, start) - start + shift, min(e, start + len(text)) - start + shift)
        for s, e, _ in hits
        if s < start + len(text) and e > start
    ]
    offset = doc.source(start) if start < len(plain) else 0
    readable, highlights = readable_math(prefix + text + suffix, _merge(spans))
    return Snippet(readable, tuple(highlights), offset)


def readable_math(
    text: str, highlights: list[tuple[int, int]]
) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each whole formula as Unicode (search.render.latex_to_text; a formula it
    cannot say stays as written), and the highlights moved along: one outside the formulas
    shifts with them, one inside follows its words into the rendering (or goes, if they are
    not there any more)."""
    spans = math_spans(text)
    if not spans:
        return text, highlights
    from search.render import latex_to_text

    pieces: list[str] = []
    formulas: list[tuple[int, int, int, int]] = []  # old start, old end, new start, new end
    pos = new = 0
    for s, e in spans:
        pieces.append(text[pos:s])
        new += s - pos
        rendered = latex_to_text(text[s:e]) or text[s:e]
        pieces.append(rendered)
        formulas.append((s, e, new, new + len(rendered)))
        new += len(rendered)
        pos = e
    pieces.append(text[pos:])
    out = "".join(pieces)
    low = out.lower()
    moved: list[tuple[int, int]] = []
    for hs, he in highlights:
        inside = next((f for f in formulas if f[0] <= hs and he <= f[1]), None)
        if inside is None:
            shift = sum((ne - ns) - (oe - os) for os, oe, ns, ne in formulas if oe <= hs)
            moved.append((hs + shift, he + shift))
            continue
        word = text[hs:he].lower()
        found = low.find(word, inside[2], inside[3])
        if found >= 0:
            moved.append((found, found + len(word)))
    return out, moved
