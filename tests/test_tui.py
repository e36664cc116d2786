"""The terminal UI, driven headless: Pilot tests of behaviour and SVG snapshots of the layout.

Snapshots live in tests/__snapshots__/test_tui/; after a deliberate layout change, review the
new pictures and accept them with `pytest tests/test_tui.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, Select

from search import DataDir, DataError, Searcher, SearchRequest
from tui.app import SearchApp
from tui.history import STATE_ENV, History
from tui.screens.help import TOPICS, HelpScreen, bound_keys, help_table
from tui.screens.reader import ReaderScreen
from tui.screens.search import SearchScreen
from tui.state import FilterState
from tui.widgets.post import PostView
from tui.widgets.query import QueryInput
from tui.widgets.results import ResultList, fold

pytestmark = pytest.mark.anyio

MISSING = Path("/nonexistent/kexue-search-data")


class LexicalSearcher(Searcher):
    """The fixture index as it is today: no vectors (pinned, so a later default can't move
    the snapshots)."""

    @property
    def has_vectors(self) -> bool:
        return False


class VectorSearcher(Searcher):
    """Pretends to have vectors; loading the models succeeds or fails on request, `search`
    records modes and answers lexically."""

    fail_with: str | None = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.modes: list[str] = []
        self.state = "idle"

    @property
    def has_vectors(self) -> bool:
        return True

    @property
    def model_state(self) -> str:  # type: ignore[override]
        return self.state

    @property
    def model_error(self) -> str | None:
        return self.fail_with

    def load_models(self, background: bool = False) -> None:
        self.state = "failed" if self.fail_with else "ready"
        if self.fail_with and not background:
            raise DataError(self.fail_with)

    def search(self, query, limit: int = 10, mode: str = "hybrid", **kw: object):  # type: ignore[override]
        if isinstance(query, SearchRequest):  # what the TUI asks
            self.modes.append(query.mode)
            return super().search(replace(query, mode="lexical"))
        self.modes.append(mode)
        return super().search(query, limit, "lexical", **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps its query history in a directory of its own, never the user's."""
    state = tmp_path / "state"
    monkeypatch.setenv(STATE_ENV, str(state))
    return state


@pytest.fixture(scope="module")
def data_root(fixture_data: DataDir) -> Path:
    return fixture_data.root


@pytest.fixture(scope="module")
def searcher(data_root: Path) -> Iterator[LexicalSearcher]:
    with LexicalSearcher.open(data_root) as s:
        yield s


def make_app(searcher: Searcher, **kw: object) -> SearchApp:
    return SearchApp(searcher=searcher, steady=True, debounce=0.02, preview_delay=0.01, **kw)  # type: ignore[arg-type]


def main(app: SearchApp) -> SearchScreen:
    """The search screen, which holds the search state (the app holds the index and model)."""
    return app.search_screen


def status_text(app: SearchApp) -> str:
    """The status bar's left side, as drawn."""
    return str(main(app).query_one("#status").render())


def model_text(app: SearchApp) -> str:
    """The status bar's right side, as drawn."""
    return str(main(app).query_one("#model").render())


async def idle(pilot: Pilot, *, quiet_rounds: int = 3) -> None:
    """Wait until no search or preview is due for a few rounds in a row."""
    app = pilot.app
    assert isinstance(app, SearchApp)
    quiet = 0
    for _ in range(400):
        await pilot.pause(0.02)
        quiet = 0 if app.busy() else quiet + 1
        if quiet >= quiet_rounds:
            return
    raise AssertionError("the app never settled")


async def type_query(pilot: Pilot, text: str) -> None:
    await pilot.press(*text)
    await idle(pilot)


def titles(app: SearchApp) -> list[str]:
    return [h.title for h in main(app).hits]


def preview_post_id(app: SearchApp) -> int | None:
    post = app.query_one("#preview", PostView).post
    return post.id if post else None


# -- behaviour ------------------------------------------------------------------------------
async def test_types_a_chinese_query_and_shows_results(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        assert main(app).hits == []
        assert "Type to search 18 posts" in str(app.query_one("#notice").render())
        await type_query(pilot, "扩散")
        assert set(titles(app)) == {"从去噪角度理解扩散模型DDPM", "条件扩散：用类别标签控制生成"}
        assert status_text(app) == "2 results · lexical · relevance"
        assert model_text(app) == "lexical only: no vector index"
        assert preview_post_id(app) == main(app).hits[0].post_id
        assert app.query_one("#results").display and not app.query_one("#notice").display
        await pilot.press(*["backspace"] * 2, *"月食")
        await idle(pilot)
        assert titles(app) == ["月全食观测记录"] and preview_post_id(app) == 1016


async def test_a_typo_is_corrected_as_the_cli_corrects_it(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "tranformer")
        expected = [h.title for h in searcher.search("transformer", limit=50, mode="lexical")]
        assert expected and titles(app) == expected  # it found nothing: "No post contains…"
        assert "searched for transformer" in str(app.query_one("#message").render())


async def test_each_keystroke_supersedes_the_last_search(searcher: Searcher) -> None:
    app = SearchApp(searcher=searcher, steady=True, debounce=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await pilot.press(*"RoPE")
        assert main(app).hits == []  # still within the debounce: nothing searched yet
        await pilot.press("backspace", *"外推")
        await idle(pilot)
        assert main(app).query_text == "RoP外推"
        assert main(app).hits and all(
            "RoPE" not in h.title or "外推" in h.title for h in main(app).hits[:1]
        )


async def test_move_through_results_with_keys(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "RoPE")
        assert len(main(app).hits) >= 2
        results = app.query_one("#results", ResultList)
        await pilot.press("down")  # from the box (no history yet) into the results
        assert app.focused is results and results.highlighted == 0
        await pilot.press("j")
        await idle(pilot)
        assert results.highlighted == 1
        assert preview_post_id(app) == main(app).hits[1].post_id
        await pilot.press("k", "up")  # up from the first result goes back to the box
        assert isinstance(app.focused, QueryInput)
        await pilot.press("enter")
        assert app.focused is results
        await pilot.press("slash")
        assert isinstance(app.focused, QueryInput)


async def test_preview_scrolls_to_the_matched_passage(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(80, 16)) as pilot:
        app.query_one("#query", Input).value = '"Scaled RoPE"'
        await idle(pilot)
        [hit] = main(app).hits
        assert hit.post_id == 1001 and hit.snippet.offset > 0
        view = app.query_one("#preview", PostView)
        marked = view.query(".-match")
        assert len(marked) == 1 and "NTK-aware" in (marked.first().source or "")
        assert view.scroll_y > 0


async def test_open_a_post_and_come_back(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "牛顿迭代")
        await pilot.press("enter", "enter")
        await idle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        assert app.screen.post.title == "用牛顿迭代计算矩阵平方根"
        body = app.screen.query_one(PostView).query_one(".post-body")
        assert "Newton-Schulz" in body.source  # type: ignore[attr-defined]
        await pilot.press("y")
        assert app.clipboard == "https://kexue.fm/archives/1012"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ReaderScreen)
        assert app.focused is app.query_one("#results")
        assert "牛顿迭代" in app.query_one("#query", QueryInput).history


async def test_modes_cycle_and_say_when_they_fall_back(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "梯度")
        assert main(app).mode == "lexical"
        await pilot.press("enter", "m")
        await idle(pilot)
        assert main(app).mode == "semantic"
        assert "semantic→lexical" in status_text(app)
        message = str(app.query_one("#message").render())
        assert "no vector index" in message and "lexical" in message
        await pilot.press("m")
        await idle(pilot)
        assert main(app).mode == "hybrid"
        await pilot.press("m")
        await idle(pilot)
        assert main(app).mode == "lexical" and not app.query_one("#message").display


async def test_sort_newest_first(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "优化")
        await pilot.press("enter", "s")
        await idle(pilot)
        dates = [h.date for h in main(app).hits]
        assert len(dates) >= 3 and dates == sorted(dates, reverse=True)
        assert "newest first" in status_text(app)


async def test_filter_bar_category_tag_and_years(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "矩阵")
        assert {h.category for h in main(app).hits} > {"数学研究"}
        await pilot.press("enter", "f")
        assert app.focused is app.query_one("#category")
        app.query_one("#category", Select).value = "数学研究"
        await idle(pilot)
        assert main(app).hits and {h.category for h in main(app).hits} == {"数学研究"}
        assert "category:数学研究" in status_text(app)
        app.query_one("#since", Input).focus()
        await type_query(pilot, "2022")
        assert main(app).filters == FilterState(category="数学研究", since="2022")
        assert [h.post_id for h in main(app).hits] == [1012]
        # A filter alone lists its posts, without query text.
        app.query_one("#query", Input).value = ""
        await idle(pilot)
        assert {h.post_id for h in main(app).hits} == {1012, 1018}


async def test_filter_from_the_command_palette(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        commands["Filter tag: 扩散"].callback()
        await idle(pilot)
        assert {h.post_id for h in main(app).hits} == {1005, 1006}
        assert app.query_one("#tag", Select).value == "扩散"
        assert app.query_one("#filters").has_class("-visible")
        commands["Filter: clear"].callback()
        await idle(pilot)
        assert main(app).hits == [] and main(app).filters == FilterState()


async def test_related_posts_and_back(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "DDPM")
        before = [h.post_id for h in main(app).hits]
        await pilot.press("enter", "r")
        await idle(pilot)
        assert main(app).related_to is not None and main(app).related_to.post_id == before[0]
        assert before[0] not in [h.post_id for h in main(app).hits]
        assert 1006 in [h.post_id for h in main(app).hits]
        assert "related to 《从去噪角度理解扩散模型DDPM》" in status_text(app)
        await pilot.press("escape")
        await idle(pilot)
        assert main(app).related_to is None and [h.post_id for h in main(app).hits] == before


async def test_query_history_on_up_and_down(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.query_one("#query", QueryInput)
        for query in ("RoPE", "扩散"):
            box.value = ""
            await type_query(pilot, query)
            await pilot.press("enter", "slash")
        box.value = ""
        await type_query(pilot, "草稿")
        await pilot.press("up")
        assert box.value == "扩散"
        await pilot.press("up", "up")
        assert box.value == "RoPE"
        await pilot.press("down")
        assert box.value == "扩散"
        await pilot.press("down")
        assert box.value == "草稿"
        await idle(pilot)
        await pilot.press("down")  # past the newest: into the results (if any)
        assert box.value == "草稿"


async def test_bad_query_is_reported_not_fatal(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "RoPE since:2023-13")
        assert main(app).hits == []
        notice = str(app.query_one("#notice").render())
        assert "can't read that query" in notice and "bad date" in notice
        await pilot.press(*["backspace"] * 14)
        await idle(pilot)
        assert main(app).hits


async def test_missing_index_says_how_to_build_one() -> None:
    app = SearchApp(MISSING, steady=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        notice = str(app.query_one("#notice").render())
        assert "No index to search" in notice
        assert f"search --data-dir {MISSING} index" in notice
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_opens_a_data_dir_in_the_background(data_root: Path) -> None:
    app = SearchApp(data_root, steady=True, debounce=0.02)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "月食")
        assert titles(app) == ["月全食观测记录"]
        assert app.searcher is not None
    app.searcher.close()


async def test_model_loads_in_the_background(data_root: Path) -> None:
    searcher = VectorSearcher.open(data_root)
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "梯度")
        assert app.model_state == "ready" and model_text(app) == "model ready"
        assert main(app).mode == "hybrid" and searcher.modes[-1] == "hybrid"
    searcher.close()


async def test_model_that_cannot_load_falls_back_to_lexical(data_root: Path) -> None:
    searcher = VectorSearcher.open(data_root)
    searcher.fail_with = "model files missing"
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "梯度")
        assert app.model_state == "failed"
        assert model_text(app) == "model unavailable: lexical only"
        assert searcher.modes and set(searcher.modes) == {"lexical"}
        assert status_text(app).endswith("hybrid→lexical · relevance")
        notes = [n.message for n in app._notifications]
        assert any("model could not load: model files missing; using lexical" in n for n in notes)
    searcher.close()


async def test_help_screen_lists_the_keys(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "RoPE")
        await pilot.press("f1")  # F1 works while typing, where ? would be typed
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "enter", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")  # F1 also works away from the box
        assert isinstance(app.screen, HelpScreen)


def test_help_is_made_from_the_bindings() -> None:
    # Every topic finds its keys, and every key the search screen shows has a topic.
    keys = bound_keys((QueryInput, ResultList, SearchScreen, ReaderScreen, SearchApp))
    rows = help_table(keys)
    assert len(rows) == 1 + len(TOPICS)
    assert ("?  f1", "this help") in rows and ("↑ ↓  j k", "move through the results") in rows
    assert ("/ in the reader", "find in the post") in rows
    assert ("n N in the reader", "next / previous match") in rows
    assert ("q  ctrl+q", "quit (q wherever you are not typing, but the reader)") in rows
    assert ("q in the reader", "back to the results, as in less") in rows
    covered = {action for topic in TOPICS for action in topic.actions}
    for screen in (SearchScreen, ReaderScreen):
        shown = {b.action.rpartition(".")[2] for b in Binding.make_bindings(screen.BINDINGS)}
        assert shown <= covered, screen


async def test_open_in_browser_without_one_copies_the_url(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "月食")
        monkeypatch.setattr(app, "launch_browser", lambda url: opened.append(url) or True)
        await pilot.press("enter", "o")
        await pilot.pause(0.1)
        assert opened == ["https://kexue.fm/archives/1016"]
        monkeypatch.setattr(app, "launch_browser", lambda url: False)
        await pilot.press("o")
        await pilot.pause(0.1)
        assert app.clipboard == "https://kexue.fm/archives/1016"


async def test_narrow_terminal_keeps_the_list_only(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(60, 20)) as pilot:
        await type_query(pilot, "扩散")
        assert app.query_one("#results").display
        assert not app.query_one("#preview").display
        await pilot.resize_terminal(100, 30)
        await idle(pilot)
        assert app.size.width == 100 and not main(app).has_class("-narrow")
        assert app.query_one("#preview").display


async def test_enter_before_results_arrive_still_lands_on_them(searcher: Searcher) -> None:
    app = SearchApp(searcher=searcher, steady=True, debounce=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await pilot.press(*"梯度", "enter")
        await idle(pilot)
        assert main(app).hits and app.focused is app.query_one("#results")


def test_result_card_highlights_matched_terms(searcher: Searcher) -> None:
    from rich.cells import cell_len
    from rich.console import Console

    from search.display import HIGHLIGHT
    from tui.widgets.results import HitCard

    [hit] = searcher.search("扩散 tag:条件生成", mode="lexical")
    assert hit.snippet.highlights
    console = Console(width=32, record=True, color_system="truecolor")
    console.print(HitCard(1, hit))
    lines = console.export_text().splitlines()
    assert lines[0] == " 1 条件扩散：用类别标签控制生成"
    assert len(lines) == 4  # title, metadata, two snippet lines at most
    assert all(cell_len(line) <= 32 for line in lines)
    marked = [seg.text for seg in console.render(HitCard(1, hit)) if seg.style == HIGHLIGHT]
    assert marked and set(marked) <= {"扩散", "扩", "散"}


def test_fold_breaks_between_chinese_characters() -> None:
    from rich.text import Text

    lines = fold(Text("扩散模型（Diffusion Model）先逐步给图片加噪"), 12)
    # Words stay whole, Chinese fills each line, nothing is wider than 12 cells.
    assert [x.plain for x in lines] == ["扩散模型（", "Diffusion", "Model）先逐", "步给图片加噪"]
    assert [line.plain for line in fold(Text("a" * 30), 12)] == ["a" * 12, "a" * 12, "a" * 6]


# -- quitting -------------------------------------------------------------------------------
async def _to_query(pilot: Pilot) -> None:
    await type_query(pilot, "扩散")


async def _to_results(pilot: Pilot) -> None:
    await type_query(pilot, "扩散")
    await pilot.press("enter")


async def _to_preview(pilot: Pilot) -> None:
    await _to_results(pilot)
    pilot.app.query_one("#preview").focus()


async def _to_category(pilot: Pilot) -> None:
    await _to_results(pilot)
    await pilot.press("f")


async def _to_open_menu(pilot: Pilot) -> None:
    await _to_category(pilot)
    await pilot.press("enter")


async def _to_year(pilot: Pilot) -> None:
    await _to_category(pilot)
    pilot.app.query_one("#since").focus()


async def _to_reader(pilot: Pilot) -> None:
    await _to_results(pilot)
    await pilot.press("enter")
    await idle(pilot)


async def _to_find_box(pilot: Pilot) -> None:
    await _to_reader(pilot)
    await pilot.press("slash")


async def _to_help(pilot: Pilot) -> None:
    await _to_results(pilot)
    await pilot.press("question_mark")


async def _to_palette(pilot: Pilot) -> None:
    await _to_results(pilot)
    await pilot.press("ctrl+p")
    await pilot.pause(0.1)


PLACES = {
    "query box": _to_query,
    "results": _to_results,
    "preview": _to_preview,
    "category select": _to_category,
    "open menu": _to_open_menu,
    "year box": _to_year,
    "reader": _to_reader,
    "find box": _to_find_box,
    "help": _to_help,
    "palette": _to_palette,
}
TEXT_BOXES = {"query box", "find box", "palette"}  # where q is a letter typed
Q_GOES_BACK = {"reader"}  # as in less (tests/test_tui_frictions.py)


@pytest.mark.parametrize("key", ["ctrl+q", "q"])
@pytest.mark.parametrize("place", list(PLACES))
async def test_ctrl_q_quits_everywhere_and_q_outside_text_boxes(
    searcher: Searcher, place: str, key: str
) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await PLACES[place](pilot)
        focused = app.focused
        await pilot.press(key)
        await pilot.pause(0.1)
        if key == "q" and place in TEXT_BOXES:
            assert app.is_running and app.focused is focused
            assert isinstance(focused, Input) and focused.value.endswith("q")
        elif key == "q" and place in Q_GOES_BACK:
            assert app.is_running and app.screen is main(app)
        else:
            assert not app.is_running, f"{key} did not quit from the {place}"
    if not (key == "q" and place in TEXT_BOXES | Q_GOES_BACK):
        assert app.return_code == 0


@pytest.mark.parametrize("place", ["query box", "results", "reader", "help", "year box"])
async def test_ctrl_c_says_how_to_quit(searcher: Searcher, place: str) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await PLACES[place](pilot)
        await pilot.press("ctrl+c")
        await pilot.pause(0.1)
        assert app.is_running
        notes = [n.message for n in app._notifications]
        assert any("ctrl+q to quit" in n for n in notes), notes


async def test_esc_in_the_empty_box_says_where_keys_go(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.is_running and isinstance(app.focused, QueryInput)
        assert any("ctrl+q: quit" in n.message for n in app._notifications)
        await type_query(pilot, "扩散")
        await pilot.press("escape")  # harmless with a query too: it stays
        await idle(pilot)
        assert app.query_one("#query", QueryInput).value == "扩散" and main(app).hits


# -- focus ------------------------------------------------------------------------------------
def _focus_look(widget) -> tuple[object, ...]:
    """What focus may change in how `widget` is drawn: its border, background, and (a list)
    its cursor's style."""
    from textual.widgets import OptionList

    look: list[object] = [widget.styles.border, widget.styles.background]
    if isinstance(widget, OptionList):
        look.append(widget.get_component_rich_style("option-list--option-highlighted"))
    if isinstance(widget, Select):
        current = widget.query_one("SelectCurrent")
        look.append(current.styles.background)
    return tuple(look)


async def test_focus_is_visible_on_every_widget(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "扩散")
        await pilot.press("f")  # show the filter bar
        await idle(pilot)
        for selector in ("#query", "#results", "#preview", "#category", "#tag", "#since"):
            widget = app.query_one(selector)
            app.query_one("#query").focus() if selector != "#query" else widget.blur()
            await pilot.pause()
            blurred = _focus_look(widget)
            widget.focus()
            await pilot.pause()
            assert _focus_look(widget) != blurred, f"{selector} looks the same focused"


async def test_footer_follows_focus(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:

        def shown() -> dict[str, str]:
            return {
                key: b.binding.description
                for key, b in app.screen.active_bindings.items()
                if b.binding.show
            }

        await type_query(pilot, "扩散")
        typing = shown()
        assert {"down", "ctrl+q", "f1"} <= typing.keys() and "q" not in typing
        await pilot.press("enter")
        browsing = shown()
        assert {"q", "m", "s", "r", "o", "y", "f", "question_mark"} <= browsing.keys()
        await pilot.press("f")
        in_bar = shown()
        assert {"q", "f", "question_mark"} <= in_bar.keys()  # typing on a select searches it
        assert "m" not in in_bar


# -- the filter bar -----------------------------------------------------------------------------
async def test_filter_bar_lets_go_of_slash_f_and_esc(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "矩阵")
        bar = app.query_one("#filters")
        box = app.query_one("#query", QueryInput)
        await pilot.press("enter", "f")
        category = app.query_one("#category", Select)
        assert app.focused is category and bar.has_class("-visible")
        # A letter on a select searches it: the menu opens at the first match.
        await pilot.press("数")
        await pilot.pause(0.1)
        assert category.expanded
        overlay = category.query_one("SelectOverlay")
        assert app.focused is overlay
        option = overlay.get_option_at_index(overlay.highlighted)
        assert "数学研究" in str(option.prompt)
        # `/` from the open menu: straight to the query box, nothing typed into it.
        await pilot.press("slash")
        await pilot.pause(0.1)
        assert app.focused is box and box.value == "矩阵" and not category.expanded
        assert not bar.has_class("-visible")  # no filter in use: the bar goes away
        # `f` toggles: into the bar and out again.
        await pilot.press("enter", "f")
        assert bar.has_focus_within
        await pilot.press("f")
        assert app.focused is box and not bar.has_class("-visible")
        # esc from the open menu leaves the bar too.
        await pilot.press("enter", "f", "enter")
        assert category.expanded
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.focused is box and not category.expanded
        # The year box takes digits; a letter is a key, `/` leaves.
        await pilot.press("enter", "f")
        since = app.query_one("#since", Input)
        since.focus()
        await pilot.press("x", "2", "0", "2", "2")
        assert since.value == "2022"
        await idle(pilot)
        assert main(app).filters.since == "2022"
        await pilot.press("slash")
        assert app.focused is box and box.value == "矩阵"
        assert bar.has_class("-visible")  # a filter is in use: the bar stays


# -- highlighting -------------------------------------------------------------------------------
def marked(view: PostView) -> list[tuple[str, bool]]:
    """(text, in code) of every query-term mark laid over the view's text."""
    from tui.widgets.post import TERM_STYLE

    return [
        (piece.base.plain[start:end], piece.code)
        for piece in view._pieces
        for start, end, style in piece.marks
        if style == TERM_STYLE
    ]


async def test_preview_and_reader_mark_the_query_terms(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "adam")
        assert main(app).hits[0].post_id == 1003
        preview = app.query_one("#preview", PostView)
        # Case-insensitively, in the text: Adam, Adam, AdamW; never in the code block.
        assert marked(preview) == [("Adam", False)] * 3
        await pilot.press("enter", "enter")
        await idle(pilot)
        assert isinstance(app.screen, ReaderScreen)
        assert marked(app.screen.query_one(PostView)) == [("Adam", False)] * 3


async def test_terms_are_never_marked_in_code_or_math(searcher: Searcher) -> None:
    import search

    post = search.Post(
        id=4242,
        title="t",
        body="Adam and `Adam` and $Adam$\n\n```\nAdam\n```\n\n$$Adam$$\n\nadam",
        url="https://kexue.fm/archives/4242",
    )
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await app.push_screen(ReaderScreen(post, 0, ("Adam",)))
        await idle(pilot)
        view = app.screen.query_one(PostView)
        assert marked(view) == [("Adam", False), ("adam", False)]


async def test_find_in_the_post(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(80, 12)) as pilot:
        await type_query(pilot, "Adam")
        await pilot.press("enter", "enter")
        await idle(pilot)
        reader = app.screen
        assert isinstance(reader, ReaderScreen)
        view = reader.query_one(PostView)
        count = reader.query_one("#find-count")

        def shown() -> str:
            return str(count.render())

        await pilot.press("slash")
        assert app.focused is reader.query_one("#find")
        await pilot.press(*"adam", "enter")
        await pilot.pause(0.1)
        # Code included: the three in the text and the one in the code block.
        assert len(view.matches) == 4 and shown() == "1/4"
        assert app.focused is view
        await pilot.press("n")
        assert shown() == "2/4"
        await pilot.press("n", "n")
        await pilot.pause(0.1)
        assert shown() == "4/4"
        # The current match is marked and scrolled into view.
        match = view.current_match()
        assert match is not None
        block = view._pieces[match.piece].block
        assert view.scroll_y > 0
        assert view.region.overlaps(block.region)
        await pilot.press("n")  # wraps
        assert shown() == "1/4"
        await pilot.press("N")
        assert shown() == "4/4"
        await pilot.press("slash", *"nothing here", "enter")
        assert shown() == "no match" and not view.matches
        await pilot.press("escape")  # unmarks
        assert shown() == "" and isinstance(app.screen, ReaderScreen)
        await pilot.press("escape")  # back
        assert not isinstance(app.screen, ReaderScreen)


# -- pages --------------------------------------------------------------------------------------
MANY = 123


@pytest.fixture(scope="module")
def many_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import search

    posts = [
        search.Post(
            id=5000 + i,
            title=f"噪声笔记 {i}",
            body=f"第 {i} 篇。" + "噪声 " * (1 + i % 7) + "其余的内容。",
            url=f"https://kexue.fm/archives/{5000 + i}",
        )
        for i in range(MANY)
    ]
    root = tmp_path_factory.mktemp("many")
    search.update(root, posts, vectors=False)
    return root


async def test_the_list_loads_the_next_page_at_its_end(many_root: Path) -> None:
    with LexicalSearcher.open(many_root) as s:
        app = make_app(s)
        async with app.run_test(size=(100, 30)) as pilot:
            await type_query(pilot, "噪声")
            results = app.query_one("#results", ResultList)
            assert len(main(app).hits) == 50
            assert status_text(app).startswith(f"50 of {MANY} results")
            await pilot.press("enter", "G")  # the cursor to the end of the list
            await idle(pilot)
            assert len(main(app).hits) == 100 and results.option_count == 100
            assert results.highlighted == 49  # the cursor stays where it was
            assert status_text(app).startswith(f"100 of {MANY} results")
            await pilot.press("G")
            await idle(pilot)
            ids = [h.post_id for h in main(app).hits]
            assert len(ids) == MANY == len(set(ids))  # every post once
            assert status_text(app).startswith(f"{MANY} results")
            assert main(app).selected_hit() == main(app).hits[99]
            await pilot.press("G")  # nothing more to load
            await idle(pilot)
            assert len(main(app).hits) == MANY and results.highlighted == MANY - 1


# -- history ------------------------------------------------------------------------------------
async def test_history_lasts_across_runs(searcher: Searcher, state_dir: Path) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        box = app.query_one("#query", QueryInput)
        await type_query(pilot, "RoPE")  # searched, never submitted
        box.value = ""
        await type_query(pilot, "扩散")
        box.value = ""
        await type_query(pilot, "RoPE")  # again: moves to the newest place, once
        await pilot.press("enter", "m", "slash")  # searched again in another mode
        await idle(pilot)
        await pilot.press("end", *" 外推")  # typing on from a query that was used keeps it
        await idle(pilot)
    saved = (state_dir / "history").read_text(encoding="utf-8").splitlines()
    assert saved == ["扩散", "RoPE", "RoPE 外推"]  # no `R`, `Ro`, `RoP`, `RoPE 外` on the way
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        box = app.query_one("#query", QueryInput)
        await pilot.press("up")
        assert box.value == "RoPE 外推"
        await pilot.press("up", "up")
        assert box.value == "扩散"


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfe\x00\x01 not utf-8", b"ok\n\x1b]2;pwned\x07\n", b"x" * (2 << 20)],
    ids=["binary", "escape codes", "huge"],
)
async def test_a_corrupt_history_is_ignored(
    searcher: Searcher, state_dir: Path, content: bytes
) -> None:
    state_dir.mkdir()
    (state_dir / "history").write_bytes(content)
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        box = app.query_one("#query", QueryInput)
        assert all("\x1b" not in q for q in box.history)
        await type_query(pilot, "扩散")
        assert main(app).hits and box.history[-1] == "扩散"


async def test_an_unwritable_history_is_not_fatal(searcher: Searcher, state_dir: Path) -> None:
    state_dir.write_text("a file where the directory should be")
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await type_query(pilot, "扩散")
        assert main(app).hits
        await pilot.press("up")  # still kept for this run
        await pilot.press("down")
        notes = [n.message for n in app._notifications]
        assert sum("history cannot be saved" in n for n in notes) == 1


def test_history_is_capped_deduplicated_and_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "state" / "history"
    history = History(path, limit=5)
    for query in ["a1", "b2", "a1", " c3 ", "", "d4", "e5", "f6", "g7"]:
        history.add(query)
    assert history.entries == ["c3", "d4", "e5", "f6", "g7"]
    assert path.read_text().splitlines() == history.entries
    assert [p.name for p in path.parent.iterdir()] == ["history"]  # no temporary file left
    # Another session's queries are merged in, not overwritten.
    other = History(path, limit=5)
    history.add("h8")
    other.add("i9")
    assert History(path, limit=5).entries == ["e5", "f6", "g7", "h8", "i9"]


# -- 80x24 --------------------------------------------------------------------------------------
async def test_80x24_shows_at_least_six_results(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await idle(pilot)
        main(app).set_filters(FilterState(category="信息时代"))
        await idle(pilot)
        await pilot.press("down")
        hits = main(app).hits
        assert len(hits) >= 6
        shot = app.export_screenshot().replace("&#160;", " ")
        for hit in hits[:6]:
            assert hit.title[:6] in shot, hit.title
        results = app.query_one("#results", ResultList)
        assert results.scrollable_content_region.height // 2 >= 6


async def test_the_help_scrolls_when_it_does_not_fit(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(80, 24)) as pilot:
        await _to_help(pilot)
        assert isinstance(app.screen, HelpScreen)
        box = app.screen.query_one("#help")
        assert box.max_scroll_y > 0 and box.scroll_y == 0
        await pilot.press("end")
        await pilot.pause(0.1)
        assert box.scroll_y == box.max_scroll_y
        assert "q  ctrl+q" in app.export_screenshot().replace("&#160;", " ")


# -- pick mode ----------------------------------------------------------------------------------
def pick_app(searcher: Searcher, query: str = "扩散") -> SearchApp:
    return make_app(searcher, pick=True, query=query)


async def test_pick_enter_chooses_the_highlighted_result(searcher: Searcher) -> None:
    app = pick_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        assert main(app).hits and app.query_one("#query", QueryInput).value == "扩散"
        first = main(app).hits[0]
        await pilot.press("enter")  # in the box: the highlighted result, as in fzf
        await pilot.pause(0.1)
    assert app.return_code == 0 and app.picked == first


async def test_pick_enter_on_a_result(searcher: Searcher) -> None:
    app = pick_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await pilot.press("down", "j")
        await idle(pilot)
        second = main(app).hits[1]
        await pilot.press("enter")
        await pilot.pause(0.1)
    assert app.return_code == 0 and app.picked == second


@pytest.mark.parametrize(
    "keys",
    [("escape",), ("down", "escape"), ("ctrl+q",), ("down", "q"), ("ctrl+c",)],
    ids=["esc in the box", "esc in the results", "ctrl+q", "q", "ctrl+c"],
)
async def test_pick_gives_up_with_status_1(searcher: Searcher, keys: tuple[str, ...]) -> None:
    app = pick_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.1)
    assert app.return_code == 1 and app.picked is None


def test_pick_without_a_terminal_says_so(
    data_root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    from tui.app import pick

    def no_tty(path: str, flags: int, *args: object) -> int:
        raise OSError(6, "No such device or address", path)

    monkeypatch.setattr(os, "isatty", lambda fd: False)
    monkeypatch.setattr(os, "open", no_tty)
    assert pick(data_root, "扩散") == 2
    out = capsys.readouterr()
    assert out.out == "" and "no terminal" in out.err


# -- snapshots ------------------------------------------------------------------------------
def snapshot_app(searcher: Searcher) -> SearchApp:
    return SearchApp(searcher=searcher, steady=True, debounce=0.01, preview_delay=0.01)


def typing(*keys: str):
    async def run_before(pilot: Pilot) -> None:
        await idle(pilot)
        for key in keys:
            await pilot.press(key)
            if len(key) > 1:  # a named key (enter, down): let it take effect
                await idle(pilot)
        await idle(pilot)

    return run_before


def test_snapshot_results_wide(snap_compare, searcher: Searcher) -> None:
    assert snap_compare(snapshot_app(searcher), terminal_size=(100, 30), run_before=typing(*"扩散"))


def test_snapshot_results_80x24(snap_compare, searcher: Searcher) -> None:
    # Two-line cards: at least six results, titles whole where they fit.
    keys = [*"category:信息时代", "enter", "down"]
    assert snap_compare(snapshot_app(searcher), terminal_size=(80, 24), run_before=typing(*keys))


def test_snapshot_help_80x24(snap_compare, searcher: Searcher) -> None:
    # The help scrolls (its scroll bar shows) rather than being cut at the screen's edge. It opens
    # over an empty screen: a preview behind it settles its scroll position at a time that depends
    # on the machine's load, and once drew its scroll bar elsewhere in CI.
    async def run_before(pilot: Pilot) -> None:
        await idle(pilot)
        await pilot.press("question_mark")
        await idle(pilot)

    assert snap_compare(snapshot_app(searcher), terminal_size=(80, 24), run_before=run_before)


def test_snapshot_reader(snap_compare, searcher: Searcher) -> None:
    keys = [*"NTK-aware", "enter", "enter"]
    assert snap_compare(snapshot_app(searcher), terminal_size=(80, 24), run_before=typing(*keys))


def test_snapshot_filters_and_help(snap_compare, searcher: Searcher) -> None:
    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        assert isinstance(app, SearchApp)
        await idle(pilot)
        main(app).set_filters(FilterState(category="数学研究", since="2020"))
        await idle(pilot)
        await pilot.press("tab", "question_mark")
        await pilot.pause()

    assert snap_compare(snapshot_app(searcher), terminal_size=(100, 30), run_before=run_before)


def test_snapshot_missing_index(snap_compare) -> None:
    app = SearchApp(MISSING, steady=True)
    assert snap_compare(app, terminal_size=(80, 24), run_before=typing())


# -- hostile post data ------------------------------------------------------------------------
HOSTILE = "\x1b]2;pwned\x07[/][bold]x\x1b[2J"


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import search

    post = search.Post(
        id=777,
        title=f"鸭子{HOSTILE}",
        body=f"正文 鸭子 {HOSTILE}\n\n## 小节[/]\n\n鸭子",
        category=f"cat{HOSTILE}",
        tags=(f"tag{HOSTILE}", "[/]"),
        url=f"https://kexue.fm/archives/777?[/]{HOSTILE}",
    )
    root = tmp_path_factory.mktemp("hostile")
    search.update(root, [post], vectors=False)
    return root


async def test_post_data_is_never_markup_nor_escape_codes(hostile_root: Path, monkeypatch) -> None:
    with LexicalSearcher.open(hostile_root) as s:
        app = make_app(s)
        async with app.run_test(size=(100, 30)) as pilot:
            await idle(pilot)
            await type_query(pilot, "鸭子")
            assert [h.post_id for h in main(app).hits] == [777]
            await pilot.press("enter")  # to the results
            monkeypatch.setattr(app, "launch_browser", lambda url: False)
            await pilot.press("y", "o")  # copy and open: both notify with the URL
            await idle(pilot)
            await pilot.press("f")  # the filter bar lists the category and tags
            await idle(pilot)
            await pilot.press("escape", "escape")  # back in the query box
            await pilot.press("enter")  # to the results
            await idle(pilot)
            await pilot.press("enter")  # the reader
            await idle(pilot)
            assert isinstance(app.screen, ReaderScreen)
            await pilot.press("escape")
            await pilot.press("ctrl+p", *"Filter tag")
            await idle(pilot)
            await pilot.press("escape")
            shot = app.export_screenshot()
            assert "\x1b" not in shot and "\x07" not in shot
            assert "␛]2;pwned␇[/][bold]x" in shot.replace("&#160;", " ")


async def test_an_empty_answer_names_the_unknown_words(searcher: Searcher) -> None:
    app = make_app(searcher)
    async with app.run_test(size=(100, 30)) as pilot:
        await idle(pilot)
        await type_query(pilot, "鸭子 zzzqqq tag:RoPE")
        assert main(app).hits == []
        notice = str(app.query_one("#notice").render())
        assert "No post contains: zzzqqq" in notice and "tag:RoPE" in notice
