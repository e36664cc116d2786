"""The filter bar: a category, a tag and a range of years, under the query box."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input, Label, Select

from search.display import printable
from tui.state import FilterState


class FilterBar(Horizontal):
    """Shown on `f`, and whenever a filter is on. Bound to the screen's `filters`: it shows
    them, and posts `Changed` with what the user picked (the screen decides whether to apply;
    one field at a time, so two quick picks can't undo each other)."""

    filters: var[FilterState] = var(FilterState(), init=False)

    @dataclass
    class Changed(Message):
        field: str  # a FilterState field
        value: str | None

    def compose(self) -> ComposeResult:
        yield Label("filter", classes="filter-label")
        yield Select[str]([], prompt="any category", id="category", compact=True)
        yield Select[str]([], prompt="any tag", id="tag", compact=True)
        yield Label("years", classes="filter-label")
        yield Input(placeholder="from", id="since", restrict=r"[0-9]{0,4}", compact=True)
        yield Label("–", classes="filter-label")
        yield Input(placeholder="to", id="until", restrict=r"[0-9]{0,4}", compact=True)

    def set_choices(self, categories: Iterable[str], tags: Iterable[str]) -> None:
        # Prompts as Text: a category or tag is post data, never markup.
        self.query_one("#category", Select).set_options(
            (Text(printable(c, inline=True)), c) for c in categories
        )
        self.query_one("#tag", Select).set_options(
            (Text(printable(t, inline=True)), t) for t in tags
        )

    def watch_filters(self, filters: FilterState) -> None:
        """Make the widgets agree with the filters in use (without echoing them back)."""
        if filters:
            self.add_class("-visible")
        for select_id, value in (("#category", filters.category), ("#tag", filters.tag)):
            select = self.query_one(select_id, Select)
            wanted = value if value is not None else Select.NULL
            if select.value != wanted:
                with select.prevent(Select.Changed):
                    select.value = wanted
        for input_id, value in (("#since", filters.since), ("#until", filters.until)):
            box = self.query_one(input_id, Input)
            if (box.value or None) != value and not (box.value and len(box.value) != 4):
                with box.prevent(Input.Changed):
                    box.value = value or ""

    @on(Select.Changed, "#category, #tag")
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = None if event.value == Select.NULL else str(event.value)
        field = "category" if event.select.id == "category" else "tag"
        self.post_message(self.Changed(field, value))

    @on(Input.Changed, "#since, #until")
    def _year_changed(self, event: Input.Changed) -> None:
        event.stop()
        value = event.value.strip()
        if value and len(value) != 4:
            return  # wait for four digits
        field = "since" if event.input.id == "since" else "until"
        self.post_message(self.Changed(field, value or None))
