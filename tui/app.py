"""The terminal UI: search-as-you-type over the archive, with preview, filters and related posts.

`SearchApp` is the lifecycle: it opens the index in a thread worker, has the library load the
embedding models in the background (so quitting never waits for them) and shows their state,
holds the `Searcher` and the screens, and
offers the screens what they share (the browser, the clipboard, the help, quitting). The
searching itself is `SearchScreen`'s. It only talks to the public `search` API.

`run` is the interactive UI; `pick` is the same UI as a chooser in a pipeline (fzf-style): it
draws on the terminal, never on stdout, and prints the chosen post's URL there at the end.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen

from search import DataDir, DataError, Hit, Searcher
from search.display import printable
from tui.history import History
from tui.messages import (
    Browsed,
    Chosen,
    CopyUrl,
    GaveUp,
    HelpWanted,
    IndexFailed,
    IndexOpened,
    OpenUrl,
)
from tui.screens.help import HelpScreen
from tui.screens.search import SearchScreen
from tui.state import ModelState

MODEL_POLL = 0.1  # seconds between looks at the model's state while it loads


class SearchApp(App[int]):
    """Search-as-you-type over one data directory."""

    CSS_PATH = "app.tcss"
    TITLE = "kexue-search"
    # Help anywhere (the screens bind ? and q where they mean help and quit). ctrl+q quits from
    # every screen and widget (priority: nothing can take it); shown where q is typed instead,
    # as its action is q's (the footer shows one key per action). ctrl+c says how to quit.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Keys", show=False),
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
    ]

    model_state: var[ModelState] = var("opening")

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        searcher: Searcher | None = None,
        limit: int = 50,
        debounce: float = 0.12,
        preview_delay: float = 0.08,
        steady: bool = False,
        load_model: bool = True,
        history: History | None = None,
        query: str = "",
        pick: bool = False,
    ) -> None:
        """`searcher` skips opening `data_dir` (tests); `steady` hides elapsed times and stops
        the cursor blinking, so screenshots are reproducible; `load_model=False` never warms
        the model up; `history`: the query history (default: the one in the state directory);
        `query`: searched at once; `pick`: enter chooses a result (`picked`) and ends the app
        with status 0, quitting ends it with 1."""
        super().__init__()
        self.data = DataDir.resolve(data_dir)
        self.searcher: Searcher | None = None
        self._given_searcher = searcher
        self.load_model = load_model
        self.model_error = ""
        self.pick_mode = pick
        self.picked: Hit | None = None
        self.search_screen = SearchScreen(
            limit=limit,
            debounce=debounce,
            preview_delay=preview_delay,
            steady=steady,
            history=history if history is not None else History.default(),
            query=query,
            pick=pick,
        )

    def get_default_screen(self) -> SearchScreen:
        return self.search_screen

    def on_ready(self) -> None:
        # Once the search screen is up (and can say "Opening the index…").
        if self._given_searcher is not None:
            s = self._given_searcher
            self.post_message(IndexOpened(s, s.categories(), s.tags()))
        else:
            self._open_index()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Until an index is open there is nothing to do but read why, ask for help, or quit.
        return self.searcher is not None or action in ("help", "quit", "pop_screen")

    def busy(self) -> bool:
        """Whether the index is opening or a search or preview is due (tests and scripts wait
        for False)."""
        return self.model_state == "opening" or self.search_screen.busy()

    # -- opening the index and the model ---------------------------------------------------
    @work(thread=True, group="open")
    def _open_index(self) -> None:
        try:
            searcher = Searcher.open(self.data.root)
            categories, tags = searcher.categories(), searcher.tags()
        except DataError as exc:
            self.post_message(IndexFailed(str(exc)))
        except Exception as exc:  # an unreadable index must not take the UI down
            self.post_message(IndexFailed(f"could not open the index: {exc}"))
        else:
            self.post_message(IndexOpened(searcher, categories, tags))

    @on(IndexOpened)
    def _opened(self, event: IndexOpened) -> None:
        searcher = self.searcher = event.searcher
        if not searcher.has_vectors:
            self.model_state = "none"
        elif self.load_model:
            searcher.load_models(background=True)  # a daemon thread: never delays quitting
            self._follow_model()
            self.set_interval(MODEL_POLL, self._follow_model, name="model")
        else:
            self.model_error = "model loading is off"
            self.model_state = "failed"
        self.search_screen.index_opened(searcher, event.categories, event.tags)

    @on(IndexFailed)
    def _open_failed(self, event: IndexFailed) -> None:
        self.model_state = "none"
        where = "search index"
        if self.data.root != DataDir.resolve(None).root:
            where = f"search --data-dir {self.data.root} index"
        self.search_screen.index_failed(event.error, f"{where} kexue-posts.jsonl")

    def _follow_model(self) -> None:
        """Show the library's model state (`Searcher.model_state`); the screens ask the
        searcher itself, and searches that do not wait answer lexically until it is ready."""
        searcher = self.searcher
        if searcher is None or self.model_state in ("ready", "failed"):
            return
        state = searcher.model_state
        if state == "failed":
            self.model_error = searcher.model_error or "unknown error"
            self.notify(
                f"model could not load: {self.model_error}; using lexical",
                severity="warning",
                timeout=8,
                markup=False,
            )
        self.model_state = "loading" if state in ("idle", "loading") else state

    def watch_model_state(self, state: ModelState) -> None:
        self.search_screen.model_changed(state)

    # -- what the screens ask for (as messages: they never call the app) ---------------------
    @on(HelpWanted)
    def _help_wanted(self) -> None:
        self.action_help()

    @on(OpenUrl)
    def _open_url(self, event: OpenUrl) -> None:
        self.open_url(event.url)

    @on(CopyUrl)
    def _copy_url(self, event: CopyUrl) -> None:
        self.copy_url(event.url)

    @on(Chosen)
    def _chosen(self, event: Chosen) -> None:
        self.choose(event.hit)

    @on(GaveUp)
    def _gave_up(self) -> None:
        self.leave()

    # -- what the screens share ------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit: status 0, but 1 in pick mode (nothing was chosen)."""
        self.leave()

    def leave(self) -> None:
        self.exit(return_code=1 if self.pick_mode else 0)

    def action_help_quit(self) -> None:
        """ctrl+c: in pick mode it gives up (as in fzf); otherwise it says at once how to quit
        (it is copy in a text box, so quitting on it would lose a session by accident)."""
        if self.pick_mode:
            self.leave()
            return
        self.notify(
            "press ctrl+q to quit (or q, outside a text box)",
            title="Quit?",
            timeout=4,
            markup=False,
        )

    def choose(self, hit: Hit) -> None:
        """Pick mode: `hit` is the answer; the app ends with status 0."""
        self.picked = hit
        self.exit(return_code=0)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_url(self, url: str) -> None:
        """Open `url` in a browser, off the event loop; without one, copy it instead."""
        self._browse(url)

    @work(thread=True, group="browser")
    def _browse(self, url: str) -> None:
        self.post_message(Browsed(url, self.launch_browser(url)))

    @on(Browsed)
    def _browsed(self, event: Browsed) -> None:
        if event.opened:
            self.notify(f"opened {printable(event.url, inline=True)}", timeout=3, markup=False)
        else:
            self.copy_to_clipboard(event.url)
            self.notify(
                f"no graphical browser found; copied {printable(event.url, inline=True)}",
                severity="warning",
                markup=False,
            )

    def launch_browser(self, url: str) -> bool:
        """Open `url` in a graphical browser; a console one (lynx, w3m) would fight us for
        the terminal, so those count as none."""
        try:
            browser = webbrowser.get()
        except webbrowser.Error:
            return False
        if type(browser) is webbrowser.GenericBrowser:
            return False
        return browser.open(url, new=2)

    def copy_url(self, url: str) -> None:
        self.copy_to_clipboard(url)
        self.notify(f"copied {printable(url, inline=True)}", timeout=3, markup=False)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self.search_screen.system_commands()


def run(data_dir: Path | None = None) -> int:
    """Run the UI on `data_dir` (the default data directory when None); the exit status."""
    app = SearchApp(data_dir)
    try:
        app.run()
    finally:
        if app.searcher is not None:
            app.searcher.close()
    return app.return_code or 0


def pick(data_dir: Path | str | None, query: str = "", *, print_id: bool = False) -> int:
    """Choose a post in the UI, for pipelines (`search pick 扩散 | xargs xdg-open`).

    Opens the UI with `query` searched; enter on a result (or in the box, on the highlighted
    one) prints its URL (`print_id`: its id) and a newline to stdout and returns 0; esc from
    the results or the box, q, ctrl+q or ctrl+c print nothing and return 1; 2 when there is
    no terminal to draw on.

    Textual draws on stderr and reads stdin; whichever of stdin, stdout and stderr is not a
    terminal (a pipe, a file) is pointed at /dev/tty while the app runs, stdout included so
    nothing stray reaches the pipe, and put back before the answer is printed.
    """
    moved: dict[int, int] = {}
    tty: int | None = None
    try:
        if not all(os.isatty(fd) for fd in (0, 1, 2)):
            try:
                tty = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
            except OSError as exc:
                print(f"search pick: no terminal to draw on ({exc})", file=sys.stderr)
                return 2
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in (0, 1, 2):
            if tty is not None and not os.isatty(fd):
                try:
                    moved[fd] = os.dup(fd)
                except OSError:  # closed (`<&-`): closed again afterwards
                    moved[fd] = -1
                os.dup2(tty, fd)
        app = SearchApp(data_dir, query=query, pick=True)
        try:
            app.run()
        finally:
            if app.searcher is not None:
                app.searcher.close()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in moved.items():
            if saved < 0:
                os.close(fd)
            else:
                os.dup2(saved, fd)
                os.close(saved)
        if tty is not None:
            os.close(tty)
    hit = app.picked
    if app.return_code != 0 or hit is None:
        return app.return_code or 1
    answer = str(hit.post_id) if print_id else printable(hit.url, inline=True)
    sys.stdout.write(answer + "\n")
    sys.stdout.flush()
    return 0
