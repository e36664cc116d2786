"""Markdown for terminals: LaTeX kept as readable source.

Terminal markdown renderers (rich, Textual) would read `_` and `*` inside formulas as emphasis;
wrapping inline math in code spans and display math in fenced blocks shows it as written.
"""

from __future__ import annotations

import re

from corpus.latex import DISPLAY_MATH, INLINE_MATH

_FENCE = re.compile(r"(?ms)^(```|~~~).*?^\1[ \t]*$")


def _display(m: re.Match[str]) -> str:
    body = (m["dollars"] if m["dollars"] is not None else m["block"]).strip()
    body = re.sub(r" {2}\n", "\n", body)
    if m["dollars"] is not None:
        body = f"$${body}$$"
    return f"\n\n```latex\n{body}\n```\n\n"


def _inline(m: re.Match[str]) -> str:
    inner = m.group(0)
    ticks = "``" if "`" in inner else "`"
    return f"{ticks}{inner}{ticks}"


def terminal_markdown(body: str) -> str:
    """The post body with math protected from markdown emphasis; code blocks are left alone."""
    out = []
    pos = 0
    for fence in _FENCE.finditer(body):
        out.append(_protect(body[pos : fence.start()]))
        out.append(fence.group(0))
        pos = fence.end()
    out.append(_protect(body[pos:]))
    return "".join(out)


def _protect(text: str) -> str:
    pieces = []
    pos = 0
    for m in DISPLAY_MATH.finditer(text):
        pieces.append(INLINE_MATH.sub(_inline, text[pos : m.start()]))
        pieces.append(_display(m))
        pos = m.end()
    pieces.append(INLINE_MATH.sub(_inline, text[pos:]))
    return "".join(pieces)
