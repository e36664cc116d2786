"""Where the math is in a post body: the LaTeX delimiters the blog uses, in one place.

Display math is `$$…$$` or a `\\begin{env}…\\end{env}` block; inline math is `$…$` on one line
(an escaped `\\$` is a dollar sign). Saved pages may also hold MathJax's `\\[…\\]` and `\\(…\\)`,
which the HTML reader keeps verbatim. Readers protect math from markdown conversion, the chunker
never cuts inside it, the terminal renderer shows it as written and snippets never open inside
it: all of them ask this module.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# The opening of a display block; `env` names an environment's kind.
DISPLAY_OPEN = r"\$\$|\\begin\{(?P<env>[a-zA-Z*]+)\}"
INLINE_MATH = re.compile(r"(?<![\\$`])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?!\$)")


class CloserIndex:
    """Where each closing delimiter of a text is, found in one pass: `first(key, at)` is the
    earliest closer of that kind starting at or after `at`.

    A lazy regex (`\\[.+?\\]`) scans to the end of the text from every opener that has no
    closer: quadratic, minutes on a megabyte of `\\[`. Looking closers up here instead keeps
    every pass over post text linear. `closers` must put the closer in a group `close` inside a
    lookahead (so overlapping closers, `$$$`, are all seen) and may name its kind `key`.
    """

    def __init__(
        self, closers: re.Pattern[str], text: str, pos: int = 0, endpos: int | None = None
    ):
        self._at: dict[str, tuple[list[int], list[int]]] = {}
        end = len(text) if endpos is None else endpos
        for m in closers.finditer(text, pos, end):
            starts, ends = self._at.setdefault(m.groupdict().get("key") or "", ([], []))
            starts.append(m.start())
            ends.append(m.end("close"))

    def first(self, key: str, at: int) -> tuple[int, int] | None:
        """(start, end) of the first closer of kind `key` starting at or after `at`."""
        found = self._at.get(key)
        if found is None:
            return None
        k = bisect.bisect_left(found[0], at)
        return (found[0][k], found[1][k]) if k < len(found[0]) else None


def closers(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A pattern for CloserIndex: every position where `pattern` (which may name a group
    `key`) matches, overlapping ones included."""
    return re.compile(rf"(?=(?P<close>{pattern}))", flags)


@dataclass(frozen=True, slots=True)
class Delimited:
    """One alternative of a LinearPattern: `opener`, at least `min_inner` characters, then the
    first closer of `closer` whose `key` group equals the opener's `key` group (or any)."""

    opener: re.Pattern[str]
    closer: re.Pattern[str]  # made by `closers`
    min_inner: int = 1


class LinearPattern:
    """A regex of `opener .+? closer` alternatives (`regex`), found in linear time.

    `finditer` gives the same matches as `regex.finditer` (real `re.Match` objects, groups
    and all): each opener's closer is looked up in a CloserIndex, and only then is `regex`
    matched, between the opener and that closer. An opener without a closer costs nothing.
    """

    def __init__(self, regex: re.Pattern[str], alternatives: Sequence[Delimited]) -> None:
        self.regex = regex
        self.pattern = regex.pattern
        self.alternatives = tuple(alternatives)

    def finditer(
        self, text: str, pos: int = 0, endpos: int | None = None
    ) -> Iterator[re.Match[str]]:
        end = len(text) if endpos is None else min(endpos, len(text))
        alts = self.alternatives
        indexes: list[CloserIndex | None] = [None] * len(alts)
        upcoming: list[re.Match[str] | None] = [None] * len(alts)  # next opener of each
        done = [False] * len(alts)
        i = pos
        while i <= end:
            starts = []
            for k, alt in enumerate(alts):
                if done[k]:
                    continue
                m = upcoming[k]
                if m is None or m.start() < i:
                    m = upcoming[k] = alt.opener.search(text, i, end)
                    if m is None:
                        done[k] = True
                        continue
                starts.append(m.start())
            if not starts:
                return
            at = min(starts)
            found = None
            for k, alt in enumerate(alts):
                opened = alt.opener.match(text, at, end)
                if opened is None:
                    continue
                if indexes[k] is None:
                    indexes[k] = CloserIndex(alt.closer, text, pos, end)
                key = opened.group("key") if "key" in alt.opener.groupindex else None
                close = indexes[k].first(key or "", opened.end() + alt.min_inner)  # type: ignore[union-attr]
                if close is not None:
                    found = self.regex.match(text, at, close[1])
                    if found is not None:
                        break
            if found is None:
                i = at + 1
                continue
            yield found
            i = found.end() if found.end() > at else at + 1


# A whole display block; `dollars` is the inside of `$$…$$`, `block` a whole environment.
DISPLAY_MATH = LinearPattern(
    re.compile(
        r"\$\$(?P<dollars>.+?)\$\$|(?P<block>\\begin\{(?P<env>[a-zA-Z*]+)\}.+?\\end\{(?P=env)\})",
        re.S,
    ),
    [
        Delimited(re.compile(r"\$\$"), closers(r"\$\$")),
        Delimited(
            re.compile(r"\\begin\{(?P<key>[a-zA-Z*]+)\}"),
            closers(r"\\end\{(?P<key>[a-zA-Z*]+)\}"),
        ),
    ],
)
# Everything MathJax typesets in a page's text (which may still span <br>s, so `$` too may run
# over lines there): `$$` is tried before `$`.
MATHJAX = LinearPattern(
    re.compile(
        r"\$\$.+?\$\$|\\begin\{(?P<env>[a-zA-Z*]+)\}.*?\\end\{(?P=env)\}|\\\[.+?\\\]|\\\(.+?\\\)"
        r"|(?<!\\)\$.+?(?<!\\)\$",
        re.S,
    ),
    [
        Delimited(re.compile(r"\$\$"), closers(r"\$\$")),
        Delimited(
            re.compile(r"\\begin\{(?P<key>[a-zA-Z*]+)\}"),
            closers(r"\\end\{(?P<key>[a-zA-Z*]+)\}"),
            min_inner=0,
        ),
        Delimited(re.compile(r"\\\["), closers(r"\\\]")),
        Delimited(re.compile(r"\\\("), closers(r"\\\)")),
        Delimited(re.compile(r"(?<!\\)\$"), closers(r"(?<!\\)\$")),
    ],
)
# A fenced code block of markdown: from a line opening with ``` or ~~~ to the next line holding
# the same fence alone (for renderers; the lazy regex is quadratic on unclosed fences).
FENCE = LinearPattern(
    re.compile(r"(?ms)^(```|~~~).*?^\1[ \t]*$"),
    [
        Delimited(
            re.compile(r"(?m)^(?P<key>```|~~~)"),
            closers(r"^(?P<key>```|~~~)[ \t]*$", re.M),
            min_inner=0,
        )
    ],
)


def display_closer(opening: str, env: str | None) -> str:
    """What ends the display block that `opening` (a DISPLAY_OPEN match) starts."""
    return "$$" if opening == "$$" else f"\\end{{{env}}}"


def math_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every display and inline formula in `text`, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in DISPLAY_MATH.finditer(text):
        spans.extend(i.span() for i in INLINE_MATH.finditer(text, pos, m.start()))
        spans.append(m.span())
        pos = m.end()
    spans.extend(i.span() for i in INLINE_MATH.finditer(text, pos))
    return spans
