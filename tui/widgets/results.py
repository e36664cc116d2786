"""The result list: one card per hit, drawn at whatever width the list has."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import var
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from search.display import meta_line, printable, snippet_text

if TYPE_CHECKING:
    from search import Hit

SNIPPET_LINES = 2


class HitCard:
    """One result as a Rich renderable: rank and title, metadata, and at most two snippet lines;
    `compact` (a short terminal): the title and one line, the snippet's or else the metadata.

    Rendering at the width the list offers (rather than pre-cutting strings) keeps wide
    characters aligned at any terminal size and lets the list re-wrap on resize.
    """

    INDENT = 3

    def __init__(self, rank: int, hit: Hit, *, compact: bool = False) -> None:
        self.rank = rank
        self.hit = hit
        self.compact = compact

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, self.INDENT + 4)
        inner = width - self.INDENT
        pad = " " * self.INDENT
        head = Text(f"{self.rank:>2} ", style="dim")
        head.append(printable(self.hit.title, inline=True), style="bold")
        yield clip(head, width)
        meta = Text(meta_line(self.hit.date, self.hit.category, self.hit.tags), style="dim")
        if self.compact:
            lines = fold(snippet_text(self.hit.snippet), inner) if self.hit.snippet.text else []
            line = lines[0] + "…" if len(lines) > 1 else lines[0] if lines else meta
            yield Text(pad) + clip(line, inner)
            return
        yield Text(pad) + clip(meta, inner)
        if not self.hit.snippet.text:
            return
        lines = fold(snippet_text(self.hit.snippet), inner)
        if len(lines) > SNIPPET_LINES:
            lines = lines[:SNIPPET_LINES]
            lines[-1] = clip(lines[-1] + "…", inner)
        for line in lines:
            yield Text(pad) + line


def clip(text: Text, width: int) -> Text:
    """`text` cut to `width` cells with a trailing ellipsis (never half a wide character)."""
    if text.cell_len <= width:
        return text
    text = text.copy()
    text.truncate(width - 1)
    text.rstrip()
    text.append("…")
    return text


_UNIT = re.compile(r"[\x21-\x7e]+|.", re.S)


def fold(text: Text, width: int) -> list[Text]:
    """Wrap `text` to `width` cells, breaking between any two CJK characters.

    Rich wraps only at spaces, so a run of Chinese reads as one long word and leaves ragged
    half-empty lines; here only runs of printable ASCII (words, numbers, LaTeX) stay whole.
    """
    plain = text.plain
    breaks: list[int] = []
    used = 0
    for m in _UNIT.finditer(plain):
        unit = m.group()
        w = cell_len(unit)
        if used + w <= width:
            used += w
        elif unit.isspace():
            breaks.append(m.end())
            used = 0
        elif w <= width:
            breaks.append(m.start())
            used = w
        else:  # a word longer than a line: cut it wherever the line is full
            for i, ch in enumerate(unit, m.start()):
                cw = cell_len(ch)
                if used + cw > width and used:
                    breaks.append(i)
                    used = 0
                used += cw
    lines = text.divide(breaks) if breaks else [text.copy()]
    out = []
    for line in lines:
        line.rstrip()
        if line.plain.startswith(" "):
            line = line[1:]
        if line.plain:
            out.append(line)
    return out


class ResultList(OptionList):
    """Result cards; j/k move, and up from the first result returns to the query box.

    `brief` draws two-line cards without separators, so a 24-line terminal shows more
    than six results; `append_hits` adds a page under the cursor without moving it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "First", show=False),
        Binding("G", "last", "Last", show=False),
    ]

    class Ascend(Message):
        """Up was pressed on the first result: back to the query box."""

    brief: var[bool] = var(False, init=False)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.hits: tuple[Hit, ...] = ()

    def _cards(self, hits: Sequence[Hit], first_rank: int) -> list[Option | None]:
        options: list[Option | None] = []
        for rank, hit in enumerate(hits, first_rank):
            if options and not self.brief:
                options.append(None)
            options.append(Option(HitCard(rank, hit, compact=self.brief), id=str(hit.post_id)))
        return options

    def show_hits(self, hits: Sequence[Hit]) -> None:
        self.hits = tuple(hits)
        self.set_options(self._cards(hits, 1))
        if hits:
            self.highlighted = 0
        self.scroll_home(animate=False)

    def append_hits(self, hits: Sequence[Hit]) -> None:
        """Add the next page under the ones shown; the cursor and the scroll stay put."""
        if not hits:
            return
        more: list[Option | None] = [None] if self.hits and not self.brief else []
        more += self._cards(hits, len(self.hits) + 1)
        self.hits += tuple(hits)
        self.add_options(more)

    def watch_brief(self) -> None:
        """Redraw the cards at the new size, keeping the cursor where it was."""
        highlighted = self.highlighted
        self.set_options(self._cards(self.hits, 1))
        if highlighted is not None and self.hits:
            self.highlighted = min(highlighted, len(self.hits) - 1)

    def action_cursor_up(self) -> None:
        if not self.highlighted:
            self.post_message(self.Ascend())
            return
        super().action_cursor_up()
