"""The query box, with a history that lasts across runs."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

from tui.history import History


class QueryInput(Input):
    """The query box, with shell-like history on up/down.

    Every query that was searched goes into the history (`searched`), so ↑ finds it in the
    next run too; while typing on, each longer query replaces the one it grew from, so the
    history holds `RoPE 外推`, not `R`, `Ro`, … Down past the newest entry hands focus to the
    results, so arrows alone get from typing to browsing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history_back", "Older query", show=False),
        # Shown: while typing, the footer says how to get out of the box.
        Binding("down", "history_forward", "Results", key_display="↓"),
    ]

    class Descend(Message):
        """Down was pressed with no newer history: move to the results."""

    def __init__(self, *, history: History | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.store = history if history is not None else History(None)
        self._pos: int | None = None
        self._draft = ""
        self._recalled: str | None = None
        self._growing = False  # the newest entry was searched while typing on: may be replaced
        self._warned = False

    @property
    def history(self) -> list[str]:
        """The queries, oldest first."""
        return self.store.entries

    def remember(self, query: str) -> None:
        """Keep `query` as the newest entry: it was used (submitted, or a post read)."""
        self._add(query, replace_last=False)
        self._growing = False

    def searched(self, query: str) -> None:
        """`query` was searched (after the debounce): keep it, replacing the entry it extends
        if that one was only typed through. A query recalled from the history stays put."""
        query = query.strip()
        if not query or query == (self._recalled or "").strip():
            return
        newest = self.history[-1] if self.history else None
        if query == newest:
            return  # searched again (another mode, sort or filter): nothing new to keep
        grew = self._growing and newest is not None and query.startswith(newest)
        self._growing = self._add(query, replace_last=grew)

    def _add(self, query: str, *, replace_last: bool) -> bool:
        added = self.store.add(query, replace_last=replace_last)
        if added:
            self._pos = None
        if self.store.error and not self._warned:
            self._warned = True
            self.notify(
                f"the query history cannot be saved: {self.store.error}",
                severity="warning",
                markup=False,
            )
        return added

    def _recall(self, text: str) -> None:
        self._recalled = text
        self._growing = False
        self.value = text
        self.cursor_position = len(text)

    def action_history_back(self) -> None:
        if not self.history:
            return
        if self._pos is None:
            self._draft = self.value
            # The draft was searched, so it may be the newest entry already: start below it.
            newest = len(self.history) - 1
            if self.history[newest] == self.value.strip() and newest > 0:
                newest -= 1
            elif self.history[newest] == self.value.strip():
                return
            self._pos = newest
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
        # An edit (not a recall) starts a new draft; the event still bubbles to the screen.
        if event.value != self._recalled:
            self._pos = None
            self._recalled = None

    def on_blur(self, event: events.Blur) -> None:
        # Looking at the results makes the query one that was used: typing on keeps it.
        self._growing = False
