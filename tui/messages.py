"""Messages, as small dataclasses: from the app's worker threads back to the event loop, and
from the screens to the app (a screen never calls the app: it posts what it wants done).

Widgets' own messages (`QueryInput.Descend`, `FilterBar.Changed`, …) live with the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from search import Hit, Searcher
    from tui.state import Answer


@dataclass
class IndexOpened(Message):
    """The index is open; its categories and tags were read in the same thread."""

    searcher: Searcher
    categories: list[str]
    tags: list[str]


@dataclass
class IndexFailed(Message):
    """There is no index to open (or it can't be read): what went wrong, for the user."""

    error: str


@dataclass
class Browsed(Message):
    """A browser was asked to open `url`; `opened` is False when there was none to ask."""

    url: str
    opened: bool


@dataclass
class Answered(Message):
    """A search worker's answer, for the screen to show if it is still the newest."""

    answer: Answer


@dataclass
class HelpWanted(Message):
    """Show the key help (F1 in the query box, where ? is typed)."""


@dataclass
class OpenUrl(Message):
    """Open `url` in a browser (without one, copy it)."""

    url: str


@dataclass
class CopyUrl(Message):
    """Copy `url` to the clipboard."""

    url: str


@dataclass
class Chosen(Message):
    """Pick mode: `hit` is the answer; the app ends with status 0."""

    hit: Hit


@dataclass
class GaveUp(Message):
    """Pick mode: nothing chosen (esc); the app ends with status 1."""
