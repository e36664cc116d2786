"""The reader: one post full screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from tui.widgets.post import PostView

if TYPE_CHECKING:
    from search import Post
    from tui.app import SearchApp


class ReaderScreen(Screen[None]):
    """The selected post full screen, scrolled to the passage that matched; Esc comes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Back"),
        Binding("o", "open_browser", "Open in browser"),
        Binding("y", "copy_url", "Copy URL"),
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

    def action_open_browser(self) -> None:
        cast("SearchApp", self.app).open_url(self.post.url)

    def action_copy_url(self) -> None:
        cast("SearchApp", self.app).copy_url(self.post.url)
