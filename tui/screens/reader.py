"""The reader: one post full screen, the query's terms marked, with find-in-post."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from search import DataError, links_of
from tui.messages import CopyUrl, OpenUrl
from tui.widgets.post import PostView

if TYPE_CHECKING:
    from search import Post, PostLinks, Searcher


class ReaderScreen(Screen[None]):
    """The selected post full screen, scrolled to the passage that matched; esc or q comes
    back (as q leaves `less`; ctrl+q quits).

    `/` opens the find box; enter marks every match and goes to the first one on screen or
    below, `n` / `N` step through them, and the count (`3/12`) shows which one is current.
    `l` lists what the post cites and what cites it, `[` / `]` read the previous / next part
    of its series; each opens on top, so esc walks back the way it came.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "find", "Find"),
        Binding("n", "find_next", "Next"),
        Binding("N", "find_previous", "Prev"),
        Binding("o", "open_browser", "Open"),
        Binding("y", "copy_url", "Copy"),
        Binding("l", "links", "Links"),
        Binding("left_square_bracket", "previous_part", "Prev part"),
        Binding("right_square_bracket", "next_part", "Next part"),
        Binding("question_mark", "app.help", "Keys"),
        # As in `less`: q leaves the post (to the results); ctrl+q quits from anywhere.
        Binding("q", "leave", "Back", show=False),
    ]

    # The find-in-post state: what was looked for, and (current, count) of its matches.
    finding: var[str] = var("", init=False)
    position: var[tuple[int, int]] = var((0, 0), init=False, always_update=True)

    def __init__(self, post: Post, offset: int = 0, terms: Sequence[str] = ()) -> None:
        super().__init__()
        self.post = post
        self.passage = offset
        self.terms = tuple(terms)

    def compose(self) -> ComposeResult:
        yield PostView(id="reader")
        with Horizontal(id="findbar"):
            yield Label("find", classes="find-label")
            yield Input(
                placeholder="text in this post · enter: find · esc: close", id="find", compact=True
            )
            yield Static(id="find-count")
        yield Footer(show_command_palette=False)  # (room for the find keys at 80 columns)

    async def on_mount(self) -> None:
        view = self.query_one(PostView)
        view.focus()
        await view.show(self.post, self.passage, self.terms)
        self.links = post_links(self.app, self.post.id)
        if self.links is not None:
            self.refresh_bindings()

    @property
    def view(self) -> PostView:
        return self.query_one("#reader", PostView)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("find_next", "find_previous"):
            return self.position[1] > 0  # shown (and bound) once there are matches to go to
        if action in ("links", "previous_part", "next_part"):
            return self._graph_action(action)
        return True

    # -- find ------------------------------------------------------------------------------
    def action_find(self) -> None:
        bar = self.query_one("#findbar")
        bar.add_class("-visible")
        box = self.query_one("#find", Input)
        box.value = self.finding
        box.focus()
        box.select_all()

    @on(Input.Submitted, "#find")
    def _find_submitted(self, event: Input.Submitted) -> None:
        self.finding = event.value
        count = self.view.find(event.value)
        self.position = (self.view.current + 1 if self.view.current is not None else 0, count)
        if not event.value:
            self._close_find()
        self.view.focus()

    def action_find_next(self) -> None:
        self._step(+1)

    def action_find_previous(self) -> None:
        self._step(-1)

    def _step(self, delta: int) -> None:
        if not self.view.matches:
            return
        self.view.step(delta)
        current = self.view.current if self.view.current is not None else 0
        self.position = (current + 1, len(self.view.matches))

    def watch_position(self) -> None:
        current, count = self.position
        label = self.query_one("#find-count", Static)
        if not self.finding:
            label.update("")
        elif count:
            label.update(Text(f"{current}/{count}", style="bold"))
        else:
            label.update(Text("no match", style="bold"))
        label.set_class(bool(self.finding) and not count, "-none")
        self.refresh_bindings()

    def _close_find(self) -> None:
        """Hide the box and unmark the matches (the query's terms stay marked)."""
        self.query_one("#findbar").remove_class("-visible")
        if self.finding:
            self.finding = ""
            self.view.find("")
            self.position = (0, 0)
        self.view.focus()

    # -- other actions ---------------------------------------------------------------------
    def action_back(self) -> None:
        """Esc: out of the find box, else unmark the matches, else back to the results."""
        if self.query_one("#find", Input).has_focus or self.finding:
            self._close_find()
        else:
            self.dismiss()

    def action_leave(self) -> None:
        """q: back to the results at once, whatever is marked (the find box takes q as a
        letter)."""
        self.dismiss()

    def action_open_browser(self) -> None:
        self.app.post_message(OpenUrl(self.post.url))

    def action_copy_url(self) -> None:
        self.app.post_message(CopyUrl(self.post.url))

    # -- the post's links and series (search.graph) -----------------------------------------
    links: PostLinks | None = None

    def _graph_action(self, action: str) -> bool:
        """Shown (and bound) only where there is somewhere to go: links to list, a part
        before or after this one."""
        links = self.links
        if links is None:
            return False
        if action == "links":
            return bool(links.cites or links.cited_by)
        place = links.series
        if place is None:
            return False
        return (place.previous if action == "previous_part" else place.next) is not None

    def action_links(self) -> None:
        if self.links is not None and (self.links.cites or self.links.cited_by):
            from tui.screens.links import LinksScreen

            read = lambda post_id: read_post(self.app, post_id)  # noqa: E731
            self.app.push_screen(LinksScreen(self.post.title, self.links, read))

    def action_previous_part(self) -> None:
        self._part("previous")

    def action_next_part(self) -> None:
        self._part("next")

    def _part(self, which: str) -> None:
        """Read the previous or next part in a reader on top of this one (esc: back here)."""
        place = self.links.series if self.links else None
        entry = getattr(place, which) if place else None
        if entry is not None:
            read_post(self.app, entry.post_id)


def post_links(app: App[object], post_id: int) -> PostLinks | None:
    """The post's links and series from the app's searcher (None before an index is open, or
    when the graph cannot be read: the reader then offers no links, it does not fail)."""
    searcher: Searcher | None = getattr(app, "searcher", None)
    if searcher is None:
        return None
    try:
        return links_of(searcher, post_id)
    except DataError:
        return None


def read_post(app: App[object], post_id: int) -> None:
    """Read post `post_id` in a new reader on top of the current screen."""
    searcher: Searcher | None = getattr(app, "searcher", None)
    post = searcher.get(post_id) if searcher is not None else None
    if post is None:
        app.notify(f"post {post_id} is not in the archive", severity="warning", markup=False)
        return
    app.push_screen(ReaderScreen(post))
