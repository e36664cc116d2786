"""A post rendered as markdown (math as `terminal_markdown` renders it), scrolled to the passage
that matched.

The query's terms are marked in the rendered text, and `find` marks and steps through the
matches of a string (the reader's find-in-post). Both are styles laid over the blocks' rendered
content, never edits of the markdown: nothing from the post is re-parsed, and a term can't land
inside a code span, a code block or a formula (those are left as they are).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from markdown_it.token import Token
from rich.cells import cell_len
from rich.style import Style as RichStyle
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.style import Style
from textual.widget import Widget
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from search import QuerySyntaxError, parse_query
from search.display import HIGHLIGHT, meta_line, printable
from search.render import terminal_markdown

if TYPE_CHECKING:
    from search import Hit, Post

TERM_STYLE = Style.from_rich_style(HIGHLIGHT)  # as in the result cards
FOUND_STYLE = Style.from_rich_style(RichStyle(underline=True, bold=True))
CURRENT_STYLE = Style.from_rich_style(HIGHLIGHT + RichStyle(reverse=True))
CODE_SPAN = ".code_inline"  # how Textual styles a code span (and so inline math)


def passage_line(body: str, offset: int) -> int:
    """The line of `terminal_markdown(body)` where body character `offset` lands.

    Converting the prefix keeps the count right when math above it became fenced blocks.
    """
    return terminal_markdown(body[:offset]).count("\n") if offset > 0 else 0


def hit_offset(hit: Hit) -> int:
    """Where to open `hit`'s post: at the formula that found it, else at its snippet (which
    for a formula too long to show as text starts at the prose before it, maybe far above)."""
    return hit.formula_offset if hit.formula_offset is not None else hit.snippet.offset


def query_terms(query: str, hit: Hit | None = None) -> tuple[str, ...]:
    """What to mark in a post found by `query`: the words and phrases of the query, and what
    the hit's snippet highlights (how the index matched them: `扩散模型` finds `扩散`, `模型`).

    Longest first, so a phrase wins over its words; one ASCII letter alone is left out (it
    would mark every `a` in the post).
    """
    terms: dict[str, str] = {}
    try:
        parsed = parse_query(query)
    except QuerySyntaxError:
        words: list[str] = []
    else:
        words = [*parsed.phrases, *parsed.text.split()]
    if hit is not None:
        words += [hit.snippet.text[s:e] for s, e in hit.snippet.highlights]
    for word in words:
        word = word.strip()
        if word and not (len(word) == 1 and word.isascii()):
            terms.setdefault(word.casefold(), word)
    return tuple(sorted(terms.values(), key=len, reverse=True))


def term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    terms = [t for t in terms if t]
    if not terms:
        return None
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)


Mark = tuple[int, int, Style]  # start, end, style: laid over a block's rendered text


class MathFence(MarkdownFence):
    """A code block (fenced or indented); display math (fenced as `latex` by
    `terminal_markdown`) wraps instead of scrolling sideways, so a long formula stays readable
    in a narrow pane. It keeps find's marks when Textual highlights the code again (it does on
    every style update)."""

    marks: tuple[Mark, ...] = ()
    base: Content | None = None  # the highlighted code, unmarked

    def __init__(self, markdown: Markdown, token: Token, code: str) -> None:
        super().__init__(markdown, token, code)
        if self.lexer == "latex":
            self.add_class("-math")

    def set_content(self, content: Content) -> None:
        self.base = content
        for start, end, style in self.marks:
            content = content.stylize(style, start, end)
        super().set_content(content)

    def code_content(self) -> Content | None:
        if self.base is None:
            label = self.query_one(Label).content
            self.base = label if isinstance(label, Content) else None
        return self.base

    def mark(self, marks: tuple[Mark, ...]) -> None:
        self.marks = marks
        base = self.code_content()
        if base is not None:
            self.set_content(base)


class PostMarkdown(Markdown):
    BLOCKS: ClassVar[dict[str, type[MarkdownBlock]]] = {
        **Markdown.BLOCKS,
        "fence": MathFence,
        "code_block": MathFence,
    }


@dataclass
class Piece:
    """A run of rendered text: a block's (a paragraph, a heading, a code block).

    `base` is the content as the markdown widget made it; what is shown is `base` with `marks`
    laid over it. `code_spans` are where code spans (and so inline math) are."""

    block: MarkdownBlock
    base: Content
    code: bool
    code_spans: tuple[tuple[int, int], ...] = ()
    marks: tuple[Mark, ...] = ()

    def show(self, marks: tuple[Mark, ...]) -> None:
        if marks == self.marks:
            return
        self.marks = marks
        if isinstance(self.block, MathFence):
            self.block.mark(marks)
            return
        content = self.base
        for start, end, style in marks:
            content = content.stylize(style, start, end)
        self.block.set_content(content)


@dataclass(frozen=True, slots=True)
class Match:
    piece: int
    start: int
    end: int


class PostView(VerticalScroll):
    """A post rendered as markdown and scrolled to a passage, its query terms marked; `find`
    marks a string's matches and `step` goes through them."""

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
        self.terms: tuple[str, ...] = ()
        self.matches: list[Match] = []
        self.current: int | None = None  # index into `matches`
        self._pieces: list[Piece] = []
        self._target: MarkdownBlock | None = None
        self._pending = False

    def compose(self) -> ComposeResult:
        yield Static(classes="post-head")
        yield PostMarkdown(classes="post-body", open_links=False)

    async def show(self, post: Post | None, offset: int = 0, terms: Sequence[str] = ()) -> None:
        """Show `post` scrolled to body offset `offset`, with `terms` marked."""
        head = self.query_one(".post-head", Static)
        body = self.query_one(".post-body", Markdown)
        if post is None:
            self.post = None
            self._pieces = []
            self.matches, self.current = [], None
            head.update("")
            await body.update("")
            return
        if self.post is None or self.post.id != post.id:
            self.post = post
            self.matches, self.current = [], None
            title = Text(printable(post.title, inline=True), style="bold")
            title.append("\n" + meta_line(post.date, post.category, post.tags), style="dim")
            title.append("\n" + printable(post.url, inline=True), style="dim underline")
            head.update(title)
            # printable() keeps the length, so body offsets still find the matched passage.
            await body.update(terminal_markdown(printable(post.body)))
            self._pieces = self._collect(body)
            self.terms = ()
        self.mark_terms(terms)
        self.scroll_to_passage(offset)

    @staticmethod
    def _collect(body: Markdown) -> list[Piece]:
        pieces = []
        for block in body.query(MarkdownBlock):
            if isinstance(block, MathFence):
                code = block.code_content()
                if code is not None:
                    pieces.append(Piece(block, code, code=True))
            elif isinstance(block, MarkdownFence):
                continue  # (every code block is a MathFence)
            elif isinstance(block.content, Content) and block.content.plain:
                spans = tuple((s.start, s.end) for s in block.content.spans if s.style == CODE_SPAN)
                pieces.append(Piece(block, block.content, code=False, code_spans=spans))
        return pieces

    # -- marking ---------------------------------------------------------------------------
    def mark_terms(self, terms: Sequence[str]) -> None:
        """Mark `terms` (case-insensitively) in the text, outside code and math."""
        terms = tuple(terms)
        if terms != self.terms:
            self.terms = terms
            self._paint()

    def find(self, text: str) -> int:
        """Mark every match of `text` (case-insensitive, code and math included: what is asked
        for is looked for everywhere) and move to the first one on or below the top of the
        view; the number of matches."""
        self.matches, self.current = [], None
        if text:
            pattern = re.compile(re.escape(text), re.I)
            for i, piece in enumerate(self._pieces):
                for m in pattern.finditer(piece.base.plain):
                    self.matches.append(Match(i, m.start(), m.end()))
        if self.matches:
            top = self.content_region.y
            below = (
                n
                for n, m in enumerate(self.matches)
                if self._pieces[m.piece].block.region.bottom > top
            )
            self.current = next(below, 0)
        self._paint()
        self._reveal()
        return len(self.matches)

    def step(self, delta: int) -> None:
        """Go to the next (`+1`) or previous (`-1`) match, wrapping around."""
        if not self.matches:
            return
        current = self.current if self.current is not None else -delta
        self.current = (current + delta) % len(self.matches)
        self._paint()
        self._reveal()

    def _paint(self) -> None:
        pattern = term_pattern(self.terms)
        found: dict[int, list[Mark]] = {}
        for n, m in enumerate(self.matches):
            style = CURRENT_STYLE if n == self.current else FOUND_STYLE
            found.setdefault(m.piece, []).append((m.start, m.end, style))
        for i, piece in enumerate(self._pieces):
            marks: list[Mark] = []
            if pattern is not None and not piece.code:
                for m in pattern.finditer(piece.base.plain):
                    if not any(s < m.end() and m.start() < e for s, e in piece.code_spans):
                        marks.append((m.start(), m.end(), TERM_STYLE))
            marks += found.get(i, ())
            piece.show(tuple(marks))

    def _reveal(self) -> None:
        """Scroll the current match into view (a long paragraph: to the match's line)."""
        if self.current is None:
            return
        match = self.matches[self.current]
        piece = self._pieces[match.piece]
        block: Widget = piece.block
        view = self.scrollable_content_region.height
        if block.outer_size.height <= view:
            self.scroll_to_widget(block, center=True, animate=False, immediate=True)
            return
        # Roughly the line the match is on (wrapping moves it by a line or two at most).
        width = max(1, piece.block.content_size.width)
        line = cell_len(piece.base.plain[: match.start]) // width
        self.scroll_to_widget(block, top=True, animate=False, immediate=True)
        self.scroll_to(y=self.scroll_y + max(0, line - view // 3), animate=False, immediate=True)

    def current_match(self) -> Match | None:
        return self.matches[self.current] if self.current is not None else None

    # -- the passage -----------------------------------------------------------------------
    def scroll_to_passage(self, offset: int) -> None:
        """Mark the block holding body offset `offset` (or, between blocks, the next one) and
        bring it to the top."""
        self.offset_shown = offset
        body = self.query_one(".post-body", Markdown)
        blocks = [b for b in body.children if isinstance(b, MarkdownBlock)]
        for block in blocks:
            block.remove_class("-match")
        self._target = None
        if self.post is not None and offset > 0 and blocks:
            # The first block not above the offset's line: a display formula's fence starts a
            # line or two below it (terminal_markdown sets it apart), so the block the line
            # falls in can be the paragraph before. The 198 formula hits of formula-dev
            # (lexical, top 10) marked their formula's block 31 times that way, now 198.
            line = passage_line(self.post.body, offset)
            target = next((b for b in blocks if b.source_range[1] > line), blocks[-1])
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
