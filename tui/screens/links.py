"""The links of a post: what it cites and what cites it, each with the sentence that cites it.

Pushed from the reader (`l`); enter reads the chosen post in a reader on top, so esc walks back
the same way: that reader, this list, the post it came from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from search.display import printable

if TYPE_CHECKING:
    from search import LinkedPost, PostLinks


def link_prompt(entry: LinkedPost) -> Text:
    """Title (or the URL of a post the archive lacks), date, then the citing sentence, dim:
    all of it text, never markup."""
    text = Text()
    if entry.title is None:
        text.append("(not in the archive) ", style="yellow")
        text.append(printable(entry.url, inline=True))
    else:
        text.append(printable(entry.title, inline=True), style="bold")
    if entry.date:
        text.append(f"  {entry.date.isoformat()}", style="dim")
    text.append("\n  " + printable(entry.sentence, inline=True), style="dim")
    return text


class LinksScreen(Screen[None]):
    """A post's cites and cited-by as one list; enter reads one, esc comes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, title: str, links: PostLinks, read: Callable[[int], None]) -> None:
        """`read(post_id)`: open that post (the reader's `read_post`, on top of this)."""
        super().__init__()
        self.post_title = title
        self.links = links
        self.read = read

    def compose(self) -> ComposeResult:
        yield Label(Text(printable(self.post_title, inline=True), style="bold"), id="links-title")
        options: list[Option | None] = []
        for heading, entries, kind in (
            ("cites", self.links.cites, "cites"),
            ("cited by", self.links.cited_by, "cited_by"),
        ):
            options.append(Option(Text(f"{heading} ({len(entries)})", style="bold"), disabled=True))
            for entry in entries:
                options.append(Option(link_prompt(entry), id=f"{kind}-{entry.post_id}"))
        yield OptionList(*options, id="links")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        box = self.query_one("#links", OptionList)
        box.focus()
        box.action_first()

    @on(OptionList.OptionSelected, "#links")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.read(int((event.option.id or "").rpartition("-")[2]))

    def action_back(self) -> None:
        self.dismiss()
