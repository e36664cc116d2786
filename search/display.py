"""How a hit looks in a terminal, for every front end that draws one (the CLI and the TUI)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text

from search.snippets import Snippet

HIGHLIGHT = Style(bold=True, color="yellow")


def meta_line(date: dt.date | None, category: str, tags: Iterable[str]) -> str:
    """`2023-03-10 · 信息时代 · RoPE, 外推`: the same order wherever a post is listed."""
    parts = [date.isoformat() if date else "", category, ", ".join(tags)]
    return " · ".join(p for p in parts if p)


def snippet_text(snippet: Snippet, style: Style | str = HIGHLIGHT) -> Text:
    """The snippet as rich Text with its query terms highlighted (never parsed as markup)."""
    text = Text(snippet.text)
    for start, end in snippet.highlights:
        text.stylize(style, start, end)
    return text
