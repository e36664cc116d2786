"""The status bar: what is on screen (count, time, mode, sort, filters) and the model's state."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.widgets import Static

from search.display import printable
from tui.state import Answer, FilterState, ModelState, Request

if TYPE_CHECKING:
    from search import Mode, Sort

SORT_LABELS = {"relevance": "relevance", "date": "newest first"}
MODEL_LABELS: dict[ModelState, str] = {
    "opening": "opening…",
    "none": "lexical only: no vector index",
    "loading": "loading model… (lexical meanwhile)",
    "ready": "model ready",
    "failed": "model unavailable: lexical only",
}


class StatusBar(Horizontal):
    """Bound to the search screen's state; the models' state it reads from the app, the TUI's
    one place for it (the library's `Searcher.model_state`, and "opening" before there is a
    library to ask), keeping no copy. It redraws when either changes, so nobody has to tell
    it to."""

    mode: var[Mode] = var("hybrid")
    sort: var[Sort] = var("relevance")
    filters: var[FilterState] = var(FilterState())
    request: var[Request | None] = var(None)  # None until the index is open
    answer: var[Answer | None] = var(None)

    def __init__(self, *, steady: bool = False, **kwargs: object) -> None:
        """`steady` leaves search times out, so screenshots are reproducible."""
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.steady = steady

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        yield Static(id="model")

    def on_mount(self) -> None:
        self.watch(self.app, "model_state", self._redraw, init=False)
        self._redraw()

    @property
    def model_state(self) -> ModelState:
        return getattr(self.app, "model_state", "opening")

    def status_text(self) -> str:
        """`12 results · 3 ms · lexical · relevance · tag:RoPE` (no time when steady);
        `50 of 183 results` while pages are still to load."""
        request, answer = self.request, self.answer
        if request is None:
            return "opening the index…" if self.model_state == "opening" else "no index"
        parts: list[str] = []
        if answer is not None and not answer.error:
            n = len(answer.hits)
            related = answer.request.related_to
            if related is not None:
                title = printable(related.title, inline=True)
                parts.append(f"{n} related to 《{title}》 (esc: back)")
            elif answer.total > n:  # more pages to load, at the end of the list
                parts.append(f"{n} of {answer.total} results")
            else:
                parts.append(f"{n} result{'' if n == 1 else 's'}")
            if not self.steady:
                parts.append(f"{answer.took_ms:.0f} ms")
        # The answer on screen says which mode ran; before one comes, what was asked for.
        ran = answer.mode if answer is not None else request.mode
        fell_back = ran == "lexical" and self.mode != "lexical"
        parts.append(f"{self.mode}→lexical" if fell_back else self.mode)
        parts.append(SORT_LABELS[self.sort])
        if self.filters:
            parts.append(self.filters.describe())
        return " · ".join(parts)

    def model_text(self) -> str:
        if self.model_state == "none" and self.request is None:
            return ""  # no index at all, let alone vectors
        return MODEL_LABELS[self.model_state]

    def _redraw(self) -> None:
        if not self.is_mounted:
            return  # on_mount draws the first time
        self.query_one("#status", Static).update(Text(self.status_text()))
        model = self.query_one("#model", Static)
        model.update(self.model_text())
        model.set_class(self.model_state in ("none", "failed"), "-degraded")

    # Every part of the state shows here.
    watch_mode = watch_sort = watch_filters = watch_request = watch_answer = _redraw
