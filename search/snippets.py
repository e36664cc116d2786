"""Snippets: the best window of a post's text, as prose, with highlight spans for query terms.

The window is cut from a readable rendering of the markdown (links become their text, images
drop out, whitespace folds) that keeps a map back to body offsets. The rendering is a few
regular expressions rather than a markdown parser because the parsers in reach (markdown-it)
report line numbers, not the character offsets the map needs.

A snippet is how a reader (or an agent) judges a hit, so it is prose: the window never starts
or ends inside a formula; a short formula inside it is shown as Unicode text (search.mathtext:
`$\\theta_i$` → `θ_i`, `$\\eqref{eq:x}$` → `(3)`), a long one or one that cannot be read as
text is left out as `…`; and a window that would show less than MIN_TEXT characters (a
passage that is mostly formulas) grows over the prose around it.

Snippets are on the path of every query (ten per page), so the rendering is cached per body and
its offset map holds one anchor per markup edit rather than one entry per character.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from search.render import equation_labels, formula_spans, latex_to_text

WIDTH = 120
# A snippet shows at least this much when the post has it (the "about 40").
MIN_TEXT = 48
# A formula is shown in a snippet when its source is at most this long and its text at most
# SHORT_TEXT: `$\\boldsymbol{W}_q$` is, an aligned block is not.
SHORT_SOURCE = 120
SHORT_TEXT = 40

# An indented code block (what the archive's code is: all 135 indented blocks of the shared
# corpus are code): after a blank line, lines indented by four spaces or a tab.
_INDENTED = r"(?P<indented>\n[ \t]*\n(?:(?: {4}|\t)[^\n]*(?:\n|\Z))+)"
# Bracketed text and a parenthesised address, each stopping at the next bracket (or parenthesis)
# it cannot hold: scanning from every `[` to the text's end made a post of `[`, `\[` or `![`
# quadratic (100k characters: 16-140 s, holding the GIL in the server).
_TEXT = r"(?:[^\[\]]|\[[^\[\]]*\])"
_ALT = r"(?:\\.|[^\[\]\\]|\[[^\[\]]*\])"  # an image's alt may escape brackets: `\[0, 1\]`
_URL = r"\((?:[^()\n]|\([^()\n]*\))*\)"
_MARKUP = re.compile(
    _INDENTED + r"|(?P<code>(?s:```.*?```)|`[^`\n]+`)"  # code as written, spaces folded
    rf"|\[!\[{_ALT}*\]{_URL}\]{_URL}"  # linked image [![alt](img)](img "title")
    rf"|!\[{_ALT}*\]{_URL}"  # image
    rf"|\[(?P<link>{_TEXT}+)\]{_URL}"  # link: keep its text
    r"|<(?P<auto>https?://[^<>\s]+)>"  # autolink: keep the address
    r"|(?m:^[ \t]*#{1,6}[ \t]+)"  # heading marks
    r"|\*\*|(?m:^>[ \t]?)"  # bold marks, quote marks
    r"|\s+"  # whitespace runs fold to one space
)
_SPACE = re.compile(r"\s+")
_NON_SPACE = re.compile(r"\S")  # \s is what str.isspace accepts
_BOUNDARY = re.compile(r"[。！？；!?;\n]|\.\s")


@dataclass(frozen=True, slots=True)
class Snippet:
    """`text` with `highlights` as (start, end) character offsets into it; `offset` is where
    the window starts in the post body (for scrolling a preview to it); `formulas` where its
    short formulas stand, with their LaTeX (the page shows those as MathML)."""

    text: str
    highlights: tuple[tuple[int, int], ...] = ()
    offset: int = 0
    # (start, end, LaTeX source) of each formula `text` shows as Unicode text
    formulas: tuple[tuple[int, int, str], ...] = ()

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "highlights": [list(h) for h in self.highlights],
            "offset": self.offset,
            "formulas": [list(f) for f in self.formulas],
        }


@dataclass(frozen=True, slots=True)
class Readable:
    """Plain text plus anchors: plain[a:] starts at markdown[src[i]] for a = plain_at[i]."""

    text: str
    plain_at: tuple[int, ...]
    src: tuple[int, ...]
    low: str  # text lowercased, same length, for finding terms
    math: tuple[tuple[int, int], ...]  # (start, end) of each formula in `text`
    # (start, end) of the formulas too long to show (a term inside one is no match)
    long_math: tuple[tuple[int, int], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)  # \label → number, for \eqref

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
        if m["indented"] is not None and not m["indented"].isspace():
            # A block of code: one fenced block in the text, so the snippet leaves it out.
            plain_at.append(n)
            src.append(m.start())
            out.append(" ``` ``` ")
            n += 9
        elif m["code"] is not None:
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
        elif m.group().isspace():  # an indented block of blank lines too
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
    math = tuple(formula_spans(text))
    long_math = tuple((s, e) for s, e in math if e - s > SHORT_SOURCE)
    labels = equation_labels(markdown) if "ref" in markdown else {}
    return Readable(text, tuple(plain_at), tuple(src), low, math, long_math, labels)


# A range of text this long or longer is scanned for a term by a regex, a shorter one by
# str.find calls: per term over the dev queries' hit bodies, 100 characters took 6.9 us by
# regex and 2.9 by find, 1000 took 11.2 and 10.0, 3000 took 17.7 and 23.1.
SCAN_FROM = 1500
_END = float("inf")  # sorts after every end offset: bisect (i, _END) finds spans starting at i
_WORD_CHAR = "[0-9A-Za-z]"  # what str.isascii() and str.isalnum() accept


@lru_cache(maxsize=4096)
def _pattern(term: str) -> re.Pattern[str] | None:
    """`term` as a regex, an ASCII word only where it stands whole; None when `term` can
    overlap itself (`aa`): a regex's matches cannot, so those are found one by one."""
    if any(term[k:] == term[: len(term) - k] for k in range(1, len(term))):
        return None
    word = re.escape(term)
    if term.isascii() and term[:1].isalnum():
        # Lookbehind after the word, not before it, so the scan keeps its literal prefix.
        return re.compile(f"{word}(?!{_WORD_CHAR})(?<!{_WORD_CHAR}{word})")
    return re.compile(word)


def _occurrences(low: str, term: str, lo: int, hi: int) -> list[int]:
    """Start offsets of `term` in low[lo:hi]; an ASCII word only where it stands whole.

    Over a whole post, one regex scan per term rather than a str.find call per occurrence: the
    dev queries' ten snippets find about 50 occurrences each, and the calls were half of a
    snippet's time. Over a short range (a semantic hit's passage) the calls are fewer and
    cheaper than setting up the scan."""
    if hi - lo < SCAN_FROM:
        return _each_occurrence(low, term, lo, hi)
    return _scan(low, term, lo, hi)


def _scan(low: str, term: str, lo: int, hi: int) -> list[int]:
    """`_occurrences` by one regex scan."""
    pattern = _pattern(term)
    if pattern is None:
        return _each_occurrence(low, term, lo, hi)
    # One character past `hi`, so the lookahead sees the real character after a word ending
    # at `hi`; a match ending past `hi` is not in low[lo:hi].
    found = [m.start() for m in pattern.finditer(low, lo, min(hi + 1, len(low)))]
    if found and found[-1] + len(term) > hi:
        found.pop()
    return found


def _each_occurrence(low: str, term: str, lo: int, hi: int) -> list[int]:
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


def _drop_inside(hits: list[tuple[int, int, str]], spans: tuple[tuple[int, int], ...]) -> None:
    """Remove from `hits` (sorted) those starting inside one of these sorted, disjoint spans:
    a slice per span in reach rather than a look-up per match."""
    k = max(bisect.bisect_right(spans, (hits[0][0], _END)) - 1, 0)
    last = hits[-1][0]
    while k < len(spans) and spans[k][0] <= last:
        s, e = spans[k]
        del hits[bisect.bisect_left(hits, (s,)) : bisect.bisect_left(hits, (e,))]
        if not hits:
            return
        k += 1


def _densest(
    hits: list[tuple[int, int, str]], starts: list[int], terms: list[str], width: int
) -> int:
    """Where the window with the most (and longest) distinct terms starts: at the first match
    of the best window, each window starting at a match (`hits` sorted by offset, `starts`
    their offsets, `terms` every term among them).

    Scores are sums of quarters, exact in floating point, so a window holding every term
    cannot be beaten (the comparison is strict) and the scan stops there."""
    weight = {t: 1.0 + len(t) / 4 for t in terms}
    most = sum(weight.values())
    count = dict.fromkeys(weight, 0)
    reach = width - 10
    best, score, j, n, start = -1.0, 0.0, 0, len(hits), starts[0]
    for s, _, term in hits:
        edge = s + reach
        while j < n and starts[j] <= edge:
            t = hits[j][2]
            count[t] += 1
            if count[t] == 1:
                score += weight[t]
            j += 1
        if score > best:
            best, start = score, s
            if score == most:
                break
        count[term] -= 1
        if count[term] == 0:
            score -= weight[term]
    return start


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _short_formula(source: str, labels: Mapping[str, str]) -> str | None:
    """The text a formula shows in a snippet, or None to leave it out."""
    if len(source) > SHORT_SOURCE or source.startswith("```"):
        return None
    text = latex_to_text(source, labels)
    if text is None or len(text) > SHORT_TEXT or "\\" in text or "\n" in text:
        return None
    return text


def _visible(
    doc: Readable, labels: Mapping[str, str], start: int, end: int
) -> Iterator[tuple[str, int, int, str | None]]:
    """The pieces of plain[start:end], lazily (a caller stops at its width): ("prose", s, e,
    None), the caller slicing what it shows of a stretch that may run for pages, and ("math",
    s, e, its text or None to leave it out)."""
    k = bisect.bisect_right(doc.math, (start, len(doc.text) + 1)) - 1
    k = max(k, 0)
    pos = start
    while k < len(doc.math) and doc.math[k][0] < end:
        s, e = doc.math[k]
        k += 1
        if e <= pos:
            continue
        if s > pos:
            yield ("prose", pos, s, None)
        yield ("math", s, e, _short_formula(doc.text[s:e], labels))
        pos = e
    if pos < end:
        yield ("prose", pos, end, None)


def _snap_start(doc: Readable, start: int) -> int:
    """`start`, or the start of the formula it falls inside."""
    k = bisect.bisect_right(doc.math, (start, len(doc.text) + 1)) - 1
    if k >= 0 and doc.math[k][0] < start < doc.math[k][1]:
        return doc.math[k][0]
    return start


def make_snippet(
    body: str,
    terms: list[str] | tuple[str, ...],
    *,
    width: int = WIDTH,
    within: tuple[int, int] | None = None,
) -> Snippet:
    """The `width`-character window with the most (and longest) distinct terms, as prose.

    `within` restricts the window to a span of the body (a semantic hit's passage) where that
    span has enough prose; otherwise the window runs on past it.
    """
    doc = render(body)
    plain = doc.text
    if not plain:
        return Snippet("")
    labels = doc.labels
    lo, hi = 0, len(plain)
    if within is not None:
        lo = min(doc.plain(within[0]), len(plain) - 1)
        hi = max(lo + 1, doc.plain(within[1]))
    hits: list[tuple[int, int, str]] = []
    present: list[str] = []  # the terms found
    for term in {t.strip().lower() for t in terms if t and t.strip()}:
        found = _occurrences(doc.low, term, lo, hi)
        if found:
            present.append(term)
            n = len(term)
            hits += [(i, i + n, term) for i in found]
    hits.sort()
    if doc.long_math and hits:  # not in a formula the snippet will leave out
        _drop_inside(hits, doc.long_math)
    starts = [h[0] for h in hits]
    longest = max(map(len, present), default=0)
    start = lo
    if hits:
        start = _densest(hits, starts, present, width)
        # Open the window a little before the first match, at a sentence start when one is near.
        back = max(lo, start - width // 4)
        cut = [m.end() for m in _BOUNDARY.finditer(plain, back, start)]
        start = cut[-1] if cut else back
    start = _snap_start(doc, start)

    def build(start: int, hi: int) -> tuple:
        return _build(doc, labels, start, hi, width, hits, starts, longest)

    text, spans, first, end, formulas = build(start, hi)
    # Too little to read (a passage of formulas): open earlier, then run on past the passage.
    least = min(MIN_TEXT, width)
    if len(text.strip(" …")) < least and end < len(plain):
        text, spans, first, end, formulas = build(first, len(plain))
    for _ in range(8):  # each step opens a window's width (or a formula) earlier
        if len(text.strip(" …")) >= least or start == 0:
            break
        earlier = _snap_start(doc, max(0, min(first - 1, end - width, start - 1)))
        if earlier >= start:
            break
        start = earlier
        text, spans, first, end, formulas = build(start, len(plain))
    prefix = "…" if first > 0 and not text.startswith("…") else ""
    suffix = "…" if end < len(plain) and not text.endswith("…") else ""
    spans = [(s + len(prefix), e + len(prefix)) for s, e in spans]
    shift = len(prefix)
    shown = tuple((s + shift, e + shift, source) for s, e, source in formulas)
    offset = doc.source(first) if first < len(plain) else 0
    return Snippet(prefix + text + suffix, tuple(_merge(spans)), offset, shown)


def _build(
    doc: Readable,
    labels: Mapping[str, str],
    start: int,
    hi: int,
    width: int,
    hits: list[tuple[int, int, str]],
    starts: list[int],
    longest: int,
) -> tuple[str, list[tuple[int, int]], int, int, list[tuple[int, int, str]]]:
    """The snippet's text from plain offset `start`: prose as it is, short formulas as text,
    the others as `…`; up to `width` characters, past `hi` only while under MIN_TEXT. Returns
    the text, its highlights, the plain offsets it covers, and where each formula shown as text
    stands in it with its source (the page shows those as MathML)."""
    plain = doc.text
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    formulas: list[tuple[int, int, str]] = []
    n = 0
    first: int | None = None
    end = start
    limit = len(plain)
    for kind, s, e, shown in _visible(doc, labels, start, limit):
        if n >= width or (s >= hi and n >= MIN_TEXT):
            break
        if kind == "math":
            if shown is None:
                if not out or not out[-1].endswith("…"):
                    piece = "…" if not out or out[-1].endswith(" ") else " …"
                    out.append(piece)
                    n += len(piece)
                first = s if first is None else first
                end = e
                continue
            if n + len(shown) > width and n >= MIN_TEXT:
                break
            for k in range(bisect.bisect_left(starts, s), bisect.bisect_left(starts, e)):
                term = hits[k][2]
                found = shown.lower().find(term)
                if found >= 0:
                    spans.append((n + found, n + found + len(term)))
            formulas.append((n, n + len(shown), plain[s:e]))
            out.append(shown)
            n += len(shown)
            first = s if first is None else first
            end = e
            continue
        if first is None:  # the text opens at its first non-space character
            opening = _NON_SPACE.search(plain, s, e)
            if opening is None:
                continue
            s = first = opening.start()
        room = width - n
        if e - s > room:
            e = s + max(room, 0)
        text = plain[s:e]  # only what is shown: a prose stretch may run for pages
        # The matches that overlap [s, e): those starting less than the longest term before s.
        for k in range(bisect.bisect_left(starts, s - longest + 1), bisect.bisect_left(starts, e)):
            hs, he, _ = hits[k]
            if he > s:
                spans.append((n + max(hs, s) - s, n + min(he, e) - s))
        out.append(text)
        n += len(text)
        end = e
    joined = "".join(out)
    stripped = joined.rstrip()
    spans = [(a, min(b, len(stripped))) for a, b in spans if a < len(stripped)]
    formulas = [f for f in formulas if f[1] <= len(stripped)]
    return stripped, spans, first if first is not None else start, end, formulas
