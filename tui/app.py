"""The terminal UI: search-as-you-type over the archive, with preview, filters and related posts.

It only talks to the public `search` API. Everything slow runs off the event loop: the index
opens and each search runs in a thread worker (a new keystroke supersedes a running search),
and the embedding model loads in a daemon thread so quitting never waits for it. Until the model
is ready, hybrid and semantic requests are answered lexically and the status bar says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import webbrowser
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.markup import escape
from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList, Select, Static
from textual.worker import get_current_worker

from index.errors import DataError
from index.paths import DataDir
from tui.widgets import (
    HelpScreen,
    PostView,
    QueryInput,
    ReaderScreen,
    ResultList,
)

if TYPE_CHECKING:
    from search.api import Searcher
    from search.hits import Hit

# The search package (numpy, tantivy, …) is imported in the thread that opens the index, so
# the window is up before it has loaded.
MODES = ("hybrid", "lexical", "semantic")  # the order `m` cycles through (search.api.MODES)
ModelState = Literal["opening", "none", "loading", "ready", "failed"]
RELATED = 20  # posts listed by `r`
SORT_LABELS = {"relevance": "relevance", "date": "newest first"}
SYNTAX_HINT = 'words  "a phrase"  -exclude  tag:RoPE  category:信息时代  year:2020..2023'
# Letter keys that only act while browsing; in a text box they are typed instead.
BROWSE_ACTIONS = frozenset(
    {"help", "cycle_mode", "toggle_sort", "related", "open_browser", "copy_url", "filters", "quit"}
)
# Actions about the result list, which do nothing over the reader or the help screen.
SEARCH_SCREEN_ACTIONS = frozenset(
    {"cycle_mode", "toggle_sort", "related", "filters", "focus_query", "back"}
)


@dataclass(frozen=True, slots=True)
class FilterState:
    """What the filter bar (or the command palette) restricts results to."""

    category: str | None = None
    tag: str | None = None
    since: str | None = None  # a year, "2021"
    until: str | None = None

    def __bool__(self) -> bool:
        return any((self.category, self.tag, self.since, self.until))

    def describe(self) -> str:
        parts = []
        if self.category:
            parts.append(f"category:{self.category}")
        if self.tag:
            parts.append(f"tag:{self.tag}")
        if self.since or self.until:
            parts.append(f"{self.since or '…'}–{self.until or '…'}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Request:
    """One search (or related-posts look-up) as dispatched; `generation` orders them."""

    generation: int
    query: str
    mode: str
    sort: str
    filters: FilterState
    related_to: Hit | None = None


class SearchApp(App[int]):
    """Search-as-you-type over one data directory."""

    CSS_PATH = "app.tcss"
    TITLE = "kexue-search"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Keys"),
        # F1 stands in for ? while typing (shown then); elsewhere the hidden one answers.
        Binding("f1", "keys", "Keys"),
        Binding("f1", "help", "Keys", show=False),
        Binding("m", "cycle_mode", "Mode"),
        Binding("s", "toggle_sort", "Sort"),
        Binding("r", "related", "Related"),
        Binding("o", "open_browser", "Open"),
        Binding("y", "copy_url", "Copy"),
        Binding("f", "filters", "Filter"),
        Binding("slash", "focus_query", "Search", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "quit", "Quit"),
    ]

    class Opened(Message):
        def __init__(self, searcher: Searcher, categories: list[str], tags: list[str]) -> None:
            super().__init__()
            self.searcher = searcher
            self.categories = categories
            self.tags = tags

    class OpenFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class ModelReady(Message):
        pass

    class ModelFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class NoBrowser(Message):
        def __init__(self, url: str) -> None:
            super().__init__()
            self.url = url

    class Results(Message):
        def __init__(
            self,
            request: Request,
            hits: list[Hit],
            warnings: list[str],
            error: str | None,
            elapsed: float,
        ) -> None:
            super().__init__()
            self.request = request
            self.hits = hits
            self.warnings = warnings
            self.error = error
            self.elapsed = elapsed

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
    ) -> None:
        """`searcher` skips opening `data_dir` (tests); `steady` hides elapsed times and stops
        the cursor blinking, so screenshots are reproducible; `load_model=False` never warms
        the model up."""
        super().__init__()
        self.data = DataDir.resolve(data_dir)
        self.searcher: Searcher | None = None
        self._given_searcher = searcher
        self.limit = limit
        self.debounce = debounce
        self.preview_delay = preview_delay
        self.steady = steady
        self.load_model = load_model
        self.mode = "hybrid"
        self.sort = "relevance"
        self.filters = FilterState()
        self.model_state: ModelState = "opening"
        self.model_error = ""
        self.post_count = 0
        self.hits: list[Hit] = []
        self.related_to: Hit | None = None
        self._saved: tuple[SearchApp.Results | None, int | None] | None = None
        self._last: SearchApp.Results | None = None
        self._generation = 0
        self._shown = 0  # the generation on screen
        self._search_lock = threading.Lock()
        self._debounce_timer: Timer | None = None
        self._preview_timer: Timer | None = None
        self._want_results = False  # enter was pressed before the results came

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield QueryInput(placeholder="Opening the index…", id="query")
        with Horizontal(id="filters"):
            yield Label("filter", classes="filter-label")
            yield Select[str]([], prompt="any category", id="category", compact=True)
            yield Select[str]([], prompt="any tag", id="tag", compact=True)
            yield Label("years", classes="filter-label")
            yield Input(placeholder="from", id="since", restrict=r"[0-9]{0,4}", compact=True)
            yield Label("–", classes="filter-label")
            yield Input(placeholder="to", id="until", restrict=r"[0-9]{0,4}", compact=True)
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield ResultList(id="results")
                yield Static(id="notice")
            yield PostView(id="preview")
        yield Static(id="message")
        with Horizontal(id="statusbar"):
            yield Static(id="status")
            yield Static(id="model")
        yield Footer()

    def on_mount(self) -> None:
        if self.steady:
            for box in self.query(Input):
                box.cursor_blink = False
        self.query_one("#query", QueryInput).border_title = "科学空间 · kexue.fm"
        self.query_one("#query").focus()
        self._set_notice("Opening the index…")
        self._refresh_status()
        if self._given_searcher is not None:
            s = self._given_searcher
            self.post_message(self.Opened(s, s.categories(), s.tags()))
        else:
            self._open_index()

    def on_resize(self, event: events.Resize) -> None:
        # Too narrow for two panes: the list alone (enter still reads a post full screen).
        self.set_class(event.size.width < 72, "-narrow")

    # -- opening the index and the model ---------------------------------------------------
    @work(thread=True, group="open")
    def _open_index(self) -> None:
        try:
            from search.api import Searcher

            searcher = Searcher.open(self.data.root)
            categories, tags = searcher.categories(), searcher.tags()
        except DataError as exc:
            self.post_message(self.OpenFailed(str(exc)))
        except Exception as exc:  # an unreadable index must not take the UI down
            self.post_message(self.OpenFailed(f"could not open the index: {exc}"))
        else:
            self.post_message(self.Opened(searcher, categories, tags))

    @on(Opened)
    def _opened(self, event: Opened) -> None:
        self.searcher = event.searcher
        self.post_count = len(event.searcher.meta)
        self.query_one("#category", Select).set_options((c, c) for c in event.categories)
        self.query_one("#tag", Select).set_options((t, t) for t in event.tags)
        self.query_one(
            "#query", QueryInput
        ).placeholder = f"Search {self.post_count} posts  (↓ results · F1 keys)"
        if event.searcher.has_vectors:
            self.mode = "hybrid"
            if event.searcher.model_loaded:
                self.model_state = "ready"
            elif self.load_model:
                self.model_state = "loading"
                threading.Thread(
                    target=self._warm_up, args=(event.searcher,), daemon=True, name="model"
                ).start()
            else:
                self.model_state = "failed"
                self.model_error = "model loading is off"
        else:
            self.mode = "lexical"
            self.model_state = "none"
        self._refresh_status()
        self.search_now()

    @on(OpenFailed)
    def _open_failed(self, event: OpenFailed) -> None:
        self.model_state = "none"
        where = "search index"
        if self._custom_dir():
            where = f"search --data-dir {self.data.root} index"
        self._set_notice(
            f"[b]No index to search[/b]\n\n{escape(event.error)}\n\n"
            f"Build one with:\n\n    [b]{escape(where)} kexue-posts.jsonl[/b]\n\n"
            "(a JSON Lines file, a folder of markdown or saved pages, or https://kexue.fm),\n"
            "then start [b]search tui[/b] again. q quits.",
            error=True,
            markup=True,
        )
        box = self.query_one("#query", QueryInput)
        box.placeholder = "No index (see below)"
        box.disabled = True  # nothing to type into; this also lets q quit at once
        self._refresh_status()

    def _custom_dir(self) -> bool:
        return self.data.root != DataDir.resolve(None).root

    def _warm_up(self, searcher: Searcher) -> None:
        """Runs in a daemon thread: the model can take seconds and must never delay quitting."""
        try:
            searcher.warm_up()
        except Exception as exc:  # DataError, or anything the model stack raises
            message: Message = self.ModelFailed(str(exc))
        else:
            message = self.ModelReady()
        with contextlib.suppress(RuntimeError):  # the app may have closed meanwhile
            self.post_message(message)

    @on(ModelReady)
    def _model_ready(self) -> None:
        self.model_state = "ready"
        self._refresh_status()
        if self.mode != "lexical":
            self._rerun()

    @on(ModelFailed)
    def _model_failed(self, event: ModelFailed) -> None:
        self.model_state = "failed"
        self.model_error = event.error
        self._refresh_status()
        self.notify(
            f"model could not load: {event.error}; using lexical",
            severity="warning",
            timeout=8,
        )

    # -- searching -------------------------------------------------------------------------
    def effective_mode(self) -> str:
        """The mode to ask for: lexical while the model loads or after it failed."""
        if self.mode == "lexical" or self.searcher is None:
            return "lexical"
        if self.searcher.has_vectors and self.model_state != "ready":
            return "lexical"
        # Without vectors the searcher itself falls back and says so in its warnings.
        return self.mode

    @property
    def query_text(self) -> str:
        return self.query_one("#query", QueryInput).value

    def schedule_search(self) -> None:
        """Debounce: each keystroke restarts the timer, so only a pause in typing searches."""
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
        self._debounce_timer = self.set_timer(self.debounce, self.search_now)

    def search_now(self) -> None:
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
            self._debounce_timer = None
        if self.searcher is None:
            return
        self.related_to = None
        self._saved = None
        self._generation += 1
        query = self.query_text
        if not query.strip() and not self.filters:
            self._shown = self._generation
            self._last = None
            self._show_hits([])
            self._set_notice(
                f"Type to search {self.post_count} posts.\n\n{SYNTAX_HINT}\n\n"
                "↓ or enter moves to the results · F1 lists the keys"
            )
            self._show_message("")
            self._refresh_status()
            return
        request = Request(self._generation, query, self.effective_mode(), self.sort, self.filters)
        self._run(request)

    @work(thread=True, exclusive=True, group="search")
    def _run(self, request: Request) -> None:
        """One search in a worker thread; results of a superseded search are dropped."""
        from search.query import QuerySyntaxError

        worker = get_current_worker()
        searcher = self.searcher
        assert searcher is not None
        hits: list[Hit] = []
        warnings: list[str] = []
        error: str | None = None
        with self._search_lock:  # `searcher.warnings` belongs to the last call
            if worker.is_cancelled or request.generation != self._generation:
                return
            started = time.perf_counter()
            try:
                if request.related_to is not None:
                    limit = min(self.limit, RELATED)
                    hits = searcher.similar(request.related_to.post_id, limit=limit)
                    if request.sort == "date":
                        hits.sort(key=lambda h: h.date.toordinal() if h.date else 0, reverse=True)
                else:
                    f = request.filters
                    hits = searcher.search(
                        request.query,
                        limit=self.limit,
                        mode=request.mode,  # type: ignore[arg-type]
                        category=f.category,
                        tags=f.tag,
                        since=f.since,
                        until=f.until,
                        sort=request.sort,  # type: ignore[arg-type]
                    )
                warnings = list(searcher.warnings)
            except QuerySyntaxError as exc:
                error = f"can't read that query: {exc}"
            except DataError as exc:
                error = str(exc)
            except Exception as exc:  # shown, not fatal: the next keystroke may well work
                error = f"search failed: {exc}"
            elapsed = time.perf_counter() - started
        if not worker.is_cancelled:
            self.post_message(self.Results(request, hits, warnings, error, elapsed))

    @on(Results)
    def _results(self, event: Results) -> None:
        if event.request.generation != self._generation:
            return
        self._shown = self._generation
        self._last = event
        self._show_hits(event.hits)
        if self._want_results:
            self._want_results = False
            self._focus_results()
        if event.error:
            self._set_notice(event.error, error=True)
        elif not event.hits:
            if event.request.related_to is not None:
                self._set_notice("No related posts found.")
            else:
                extra = f"\n\nFilters in use: {self.filters.describe()}" if self.filters else ""
                self._set_notice(f"No posts match “{event.request.query.strip()}”.{extra}")
        self._show_message(event.error or "; ".join(event.warnings), error=bool(event.error))
        self._refresh_status()

    def _show_hits(self, hits: list[Hit]) -> None:
        self.hits = hits
        results = self.query_one("#results", ResultList)
        results.show_hits(hits)
        results.display = bool(hits)
        self.query_one("#notice").display = not hits
        # With nothing to preview, the notice (hint, error) gets the whole width.
        self.query_one("#body").set_class(not hits, "-empty")
        if not hits:
            self._schedule_preview()

    def busy(self) -> bool:
        """Whether a search or preview is still due (tests and scripts wait for False)."""
        if self._debounce_timer is not None or self._preview_timer is not None:
            return True
        if self.model_state == "opening" or self._shown != self._generation:
            return True
        return any(not w.is_finished for w in self.workers if w.group in ("search", "preview"))

    # -- the preview -----------------------------------------------------------------------
    def selected_hit(self) -> Hit | None:
        index = self.query_one("#results", ResultList).highlighted
        return self.hits[index] if index is not None and index < len(self.hits) else None

    @on(OptionList.OptionHighlighted, "#results")
    def _highlighted(self) -> None:
        self._schedule_preview()

    def _schedule_preview(self) -> None:
        """Wait for the cursor to rest: rendering a long post costs more than a keystroke."""
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(self.preview_delay, self._preview_now)

    def _preview_now(self) -> None:
        self._preview_timer = None
        self.run_worker(self._load_preview(self.selected_hit()), exclusive=True, group="preview")

    async def _load_preview(self, hit: Hit | None) -> None:
        view = self.query_one("#preview", PostView)
        if hit is None or self.searcher is None:
            await view.show(None)
            return
        post = await asyncio.to_thread(self.searcher.get, hit.post_id)
        await view.show(post, hit.snippet.offset)

    # -- status ----------------------------------------------------------------------------
    def _set_notice(self, text: str, *, error: bool = False, markup: bool = False) -> None:
        """Show `text` where the results go (plain unless `markup`: queries hold brackets)."""
        notice = self.query_one("#notice", Static)
        notice.update(text if markup else Text(text))
        notice.set_class(error, "-error")
        if not self.hits:
            notice.display = True
            self.query_one("#results").display = False
            self.query_one("#body").add_class("-empty")

    def _show_message(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#message", Static)
        message.update(Text(text))
        message.set_class(error, "-error")
        message.display = bool(text)

    def status_text(self) -> str:
        """`12 results · 3 ms · lexical · relevance · tag:RoPE` (no time when steady)."""
        if self.searcher is None:
            return "opening the index…" if self.model_state == "opening" else "no index"
        last = self._last
        parts: list[str] = []
        if last is not None and not last.error:
            n = len(last.hits)
            if last.request.related_to is not None:
                parts.append(f"{n} related to 《{last.request.related_to.title}》 (esc: back)")
            else:
                parts.append(f"{n} result{'' if n == 1 else 's'}")
            if not self.steady:
                parts.append(f"{last.elapsed * 1000:.0f} ms")
        mode = self.mode
        ran = last.request.mode if last is not None else self.effective_mode()
        # The searcher notes a fallback in its warnings ("… searching lexically").
        fell_back = last is not None and any("lexical" in w for w in last.warnings)
        if ran != mode or fell_back:
            mode = f"{mode}→lexical"
        parts.append(mode)
        parts.append(SORT_LABELS[self.sort])
        if self.filters:
            parts.append(self.filters.describe())
        return " · ".join(parts)

    def model_text(self) -> str:
        return {
            "opening": "opening…",
            "none": "lexical only: no vector index" if self.searcher else "",
            "loading": "loading model… (lexical meanwhile)",
            "ready": "model ready",
            "failed": "model unavailable: lexical only",
        }[self.model_state]

    def _refresh_status(self) -> None:
        self.query_one("#status", Static).update(Text(self.status_text()))
        model = self.query_one("#model", Static)
        model.update(self.model_text())
        model.set_class(self.model_state in ("none", "failed"), "-degraded")

    # -- input events ----------------------------------------------------------------------
    @on(Input.Changed, "#query")
    def _query_changed(self) -> None:
        self._want_results = False
        self.schedule_search()

    @on(Input.Submitted, "#query")
    def _query_submitted(self) -> None:
        self.query_one("#query", QueryInput).remember(self.query_text)
        if self._debounce_timer is not None or self._shown != self._generation:
            # Results are on their way: move to them when they arrive.
            self._want_results = True
            if self._debounce_timer is not None:
                self.search_now()
        else:
            self._focus_results()

    @on(QueryInput.Descend)
    @on(Input.Submitted, "#since, #until")
    def _focus_results(self) -> None:
        results = self.query_one("#results", ResultList)
        if results.display and results.option_count:
            results.focus()

    @on(ResultList.Ascend)
    def _ascend(self) -> None:
        self.action_focus_query()

    @on(OptionList.OptionSelected, "#results")
    def _selected(self) -> None:
        self.action_read()

    @on(Select.Changed, "#category, #tag")
    def _select_changed(self, event: Select.Changed) -> None:
        value = None if event.value == Select.NULL else str(event.value)
        field = "category" if event.select.id == "category" else "tag"
        self.set_filters(replace(self.filters, **{field: value}))

    @on(Input.Changed, "#since, #until")
    def _year_changed(self, event: Input.Changed) -> None:
        value = event.value.strip()
        if value and len(value) != 4:
            return  # wait for four digits
        field = "since" if event.input.id == "since" else "until"
        self.set_filters(replace(self.filters, **{field: value or None}))

    def set_filters(self, filters: FilterState) -> None:
        """Apply filters (from the bar or the palette) and search again if they changed."""
        if filters == self.filters:
            return
        if filters.since and filters.until and filters.since > filters.until:
            self._show_message(f"years: {filters.since} is after {filters.until}", error=True)
            return
        self.filters = filters
        self._sync_filter_bar()
        self.search_now()

    def _sync_filter_bar(self) -> None:
        """Show the bar whenever a filter is on, and make its widgets agree with the state."""
        f = self.filters
        bar = self.query_one("#filters")
        if f:
            bar.add_class("-visible")
        for select_id, value in (("#category", f.category), ("#tag", f.tag)):
            select = self.query_one(select_id, Select)
            wanted = value if value is not None else Select.NULL
            if select.value != wanted:
                with select.prevent(Select.Changed):
                    select.value = wanted
        for input_id, value in (("#since", f.since), ("#until", f.until)):
            box = self.query_one(input_id, Input)
            if (box.value or None) != value and not (box.value and len(box.value) != 4):
                with box.prevent(Input.Changed):
                    box.value = value or ""

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.searcher is None and action not in ("help", "keys", "quit"):
            return False
        on_search_screen = self.screen is self.screen_stack[0]
        if action in SEARCH_SCREEN_ACTIONS and not on_search_screen:
            return False
        # While a text box has focus, letters are typed, so hide their bindings from the footer.
        typing = isinstance(self.focused, Input)
        if action == "keys":
            return typing
        return not (action in BROWSE_ACTIONS and typing)

    def _current(self) -> tuple[int, str, str] | None:
        """(post id, url, title) of the post the user is looking at."""
        if isinstance(self.screen, ReaderScreen):
            post = self.screen.post
            return post.id, post.url, post.title
        hit = self.selected_hit()
        return (hit.post_id, hit.url, hit.title) if hit else None

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_keys(self) -> None:
        self.action_help()

    def action_focus_query(self) -> None:
        box = self.query_one("#query", QueryInput)
        box.focus()
        box.cursor_position = len(box.value)

    def action_back(self) -> None:
        if self.related_to is not None:
            self._restore_search()
        elif not isinstance(self.focused, QueryInput):
            if not self.filters and self.query_one("#filters").has_focus_within:
                self.query_one("#filters").remove_class("-visible")
            self.action_focus_query()

    def action_cycle_mode(self) -> None:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        if self.mode != "lexical" and self.model_state == "failed":
            self.notify(
                f"{self.mode} needs the model, which could not load ({self.model_error}); "
                "results stay lexical",
                severity="warning",
            )
        self._rerun()

    def action_toggle_sort(self) -> None:
        self.sort = "date" if self.sort == "relevance" else "relevance"
        self._rerun()

    def _rerun(self) -> None:
        """Search again in the current view (related posts stay related posts)."""
        self._refresh_status()
        if self.related_to is not None:
            self._find_related(self.related_to)
        else:
            self.search_now()

    def _find_related(self, hit: Hit) -> None:
        self.related_to = hit
        self._generation += 1
        mode = self.effective_mode()
        self._run(Request(self._generation, "", mode, self.sort, self.filters, related_to=hit))

    def action_related(self) -> None:
        hit = self.selected_hit()
        if hit is None or self.searcher is None:
            return
        if self.related_to is None:
            self._saved = (self._last, self.query_one("#results", ResultList).highlighted)
        self._find_related(hit)
        self.query_one("#results").focus()

    def _restore_search(self) -> None:
        """Back from related posts to the search results as they were."""
        saved, self._saved = self._saved, None
        self.related_to = None
        last = saved[0] if saved else None
        if last is None or (last.request.mode, last.request.sort) != (
            self.effective_mode(),
            self.sort,
        ):
            self.search_now()
            return
        self._generation += 1
        self._shown = self._generation
        self._last = last
        self._show_hits(last.hits)
        if saved and saved[1] is not None and last.hits:
            self.query_one("#results", ResultList).highlighted = saved[1]
        self._show_message("; ".join(last.warnings))
        self._refresh_status()

    def action_read(self) -> None:
        hit = self.selected_hit()
        if hit is None or self.searcher is None:
            return
        self.query_one("#query", QueryInput).remember(self.query_text)
        post = self.searcher.get(hit.post_id)
        if post is None:
            self.notify(f"post {hit.post_id} is no longer in the index", severity="error")
            return
        preview = self.query_one("#preview", PostView)
        self.push_screen(
            ReaderScreen(post, hit.snippet.offset),
            callback=lambda _: preview.call_after_refresh(preview.settle),
        )

    def action_open_browser(self) -> None:
        current = self._current()
        if current is not None:
            self._browse(current[1])

    @work(thread=True, group="browser")
    def _browse(self, url: str) -> None:
        if self.launch_browser(url):
            self.notify(f"opened {url}", timeout=3)
        else:
            self.post_message(self.NoBrowser(url))

    @on(NoBrowser)
    def _no_browser(self, event: NoBrowser) -> None:
        self.copy_to_clipboard(event.url)
        self.notify(f"no graphical browser found; copied {event.url}", severity="warning")

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

    def action_copy_url(self) -> None:
        current = self._current()
        if current is not None:
            self.copy_to_clipboard(current[1])
            self.notify(f"copied {current[1]}", timeout=3)

    def action_filters(self) -> None:
        bar = self.query_one("#filters")
        if bar.has_class("-visible") and not self.filters:
            bar.remove_class("-visible")
            self.action_focus_query()
        else:
            bar.add_class("-visible")
            self.query_one("#category").focus()

    def clear_filters(self) -> None:
        self.set_filters(FilterState())

    # -- command palette -------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.searcher is None:
            return
        for mode in MODES:
            yield SystemCommand(
                f"Mode: {mode}", f"Search in {mode} mode", lambda m=mode: self._set_mode(m)
            )
        yield SystemCommand(
            "Sort: relevance / newest first", "Toggle the order", self.action_toggle_sort
        )
        yield SystemCommand("Filter: clear", "Remove every filter", self.clear_filters)
        for category in self.searcher.categories():
            yield SystemCommand(
                f"Filter category: {category}",
                "Only posts in this category",
                lambda c=category: self.set_filters(replace(self.filters, category=c)),
                discover=False,
            )
        for tag in self.searcher.tags():
            yield SystemCommand(
                f"Filter tag: {tag}",
                "Only posts with this tag",
                lambda t=tag: self.set_filters(replace(self.filters, tag=t)),
                discover=False,
            )

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self._rerun()


def run(data_dir: Path | None = None) -> int:
    """Run the UI on `data_dir` (the default data directory when None); the exit status."""
    app = SearchApp(data_dir)
    try:
        app.run()
    finally:
        if app.searcher is not None:
            app.searcher.close()
    return app.return_code or 0
