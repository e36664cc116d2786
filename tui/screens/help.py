"""The key help, generated from the bindings, so it lists the keys that really do each thing."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise
from typing import ClassVar, NamedTuple

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from search import MODES
from tui.screens.reader import ReaderScreen
from tui.screens.search import SearchScreen
from tui.widgets.query import QueryInput
from tui.widgets.results import ResultList


class Topic(NamedTuple):
    """A line of the help: the actions it is about (their keys are looked up) and what they do;
    `where` tells keys apart that mean something else elsewhere (the box's ↑ ↓)."""

    actions: tuple[str, ...]
    text: str
    where: str = ""


INTRO = ("type", 'search as you type: words "phrases" -not tag: category: year:')
TOPICS = (
    Topic(
        ("history_back", "history_forward"),
        "older / newer queries, kept across runs (↓ at the newest: to the results)",
        "in the box",
    ),
    Topic(("submit", "focus_next"), "from the box to the results"),
    Topic(("cursor_up", "cursor_down"), "move through the results"),
    Topic(("first", "last"), "first / last result (at the end, the next page loads)"),
    Topic(("select",), "read the post full screen (esc comes back)"),
    Topic(("find",), "find in the post", "in the reader"),
    Topic(("find_next", "find_previous"), "next / previous match", "in the reader"),
    Topic(("links",), "what the post cites and what cites it (enter: read one)", "in the reader"),
    Topic(("previous_part", "next_part"), "previous / next part of its series", "in the reader"),
    Topic(("open_browser",), "open the post in the browser"),
    Topic(("copy_url",), "copy its URL"),
    Topic(("related",), "posts related to the selected one (esc: back)"),
    Topic(("cycle_mode",), f"cycle the mode: {' → '.join(MODES)}"),
    Topic(("toggle_sort",), "sort by relevance or newest first"),
    Topic(("filters",), "filter bar: category, tag, years (again: leave it)"),
    Topic(("command_palette",), "command palette: filters, mode, sort"),
    Topic(("focus_query", "back"), "back to the query box"),
    Topic(("leave",), "back to the results, as in less", "in the reader"),
    Topic(("help", "keys"), "this help"),
    Topic(("quit",), "quit (q wherever you are not typing, but the reader)"),
)
KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
}
ARROWS = frozenset({"up", "down", "left", "right"})


def bound_keys(namespaces: Iterable[type[DOMNode]]) -> dict[str, list[str]]:
    """Action (without its `app.` or `screen.` prefix) -> the keys bound to it, in the
    `BINDINGS` of `namespaces` and the classes they inherit from (Textual's own: Input's enter,
    OptionList's arrows, the Screen's tab), and an app's command palette key."""
    keys: dict[str, list[str]] = {}

    def add(binding: Binding) -> None:
        found = keys.setdefault(binding.action.rpartition(".")[2], [])
        if binding.key not in found:
            found.append(binding.key)

    for namespace in namespaces:
        for cls in reversed(namespace.__mro__):
            for binding in Binding.make_bindings(cls.__dict__.get("BINDINGS", ())):
                add(binding)
        if issubclass(namespace, App) and namespace.ENABLE_COMMAND_PALETTE:
            add(Binding(namespace.COMMAND_PALETTE_BINDING, "command_palette"))
    return keys


def key_label(keys: Iterable[str]) -> str:
    """`↑ ↓  j k`, `/  esc`, `n N`, `q  ctrl+q`: arrows first, then letters (lower case first),
    combinations last; a pair of arrows or of letters reads as one, other keys are set apart."""

    def order(key: str) -> tuple[bool, bool, bool, str, bool]:
        name = KEY_NAMES.get(key, key)
        return ("+" in key, key not in ARROWS, len(name) > 1, name.lower(), name.isupper())

    ordered = sorted(keys, key=order)
    label = KEY_NAMES.get(ordered[0], ordered[0])
    for before, key in pairwise(ordered):
        names = KEY_NAMES.get(before, before), KEY_NAMES.get(key, key)
        letters = before not in ARROWS and key not in ARROWS and len(names[0]) == len(names[1]) == 1
        paired = (before in ARROWS and key in ARROWS) or letters
        label += (" " if paired else "  ") + KEY_NAMES.get(key, key)
    return label


def help_table(keys: dict[str, list[str]]) -> list[tuple[str, str]]:
    """(keys, what they do) for each topic that has keys, after the typing intro."""
    rows = [INTRO]
    for topic in TOPICS:
        found = [k for action in topic.actions for k in keys.get(action, ())]
        if found:
            label = key_label(dict.fromkeys(found))
            rows.append((f"{label} {topic.where}" if topic.where else label, topic.text))
    return rows


class HelpScreen(ModalScreen[None]):
    """The key list; esc, ? or F1 closes it, q quits as everywhere. It scrolls (↑ ↓, j k, page
    keys) when the terminal is too short for it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1", "app.pop_screen", "Close"),
        Binding("j", "scroll('down')", "Down", show=False),
        Binding("k", "scroll('up')", "Up", show=False),
        Binding("q", "app.quit", "Quit", show=False),
        # A modal screen hides the app's bindings: ctrl+c still says how to quit.
        Binding("ctrl+c", "app.help_quit", show=False),
    ]

    def compose(self) -> ComposeResult:
        namespaces = (QueryInput, ResultList, SearchScreen, ReaderScreen, type(self.app))
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for key, what in help_table(bound_keys(namespaces)):
            table.add_row(key, what)
        with VerticalScroll(id="help"):
            yield Static(table, id="help-table")
            yield Static(Text("esc or ? to close · ↑ ↓ scroll", style="dim"), id="help-foot")

    def on_mount(self) -> None:
        help_box = self.query_one("#help", VerticalScroll)
        help_box.border_title = "Keys"
        help_box.focus()

    def action_scroll(self, direction: str) -> None:
        body = self.query_one("#help", VerticalScroll)
        if direction == "down":
            body.scroll_down()
        else:
            body.scroll_up()
