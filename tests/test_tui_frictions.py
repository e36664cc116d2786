"""The TUI's part of issue 24 (the small frictions a new user met), with the Textual pilot:
`q` in the reader goes back (as in `less`), and a reversed range of years says so."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from search import Searcher
from tests.test_tui import LexicalSearcher, idle, main, make_app, type_query
from tui.history import STATE_ENV
from tui.screens.reader import ReaderScreen

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """The query history in a directory of the test's own, never the user's."""
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))


@pytest.fixture(scope="module")
def searcher(fixture_data):
    with LexicalSearcher.open(fixture_data.root) as s:
        yield s


async def test_q_in_the_reader_goes_back_and_ctrl_q_still_quits(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "扩散")
        await pilot.press("enter", "enter")
        await idle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        await pilot.press("q")
        await idle(pilot)
        assert app.is_running and not isinstance(app.screen, ReaderScreen)
        assert app.screen is main(app)
        await pilot.press("enter")  # the same post again
        await idle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        await pilot.press("slash", "q")  # in the find box, q is a letter
        await pilot.pause(0.1)
        assert isinstance(app.screen, ReaderScreen)
        assert app.screen.query_one("#find", Input).value == "q"
        await pilot.press("ctrl+q")
        await pilot.pause(0.1)
        assert not app.is_running
    assert app.return_code == 0


async def test_a_reversed_range_of_years_is_said_and_marked(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "矩阵")
        await pilot.press("enter", "f")
        since, until = app.query_one("#since", Input), app.query_one("#until", Input)
        since.focus()
        await pilot.press(*"2024")
        until.focus()  # typed at once, while the search for "from 2024" is still running
        await pilot.press(*"2022")
        await idle(pilot)
        assert main(app).filters.since == "2024" and main(app).filters.until is None
        assert since.has_class("-invalid") and until.has_class("-invalid")
        notes = [n.message for n in app._notifications]
        assert any("reversed" in n and "2024" in n and "2022" in n for n in notes), notes
        await pilot.press("backspace", *"5")  # to 2025: a range again, applied
        await idle(pilot)
        assert main(app).filters.until == "2025"
        assert not since.has_class("-invalid") and not until.has_class("-invalid")
