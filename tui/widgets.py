"""The pieces of the search screen: query box, result cards, post view, help and reader screens."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from markdown_it.token import Token
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Markdown, OptionList, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from corpus.post import Post
    from search.hits import Hit

HIGHLIGHT = Style(bold=True, color="yellow")
SNIPPET_LINES = 2
HISTORY_SIZE = 200


def meta_line(date: dt.date | None, category: str, tags: Iterable[str]) -> str:
    """`2023-03-10 · 信息时代 · RoPE, 外推`: the same order in the list, preview and reader."""
    parts = [date.isoformat() if date else "", category, ", ".join(tags)]
    return " · ".join(p for p in parts if p)


def snippet_text(hit: Hit) -> Text:
    text = Text(hit.snippet.text)
    for start, end in hit.snippet.highlights:
        text.stylize(HIGHLIGHT, start, end)
    return text


class HitCard:
    """One result as a Rich renderable: rank and title, metadata, and at most two snippet lines.

    Rendering at the width the list offers (rather than pre-cutting strings) keeps wide
    characters aligned at any terminal size and lets the list re-wrap on resize.
    """

    INDENT = 3

    def __init__(self, rank: int, hit: Hit) -> None:
        self.rank = rank
        self.hit = hit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(options.max_width, self.INDENT + 4)
        inner = width - self.INDENT
        pad = " " * self.INDENT
        head = Text(f"{self.rank:>2} ", style="dim")
        head.append(self.hit.title, style="bold")
        yield clip(head, width)
        meta = Text(meta_line(self.hit.date, self.hit.category, self.hit.tags), style="dim")
        yield Text(pad) + clip(meta, inner)
        if not self.hit.snippet.text:
            return
        lines = fold(snippet_text(self.hit), inner)
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


class QueryInput(Input):
    """The query box, with shell-like history on up/down.

    Down past the newest entry hands focus to the results, so arrows alone get from typing
    to browsing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history_back", "Older query", show=False),
        Binding("down", "history_forward", "Newer query / results", show=False),
    ]

    class Descend(Message):
        """Down was pressed with no newer history: move to the results."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._pos: int | None = None
        self._draft = ""
        self._recalled: str | None = None

    def remember(self, query: str) -> None:
        query = query.strip()
        if not query:
            return
        if query in self.history:
            self.history.remove(query)
        self.history.append(query)
        del self.history[:-HISTORY_SIZE]
        self._pos = None

    def _recall(self, text: str) -> None:
        self._recalled = text
        self.value = text
        self.cursor_position = len(text)

    def action_history_back(self) -> None:
        if not self.history:
            return
        if self._pos is None:
            self._draft = self.value
            self._pos = len(self.history) - 1
        else:
            self._pos = max(0, self._pos - 1)
        self._recall(self.history[self._pos])

    def action_history_forward(self) -> None:
        if self._pos is None:
            self.post_message(self.Descend())
            return
        self._pos += 1
        if self._pos >= len(self.history):
            self._pos = None
            self._recall(self._draft)
        else:
            self._recall(self.history[self._pos])

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        # An edit (not a recall) starts a new draft; the event still bubbles to the app.
        if event.value != self._recalled:
            self._pos = None
            self._recalled = None


class ResultList(OptionList):
    """Result cards; j/k move, and up from the first result returns to the query box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g", "first", "First", show=False),
        Binding("G", "last", "Last", show=False),
    ]

    class Ascend(Message):
        """Up was pressed on the first result: back to the query box."""

    def show_hits(self, hits: list[Hit]) -> None:
        options: list[Option | None] = []
        for rank, hit in enumerate(hits, 1):
            options.append(Option(HitCard(rank, hit), id=str(hit.post_id)))
            options.append(None)
        self.set_options(options[:-1])
        if hits:
            self.highlighted = 0
        self.scroll_home(animate=False)

    def action_cursor_up(self) -> None:
        if not self.highlighted:
            self.post_message(self.Ascend())
            return
        super().action_cursor_up()


def passage_line(body: str, offset: int) -> int:
    """The line of `terminal_markdown(body)` where body character `offset` lands.

    Converting the prefix keeps the count right when math above it became fenced blocks.
    """
    from search.render import terminal_markdown

    return terminal_markdown(body[:offset]).count("\n") if offset > 0 else 0


class MathFence(MarkdownFence):
    """A fenced block; display math (fenced as `latex` by `terminal_markdown`) wraps instead of
    scrolling sideways, so a long formula stays readable in a narrow pane."""

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        super().__init__(markdown, token, code)
        if self.lexer == "latex":
            self.add_class("-math")


class PostMarkdown(Markdown):
    BLOCKS: ClassVar[dict[str, type[MarkdownBlock]]] = {
        **Markdown.BLOCKS,
        "fence": MathFence,
    }


class PostView(VerticalScroll):
    """A post rendered as markdown (LaTeX kept as source) and scrolled to a passage."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("space", "page_down", "Page down", show=False),
        Binding("b", "page_up", "Page up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.post: Post | None = None
        self.offset_shown = 0
        self._target: MarkdownBlock | None = None
        self._pending = False

    def compose(self) -> ComposeResult:
        yield Static(classes="post-head")
        yield PostMarkdown(classes="post-body", open_links=False)

    async def show(self, post: Post | None, offset: int = 0) -> None:
        from search.render import terminal_markdown

        head = self.query_one(".post-head", Static)
        body = self.query_one(".post-body", Markdown)
        if post is None:
            self.post = None
            head.update("")
            await body.update("")
            return
        if self.post is None or self.post.id != post.id:
            self.post = post
            title = Text(post.title, style="bold")
            title.append("\n" + meta_line(post.date, post.category, post.tags), style="dim")
            title.append("\n" + post.url, style="dim underline")
            head.update(title)
            await body.update(terminal_markdown(post.body))
        self.scroll_to_passage(offset)

    def scroll_to_passage(self, offset: int) -> None:
        """Mark the block holding body offset `offset` and bring it to the top."""
        self.offset_shown = offset
        body = self.query_one(".post-body", Markdown)
        blocks = [b for b in body.children if isinstance(b, MarkdownBlock)]
        for block in blocks:
            block.remove_class("-match")
        self._target = None
        if self.post is not None and offset > 0 and blocks:
            line = passage_line(self.post.body, offset)
            target = blocks[0]
            for block in blocks:
                if block.source_range[0] > line:
                    break
                target = block
            target.add_class("-match")
            self._target = target if target is not blocks[0] else None
        self._pending = True
        self.call_after_refresh(self.settle)

    def settle(self) -> None:
        """Scroll once laid out: a screen under the reader is not, so this waits for its return."""
        if not self._pending or not self.screen.is_current:
            return
        self._pending = False
        if self._target is None:
            self.scroll_home(animate=False)
        else:
            self.scroll_to_widget(self._target, top=True, animate=False)


class ReaderScreen(Screen[None]):
    """The selected post full screen; Esc comes back to the results."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("o", "app.open_browser", "Open in browser"),
        Binding("y", "app.copy_url", "Copy URL"),
        Binding("question_mark", "app.help", "Keys"),
    ]

    def __init__(self, post: Post, offset: int = 0) -> None:
        super().__init__()
        self.post = post
        self.passage = offset

    def compose(self) -> ComposeResult:
        yield PostView(id="reader")
        yield Footer()

    async def on_mount(self) -> None:
        view = self.query_one(PostView)
        view.focus()
        await view.show(self.post, self.passage)


KEYS: list[tuple[str, str]] = [
    ("type", 'search as you type: words "phrases" -not tag: category: year:'),
    ("↑ ↓ in the box", "older / newer queries (↓ at the newest: to the results)"),
    ("enter  tab", "from the box to the results"),
    ("↑ ↓  j k", "move through the results"),
    ("enter", "read the post full screen (esc comes back)"),
    ("o", "open the post in the browser"),
    ("y", "copy its URL"),
    ("r", "posts related to the selected one (esc: back)"),
    ("m", "cycle the mode: hybrid → lexical → semantic"),
    ("s", "sort by relevance or newest first"),
    ("f", "filter bar: category, tag, years"),
    ("ctrl+p", "command palette: filters, mode, sort"),
    ("/  esc", "back to the query box"),
    ("?  f1", "this help"),
    ("q  ctrl+q", "quit"),
]


class HelpScreen(ModalScreen[None]):
    """The key list; any of esc, q or ? closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "app.pop_screen", "Close"),
    ]

    def compose(self) -> ComposeResult:
        table = Text()
        width = max(len(k) for k, _ in KEYS) + 2
        for key, what in KEYS:
            table.append(f"{key:<{width}}", style="bold")
            table.append(what + "\n")
        table.rstrip()
        with Vertical(id="help"):
            yield Static(table)
            yield Static(Text("esc, q or ? to close", style="dim"), id="help-foot")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Keys"
