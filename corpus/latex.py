"""Where the math is in a post body: the LaTeX delimiters the blog uses, in one place.

Display math is `$$…$$` or a `\\begin{env}…\\end{env}` block; inline math is `$…$` on one line
(an escaped `\\$` is a dollar sign). Saved pages may also hold MathJax's `\\[…\\]` and `\\(…\\)`,
which the HTML reader keeps verbatim. Readers protect math from markdown conversion, the chunker
never cuts inside it, the terminal renderer shows it as written and snippets never open inside
it: all of them ask this module.
"""

from __future__ import annotations

import re

# The opening of a display block; `env` names an environment's kind.
DISPLAY_OPEN = r"\$\$|\\begin\{(?P<env>[a-zA-Z*]+)\}"
# A whole display block; `dollars` is the inside of `$$…$$`, `block` a whole environment.
DISPLAY_MATH = re.compile(
    r"\$\$(?P<dollars>.+?)\$\$|(?P<block>\\begin\{(?P<env>[a-zA-Z*]+)\}.+?\\end\{(?P=env)\})",
    re.S,
)
INLINE_MATH = re.compile(r"(?<![\\$`])\$(?!\s)([^$\n]+?)(?<![\s\\])\$(?!\$)")
# Everything MathJax typesets in a page's text (which may still span <br>s, so `$` too may run
# over lines there): `$$` is tried before `$`.
MATHJAX = re.compile(
    r"\$\$.+?\$\$|\\begin\{(?P<env>[a-zA-Z*]+)\}.*?\\end\{(?P=env)\}|\\\[.+?\\\]|\\\(.+?\\\)"
    r"|(?<!\\)\$.+?(?<!\\)\$",
    re.S,
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
