"""The search screen: query box, filter bar, results | preview, message line, status bar.

A view over a `SearchSession` (tui/session.py), which decides what is asked and what is shown:
the screen turns keys into the session's changes, runs the requests it returns in thread
workers (a new keystroke supersedes a running search; an answer that is no longer the newest is
dropped), and draws the state, copied into reactive attributes the status and filter bars are
bound to. Until the model is ready, hybrid and semantic requests are asked lexically, and the
status bar says so. The next page is asked for when the cursor nears the end of the list.
What the app must do (help, browser, clipboard, pick's answer) is posted to it as a message.

In pick mode (`tui.app.pick`) enter on a result chooses it instead of reading it, and esc
from the results or the box gives up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList, Static
from textual.worker import get_current_worker

from search import MODES, SORTS
from search.display import printable
from tui.history import History
from tui.messages import Answered, Chosen, CopyUrl, GaveUp, HelpWanted, OpenUrl
from tui.screens.reader import ReaderScreen
from tui.session import SearchSession
from tui.state import Answer, FilterState, ModelState, Request
from tui.widgets.filters import FilterBar
from tui.widgets.post import PostView, hit_offset, query_terms
from tui.widgets.query import QueryInput
from tui.widgets.results import ResultList
from tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from search import Hit, Mode, Searcher, Sort

SYNTAX_HINT = 'words  "a phrase"  -exclude  tag:RoPE  category:信息时代  year:2020..2023'
NARROW = 72  # below this many columns the preview is left out
COMPACT = 28  # below this many rows the cards take two lines (an 80x24 terminal shows 9)
QUIT_HINT = "↓ or enter: to the results · F1: the keys · ctrl+q: quit (q outside the box)"
# Actions about the result list, which do nothing while the help screen is over it.
RESULT_ACTIONS = frozenset(
    {"cycle_mode", "toggle_sort", "related", "filters", "focus_query", "back"}
)


class SearchScreen(Screen[None]):
    """Search-as-you-type over the open index, with a preview of the selected post."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "app.help", "Keys"),
        # F1 stands in for ? while typing (shown then); elsewhere the app's hidden one answers.
        Binding("f1", "keys", "Keys"),
        Binding("m", "cycle_mode", "Mode"),
        Binding("s", "toggle_sort", "Sort"),
        Binding("r", "related", "Related"),
        Binding("o", "open_browser", "Open"),
        Binding("y", "copy_url", "Copy"),
        Binding("f", "filters", "Filter"),
        Binding("slash", "focus_query", "Search", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    # What is drawn, as the session decided it (the status and filter bars are bound to these).
    mode: var[Mode] = var("hybrid", init=False)
    sort: var[Sort] = var("relevance", init=False)
    filters: var[FilterState] = var(FilterState(), init=False)
    request: var[Request | None] = var(None, init=False)  # the newest; None until the index opens
    answer: var[Answer | None] = var(None, init=False, always_update=True)  # the one on screen

    def __init__(
        self,
        *,
        limit: int = 50,
        debounce: float = 0.12,
        preview_delay: float = 0.08,
        steady: bool = False,
        history: History | None = None,
        query: str = "",
        pick: bool = False,
    ) -> None:
        """`limit`: results a page; `history`: where the queries are kept (None: in memory);
        `query`: searched as soon as the index is open; `pick`: enter chooses a result."""
        super().__init__()
        self.session = SearchSession(limit)
        self.debounce = debounce
        self.preview_delay = preview_delay
        self.steady = steady
        self.post_count = 0
        self._debounce_timer: Timer | None = None
        self._preview_timer: Timer | None = None
        self._want_results = False  # enter was pressed before the results came
        self._drawn: Answer | None = None  # the answer the list shows
        self.history = history
        self.initial_query = query
        self.pick = pick

    @property
    def searcher(self) -> Searcher | None:
        return self.session.searcher

    @property
    def query_text(self) -> str:
        return self.session.query

    @property
    def related_to(self) -> Hit | None:
        """The post whose related posts are listed."""
        return self.session.related_to

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield QueryInput(history=self.history, placeholder="Opening the index…", id="query")
        yield FilterBar(id="filters").data_bind(SearchScreen.filters)
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield ResultList(id="results")
                yield Static(id="notice")
            yield PostView(id="preview")
        yield Static(id="message")
        yield StatusBar(steady=self.steady, id="statusbar").data_bind(
            SearchScreen.mode,
            SearchScreen.sort,
            SearchScreen.filters,
            SearchScreen.request,
            SearchScreen.answer,
        )
        yield Footer()

    def on_mount(self) -> None:
        if self.steady:
            for box in self.query(Input):
                box.cursor_blink = False
        box = self.query_one("#query", QueryInput)
        box.border_title = "科学空间 · kexue.fm"
        if self.pick:
            box.border_title = "pick a post · enter: choose · esc: cancel"
        if self.initial_query:
            box.value = self.initial_query  # searched once the index is open
        box.focus()
        self._set_notice("Opening the index…")

    def on_resize(self) -> None:
        self._fit()

    def on_screen_resume(self) -> None:
        self._fit()  # the terminal may have been resized under the reader

    def _fit(self) -> None:
        # Too narrow for two panes: the list alone (enter still reads a post full screen).
        self.set_class(self.app.size.width < NARROW, "-narrow")
        # Too short for four-line cards: two-line ones, so at least six results show.
        compact = self.app.size.height < COMPACT
        self.set_class(compact, "-compact")
        self.query_one("#results", ResultList).brief = compact

    # -- the index and the model (the app opens and loads them) ----------------------------
    def index_opened(self, searcher: Searcher, categories: list[str], tags: list[str]) -> None:
        self.post_count = len(searcher.meta)
        self.query_one(FilterBar).set_choices(categories, tags)
        self.query_one(
            "#query", QueryInput
        ).placeholder = f"Search {self.post_count} posts  (↓ results · F1 keys)"
        request = self.session.open(searcher)
        self.refresh_bindings()
        self._follow(request)

    def index_failed(self, error: str, build: str) -> None:
        """Say why there is nothing to search, and the command (`build`) that makes an index."""
        self._set_notice(
            Text.assemble(
                ("No index to search", "bold"),
                f"\n\n{error}\n\nBuild one with:\n\n    ",
                (build, "bold"),
                "\n\n(a JSON Lines file, a folder of markdown or saved pages, or https://kexue.fm),"
                "\nthen start ",
                ("search tui", "bold"),
                " again. q quits.",
            ),
            error=True,
        )
        box = self.query_one("#query", QueryInput)
        box.placeholder = "No index (see below)"
        box.disabled = True  # nothing to type into; this also lets q quit at once

    @property
    def model_state(self) -> ModelState:
        """The models' state as the app shows it (the TUI's one place for it)."""
        return getattr(self.app, "model_state", "opening")

    @property
    def model_error(self) -> str:
        return getattr(self.app, "model_error", "")

    def model_changed(self, state: ModelState) -> None:
        """The app's word that the models changed state; once they are ready, what was asked
        lexically meanwhile is asked again as chosen."""
        if state == "ready":
            self._follow(self.session.model_ready())

    # -- searching -------------------------------------------------------------------------
    @property
    def hits(self) -> list[Hit]:
        """The hits on screen, in the order shown."""
        return list(self.answer.hits) if self.answer is not None else []

    def _follow(self, request: Request | None) -> None:
        """Draw what the session now holds, and run `request` (None: the session's answer is
        what to show, a hint or a restored search)."""
        session = self.session
        self.mode, self.sort, self.filters = session.mode, session.sort, session.filters
        self.request = session.request
        if request is not None:
            if request.related_to is None and request.query.strip():
                self.query_one("#query", QueryInput).searched(request.query)
            self._run(request)
        elif session.request is not None and (
            session.answer is None or session.answer is not self.answer
        ):
            self.answer = session.answer

    def schedule_search(self) -> None:
        """Debounce: each keystroke restarts the timer, so only a pause in typing searches."""
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
        self._debounce_timer = self.set_timer(self.debounce, self.search_now)

    def search_now(self) -> None:
        if self._debounce_timer is not None:
            self._debounce_timer.stop()
            self._debounce_timer = None
        self._follow(self.session.search())

    @work(thread=True, exclusive=True, group="search")
    def _run(self, request: Request) -> None:
        """One search in a worker thread; the answer to a superseded one is dropped."""
        worker = get_current_worker()
        if worker.is_cancelled or not self.session.is_current(request):
            return
        answer = self.session.answer_for(request)
        if not worker.is_cancelled:
            self.post_message(Answered(answer))

    @on(Answered)
    def _answered(self, event: Answered) -> None:
        # The newest request's answer, or a next page of it (also of a restored search).
        if not self.session.accept(event.answer):
            return
        self.answer = event.answer
        if self._want_results:
            self._want_results = False
            if self.pick and self.hits:
                self.action_read()
            else:
                self._focus_results()

    @work(thread=True, group="page")
    def _load_page(self, answer: Answer) -> None:
        """The page after `answer`'s hits, in a worker thread."""
        more = self.session.next_page(answer)
        if more is not None:
            self.post_message(Answered(more))

    def watch_answer(self, answer: Answer | None) -> None:
        previous, self._drawn = self._drawn, answer
        if (
            answer is not None
            and previous is not None
            and answer.request is previous.request
            and answer.hits[: len(previous.hits)] == previous.hits
        ):
            # The next page of what is listed: add it under the cursor.
            self.query_one("#results", ResultList).append_hits(answer.hits[len(previous.hits) :])
            self._show_message("; ".join(answer.warnings))
            return
        hits = answer.hits if answer is not None else ()
        self._show_hits(hits)
        if answer is None:
            self._set_notice(
                f"Type to search {self.post_count} posts.\n\n{SYNTAX_HINT}\n\n"
                "↓ or enter moves to the results · F1 lists the keys"
            )
            self._show_message("")
            return
        if answer.error:
            self._set_notice(answer.error, error=True)
        elif not hits:
            if answer.request.related_to is not None:
                self._set_notice("No related posts found.")
            else:
                f = answer.request.filters
                extra = f"\n\nFilters in use: {f.describe()}" if f else ""
                if answer.unknown:
                    extra += f"\n\nNo post contains: {', '.join(answer.unknown)}"
                query = printable(answer.request.query.strip(), inline=True)
                self._set_notice(f"No posts match “{query}”.{extra}")
        self._show_message(answer.error or "; ".join(answer.warnings), error=bool(answer.error))

    def _show_hits(self, hits: Sequence[Hit]) -> None:
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
        if self.session.pending:
            return True
        return any(
            not w.is_finished
            for w in self.workers
            if w.node is self and w.group in ("search", "preview", "page")
        )

    # -- the preview -----------------------------------------------------------------------
    def selected_hit(self) -> Hit | None:
        hits = self.answer.hits if self.answer is not None else ()
        index = self.query_one("#results", ResultList).highlighted
        return hits[index] if index is not None and index < len(hits) else None

    @on(OptionList.OptionHighlighted, "#results")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._schedule_preview()
        due = self.session.page_due(event.option_index)
        if due is not None:
            self._load_page(due)

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
        await view.show(post, hit_offset(hit), self.terms_for(hit))

    def terms_for(self, hit: Hit) -> tuple[str, ...]:
        """What to mark in `hit`'s post: the query's words and what its snippet matched."""
        query = self.answer.request.query if self.answer is not None else ""
        return query_terms(query, hit)

    # -- notice and message ----------------------------------------------------------------
    def _set_notice(self, text: str | Text, *, error: bool = False) -> None:
        """Show `text` where the results go (never as markup: queries hold brackets)."""
        notice = self.query_one("#notice", Static)
        notice.update(Text(text) if isinstance(text, str) else text)
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

    # -- input events ----------------------------------------------------------------------
    @on(Input.Changed, "#query")
    def _query_changed(self, event: Input.Changed) -> None:
        if event.value != self.session.query:
            self.session.query = event.value
            self._want_results = False
            self.schedule_search()

    @on(Input.Submitted, "#query")
    def _query_submitted(self) -> None:
        self.query_one("#query", QueryInput).remember(self.query_text)
        if self._debounce_timer is not None or self.session.pending:
            # Results are on their way: move to them (pick mode: choose) when they arrive.
            self._want_results = True
            if self._debounce_timer is not None:
                self.search_now()
        elif self.pick and self.hits:
            self.action_read()  # as in fzf: enter takes the highlighted result
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

    @on(FilterBar.Changed)
    def _filter_picked(self, event: FilterBar.Changed) -> None:
        self.set_filters(replace(self.filters, **{event.field: event.value}))

    def set_filters(self, filters: FilterState) -> None:
        """Apply filters (from the bar or the palette); a change searches again."""
        if filters == self.filters:
            return
        if filters.since and filters.until and filters.since > filters.until:
            self._show_message(f"years: {filters.since} is after {filters.until}", error=True)
            return
        self._follow(self.session.set_filters(filters))

    def clear_filters(self) -> None:
        self.set_filters(FilterState())

    # -- actions ---------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.searcher is None and action != "keys":
            return False
        if action in RESULT_ACTIONS and not self.is_active:
            return False
        if action == "keys":  # F1 shows in the footer only while typing, where ? is typed
            return isinstance(self.app.focused, Input)
        return True

    def action_keys(self) -> None:
        self.app.post_message(HelpWanted())

    def action_focus_query(self) -> None:
        """To the query box (`/`); leaving a filter bar with no filter in use hides it."""
        bar = self.query_one(FilterBar)
        if bar.has_focus_within and not self.filters:
            bar.remove_class("-visible")
        box = self.query_one("#query", QueryInput)
        box.focus()
        box.cursor_position = len(box.value)

    def action_back(self) -> None:
        """Esc: back from related posts, else out of the bar or the list to the query box; in
        the box there is nowhere to go back to, so it says where keys lead (pick: cancels)."""
        if self.related_to is not None:
            self._restore_search()
        elif self.pick and (isinstance(self.focused, QueryInput) or self.focused is self.results):
            self.app.post_message(GaveUp())
        elif isinstance(self.focused, QueryInput):
            self.notify(QUIT_HINT, title="esc", timeout=4, markup=False)
        else:
            self.action_focus_query()

    @property
    def results(self) -> ResultList:
        return self.query_one("#results", ResultList)

    def action_cycle_mode(self) -> None:
        mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        if mode != "lexical" and self.model_state == "failed":
            self.notify(
                f"{mode} needs the model, which could not load ({self.model_error}); "
                "results stay lexical",
                severity="warning",
                markup=False,
            )
        self._follow(self.session.set_mode(mode))

    def action_toggle_sort(self) -> None:
        self._follow(self.session.set_sort(SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]))

    def action_related(self) -> None:
        hit = self.selected_hit()
        if hit is None:
            return
        self._follow(self.session.related(hit, self.results.highlighted))
        self.results.focus()

    def _restore_search(self) -> None:
        """Back from related posts to the search results as they were."""
        request, cursor = self.session.restore()
        self._follow(request)
        if cursor is not None:
            self.results.highlighted = cursor

    def action_read(self) -> None:
        hit = self.selected_hit()
        if hit is None or self.searcher is None:
            return
        self.query_one("#query", QueryInput).remember(self.query_text)
        if self.pick:
            self.app.post_message(Chosen(hit))
            return
        post = self.searcher.get(hit.post_id)
        if post is None:
            gone = f"post {hit.post_id} is no longer in the index"
            self.notify(gone, severity="error", markup=False)
            return
        preview = self.query_one("#preview", PostView)
        self.app.push_screen(
            ReaderScreen(post, hit_offset(hit), self.terms_for(hit)),
            callback=lambda _: preview.call_after_refresh(preview.settle),
        )

    def action_open_browser(self) -> None:
        hit = self.selected_hit()
        if hit is not None:
            self.app.post_message(OpenUrl(hit.url))

    def action_copy_url(self) -> None:
        hit = self.selected_hit()
        if hit is not None:
            self.app.post_message(CopyUrl(hit.url))

    def action_filters(self) -> None:
        """`f` toggles: into the bar, or (from it) back to the query box; a bar with no filter
        in use hides again."""
        bar = self.query_one(FilterBar)
        if bar.has_focus_within or (bar.has_class("-visible") and not self.filters):
            if not self.filters:
                bar.remove_class("-visible")
            self.action_focus_query()
        else:
            bar.add_class("-visible")
            self.query_one("#category").focus()

    # -- command palette -------------------------------------------------------------------
    def system_commands(self) -> Iterable[SystemCommand]:
        """Mode, sort and filters for the command palette (once the index is open)."""
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
                f"Filter category: {printable(category, inline=True)}",
                "Only posts in this category",
                lambda c=category: self.set_filters(replace(self.filters, category=c)),
                discover=False,
            )
        for tag in self.searcher.tags():
            yield SystemCommand(
                f"Filter tag: {printable(tag, inline=True)}",
                "Only posts with this tag",
                lambda t=tag: self.set_filters(replace(self.filters, tag=t)),
                discover=False,
            )

    def _set_mode(self, mode: Mode) -> None:
        self._follow(self.session.set_mode(mode))
