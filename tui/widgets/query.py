"""The query box."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input

HISTORY_SIZE = 200


class QueryInput(Input):
    """The query box, with shell-like history on up/down.

    Down past the newest entry hands focus to the results, so arrows alone get from typing
    to browsing.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history_back", "Older query", show=False),
        Binding("down", "history_forward", "Newer query / results", show=False),
    ]

    class Descend(Message):
        """Down was pressed with no newer history: move to the results."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._pos: int | None = None
        self._draft = ""
        self._recalled: str | None = None

    def remember(self, query: str) -> None:
        query = query.strip()
        if not query:
            return
        if query in self.history:
            self.history.remove(query)
        self.history.append(query)
        del self.history[:-HISTORY_SIZE]
        self._pos = None

    def _recall(self, text: str) -> None:
        self._recalled = text
        self.value = text
        self.cursor_position = len(text)

    def action_history_back(self) -> None:
        if not self.history:
            return
        if self._pos is None:
            self._draft = self.value
            self._pos = len(self.history) - 1
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
