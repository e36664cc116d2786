"""Snippets: the best window of a post's original text, with highlight spans for query terms.

The window is cut from a readable rendering of the markdown (links become their text, images
drop out, whitespace folds) that keeps a map back to body offsets; LaTeX stays as written. The
rendering is a few regular expressions rather than a markdown parser because the parsers in
reach (markdown-it) report line numbers, not the character offsets the map needs.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from index.tokenize import normalize

WIDTH = 120

_MARKUP = re.compile(
    r"\[!\[[^\]]*\]\([^)]*\)\]\([^)]*\)"  # linked image [![alt](img)](img "title")
    r"|!\[[^\]]*\]\([^)]*\)"  # image
    r"|\[(?P<link>[^\]]+)\]\([^)]*\)"  # link: keep its text
    r"|<(?P<auto>https?://[^>\s]+)>"  # autolink: keep the address
    r"|(?m:^[ \t]*#{1,6}[ \t]+)"  # heading marks
    r"|\*\*|(?m:^>[ \t]?)"  # bold marks, quote marks
    r"|\s+"  # whitespace runs fold to one space
)
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


def readable(markdown: str) -> tuple[str, list[int]]:
    """Plain text and, for each of its characters, the offset of its source in `markdown`."""
    out: list[str] = []
    where: list[int] = []
    pos = 0
    for m in _MARKUP.finditer(markdown):
        out.append(markdown[pos : m.start()])
        where.extend(range(pos, m.start()))
        keep = m["link"] or m["auto"]
        if keep is not None:
            group = "link" if m["link"] is not None else "auto"
            out.append(keep)
            where.extend(range(m.start(group), m.end(group)))
        elif m.group().isspace():
            out.append(" ")
            where.append(m.start())
        pos = m.end()
    out.append(markdown[pos:])
    where.extend(range(pos, len(markdown)))
    return "".join(out), where


def _occurrences(low: str, term: str) -> list[int]:
    found = []
    ascii_word = term.isascii() and term[:1].isalnum()
    i = low.find(term)
    while i >= 0:
        end = i + len(term)
        if not ascii_word or (
            (i == 0 or not low[i - 1].isascii() or not low[i - 1].isalnum())
            and (end == len(low) or not low[end].isascii() or not low[end].isalnum())
        ):
            found.append(i)
        i = low.find(term, i + 1)
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
    plain, where = readable(body)
    if not plain:
        return Snippet("")
    lo, hi = 0, len(plain)
    if within is not None:
        lo = bisect.bisect_left(where, within[0])
        hi = max(lo + 1, bisect.bisect_left(where, within[1]))
    low = normalize(plain)
    terms = sorted({normalize(t).strip() for t in terms if t and t.strip()}, key=len, reverse=True)
    hits: list[tuple[int, int, str]] = []
    for term in terms:
        for i in _occurrences(low, term):
            if lo <= i < hi:
                hits.append((i, i + len(term), term))
    hits.sort()
    start = lo
    if hits:
        best = -1.0
        starts = [h[0] for h in hits]
        for i, (s, _, _) in enumerate(hits):
            j = bisect.bisect_right(starts, s + width - 10)
            seen = {h[2] for h in hits[i:j]}
            score = sum(1.0 + len(t) / 4 for t in seen)
            if score > best:
                best, start = score, s
        # Open the window a little before the first match, at a sentence start when one is near.
        anchor = start
        back = max(lo, start - width // 4)
        cut = [m.end() for m in _BOUNDARY.finditer(plain, back, start)]
        start = cut[-1] if cut else back
        # Never open inside inline math: step back to its `$` when it is near, else past it.
        if plain.count("$", 0, start) % 2:
            opening = plain.rfind("$", lo, start)
            closing = plain.find("$", start)
            if opening >= 0 and start - opening <= width * 2 // 3:
                start = opening
            elif 0 <= closing < anchor:
                start = closing + 1
    while start < hi and plain[start] == " ":
        start += 1
    end = min(len(plain), start + width)
    text = plain[start:end].strip()
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(plain) else ""
    shift = len(prefix)
    spans = [
        (max(s, start) - start + shift, min(e, start + len(text)) - start + shift)
        for s, e, _ in hits
        if s < start + len(text) and e > start
    ]
    return Snippet(
        prefix + text + suffix, tuple(_merge(spans)), where[start] if start < len(where) else 0
    )
