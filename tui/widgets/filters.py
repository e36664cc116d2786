"""The filter bar: a category, a tag and a range of years, under the query box."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input, Label, Select
from textual.widgets._select import SelectCurrent, SelectOverlay

from search.display import printable
from tui.state import FilterState

# Keys that mean the same in the filter bar as everywhere else (search, filter bar, help, quit),
# so typing them never searches a menu or lands in a year box.
RESERVED = frozenset("/fq?")


class FilterOverlay(SelectOverlay):
    """A select's open menu: letters search it, but `/ f q ?` keep their meaning, and esc
    leaves the bar for the query box (as it does from anywhere in the bar)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "screen.back", "Back", show=False),
    ]

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return character not in RESERVED and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.character in RESERVED:
            event.prevent_default()  # not searched (by SelectOverlay): it bubbles to the bindings
            return
        await super()._on_key(event)


class FilterSelect(Select[str]):
    """A select whose letters search it: typing on it opens the menu at the first match
    (rather than the letter doing nothing, or something elsewhere)."""

    def compose(self) -> ComposeResult:
        yield SelectCurrent(self.prompt)
        yield FilterOverlay().data_bind(compact=Select.compact)

    def _starts_search(self, character: str | None) -> bool:
        return (
            character is not None
            and character.isprintable()
            and not character.isspace()  # space opens the menu, as in any select
            and character not in RESERVED
        )

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return self._starts_search(character)

    def on_key(self, event: events.Key) -> None:
        if self.expanded or not self._starts_search(event.character):
            return
        event.stop()
        event.prevent_default()
        self.action_show_overlay()
        overlay = self.query_one(FilterOverlay)
        overlay.post_message(events.Key(event.key, event.character))


class YearInput(Input):
    """A year box: digits are typed, anything else is a key for the screen (`q` quits, `/`
    goes to the query box) instead of being silently refused."""

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character is not None and character.isdigit()

    async def _on_key(self, event: events.Key) -> None:
        if event.is_printable and not (event.character or "").isdigit():
            event.prevent_default()  # not refused (by Input): it bubbles to the bindings
            return
        await super()._on_key(event)


class FilterBar(Horizontal):
    """Shown on `f` (which leaves it again), and whenever a filter is on. Bound to the screen's
    `filters`: it shows them, and posts `Changed` with what the user picked (the screen decides
    whether to apply; one field at a time, so two quick picks can't undo each other)."""

    filters: var[FilterState] = var(FilterState(), init=False)

    @dataclass
    class Changed(Message):
        field: str  # a FilterState field
        value: str | None

    def compose(self) -> ComposeResult:
        yield Label("filter", classes="filter-label")
        yield FilterSelect([], prompt="any category", id="category", compact=True)
        yield FilterSelect([], prompt="any tag", id="tag", compact=True)
        yield Label("years", classes="filter-label")
        yield YearInput(placeholder="from", id="since", restrict=r"[0-9]{0,4}", compact=True)
        yield Label("–", classes="filter-label")
        yield YearInput(placeholder="to", id="until", restrict=r"[0-9]{0,4}", compact=True)

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
        self._check_years()

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
        self._check_years()
        self.post_message(self.Changed(field, value or None))

    def _check_years(self) -> None:
        """A reversed range (from 2024 to 2022) is never applied: say so where it was typed,
        and keep both boxes marked until it is put right (a message line would be cleared by
        the next answer)."""
        since, until = (self.query_one(f"#{i}", Input) for i in ("since", "until"))
        reversed_ = len(since.value) == len(until.value) == 4 and since.value > until.value
        was = since.has_class("-invalid")
        since.set_class(reversed_, "-invalid")
        until.set_class(reversed_, "-invalid")
        if reversed_ and not was:
            self.notify(
                f"The range is reversed: from {since.value} is after to {until.value}; "
                "the years are not applied until it is put right.",
                title="years",
                severity="error",
            )
