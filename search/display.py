"""How a hit looks in a terminal, for every front end that draws one (the CLI and the TUI)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

from search.snippets import Snippet

HIGHLIGHT = Style(bold=True, color="yellow")

# C0 controls but tab and newline, DEL and the C1 controls: what a terminal may take as the
# start of an escape sequence (ESC, CSI U+009B, OSC U+009D, ...). Post data is untrusted.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_INLINE = re.compile("[\x00-\x1f\x7f-\x9f]")


def _visible(m: re.Match[str]) -> str:
    code = ord(m.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC, ␇ for BEL
    return "\u2421" if code == 0x7F else "\ufffd"


def printable(text: str, *, inline: bool = False) -> str:
    """`text` with every control character made visible (same length, so offsets into it
    stay valid): nothing from a post can move the cursor, retitle the terminal or write to
    the clipboard. `inline` also replaces newlines and tabs (a title is one line)."""
    return (_CONTROL_INLINE if inline else _CONTROL).sub(_visible, text)


def meta_line(date: dt.date | None, category: str, tags: Iterable[str]) -> str:
    """`2023-03-10 · 信息时代 · RoPE, 外推`: the same order wherever a post is listed."""
    parts = [date.isoformat() if date else "", category, ", ".join(tags)]
    return printable(" · ".join(p for p in parts if p), inline=True)


def snippet_text(snippet: Snippet, style: Style | str = HIGHLIGHT) -> Text:
    """The snippet as rich Text with its query terms highlighted (never parsed as markup)."""
    text = Text(printable(snippet.text, inline=True))
    for start, end in snippet.highlights:
        text.stylize(style, start, end)
    return text
