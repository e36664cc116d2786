"""A post rendered as markdown, LaTeX kept as source, scrolled to the passage that matched."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from markdown_it.token import Token
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownBlock, MarkdownFence

from search.display import meta_line, printable
from search.render import terminal_markdown

if TYPE_CHECKING:
    from search import Post


def passage_line(body: str, offset: int) -> int:
    """The line of `terminal_markdown(body)` where body character `offset` lands.

    Converting the prefix keeps the count right when math above it became fenced blocks.
    """
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
        head = self.query_one(".post-head", Static)
        body = self.query_one(".post-body", Markdown)
        if post is None:
            self.post = None
            head.update("")
            await body.update("")
            return
        if self.post is None or self.post.id != post.id:
            self.post = post
            title = Text(printable(post.title, inline=True), style="bold")
            title.append("\n" + meta_line(post.date, post.category, post.tags), style="dim")
            title.append("\n" + printable(post.url, inline=True), style="dim underline")
            head.update(title)
            # printable() keeps the length, so body offsets still find the matched passage.
            await body.update(terminal_markdown(printable(post.body)))
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
