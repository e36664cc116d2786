"""The reader's links and series keys, driven headless on the graph fixture: `]` / `[` read the
next / previous part, `l` lists cites and cited-by, enter reads one, esc walks back."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import OptionList

import index
from index.paths import DataDir
from search import Searcher
from tests.graph_fixture import HOSTILE_TITLE, graph_posts
from tests.test_tui import LexicalSearcher, idle, make_app
from tui.screens.links import LinksScreen
from tui.screens.reader import ReaderScreen

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from tui.history import STATE_ENV

    monkeypatch.setenv(STATE_ENV, str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory):
    root = tmp_path_factory.mktemp("graph-tui")
    index.update(DataDir(root), graph_posts(), vectors=False)
    with LexicalSearcher.open(root) as s:
        yield s


async def read(pilot, searcher: Searcher, post_id: int) -> ReaderScreen:
    await idle(pilot)
    pilot.app.push_screen(ReaderScreen(searcher.get(post_id)))
    await pilot.pause(0.1)
    screen = pilot.app.screen
    assert isinstance(screen, ReaderScreen) and screen.post.id == post_id
    return screen


def shown_keys(screen) -> set[str]:
    return {b.binding.action for b in screen.active_bindings.values() if b.enabled}


async def test_next_and_previous_part_and_back(searcher):
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        first = await read(pilot, searcher, 2001)
        assert "next_part" in shown_keys(first) and "previous_part" not in shown_keys(first)
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert app.screen.post.id == 2002
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        third = app.screen
        assert third.post.id == 2003 and "next_part" not in shown_keys(third)
        await pilot.press("right_square_bracket")  # the last part: nowhere to go
        await pilot.pause(0.1)
        assert app.screen is third
        await pilot.press("left_square_bracket")
        await pilot.pause(0.1)
        assert app.screen.post.id == 2002
        for expected in (2003, 2002, 2001):  # esc walks back the way it came
            await pilot.press("escape")
            await pilot.pause(0.1)
            assert app.screen.post.id == expected
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ReaderScreen)


async def test_links_panel_reads_a_citing_post_and_comes_back(searcher):
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await read(pilot, searcher, 2001)
        await pilot.press("l")
        await pilot.pause(0.1)
        panel = app.screen
        assert isinstance(panel, LinksScreen)
        options = panel.query_one("#links", OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert prompts[0] == "cites (0)" and prompts[1] == "cited by (3)"
        assert prompts[2].startswith("位置编码之路：2、旋转位置编码  2021-02-01")
        assert "在《位置编码之路：1、正弦位置编码》中我们讨论了正弦编码。" in prompts[2]
        hostile = prompts[4]
        assert "[bold red]标记[/]" in hostile and "\x1b" not in hostile and "␛" in hostile
        await pilot.press("down", "down", "enter")  # the third: the hostile title's post
        await pilot.pause(0.1)
        assert isinstance(app.screen, ReaderScreen) and app.screen.post.title == HOSTILE_TITLE
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is panel
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ReaderScreen) and app.screen.post.id == 2001


async def test_a_post_without_links_offers_no_keys(searcher):
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        lone = await read(pilot, searcher, 2009)
        assert not {"links", "next_part", "previous_part"} & shown_keys(lone)
        await pilot.press("l", "right_square_bracket")
        await pilot.pause(0.1)
        assert app.screen is lone
