"""A hit found by its formula opens at that formula (issue 20): the reader and the preview mark
the block holding it and bring it into view, on a fixture post whose formula is far down."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from textual.widgets.markdown import MarkdownBlock

import index
from index.paths import DataDir
from search import Searcher
from tests.conftest import fixture_posts_with_one_changed

# The TUI tests' fixtures (the asyncio backend, a history directory of each test's own).
from tests.test_tui import LexicalSearcher, anyio_backend, idle, make_app, state_dir  # noqa: F401
from tui.screens.reader import ReaderScreen
from tui.widgets.post import MathFence, PostView

pytestmark = pytest.mark.anyio

POST = 1003
FORMULA = (
    r"\mathcal{L}_{\text{toy}}(\theta) = \sum_{k=1}^{K} \left( \frac{\partial f_k(\theta)}"
    r"{\partial \theta} \right)^2 + \lambda \left\Vert \theta - \theta_0 \right\Vert_2^2"
)
PROSE = "".join(f"\n\n第{i}段：一段说明文字，把公式推到文章的后面。" for i in range(1, 61))
AFTER = "".join(f"\n\n公式之后的第{i}段说明。" for i in range(1, 31))


def formula_searcher(root: Path, after: str) -> Searcher:
    """The fixture index with a long display formula after 60 paragraphs of post POST, then
    `after` (nothing: the post ends with it, and its snippet starts in the paragraph above)."""
    posts = fixture_posts_with_one_changed(POST, f"{PROSE}\n\n$${FORMULA}$${after}\n")
    index.update(DataDir(root), posts, vectors=False)
    return LexicalSearcher.open(root)


def assert_at_formula(view: PostView) -> None:
    marked = [b for b in view.query(MarkdownBlock) if b.has_class("-match")]
    assert len(marked) == 1 and isinstance(marked[0], MathFence), marked
    assert "θ_0" in str(marked[0].code_content()), "the marked fence is not the formula"
    region = marked[0].region
    assert region.height and view.region.contains_region(region), (region, view.region)


@pytest.mark.parametrize("after", ["", AFTER], ids=["ends-the-post", "mid-post"])
async def test_reader_and_preview_open_at_the_matched_formula(tmp_path: Path, after: str) -> None:
    with formula_searcher(tmp_path, after) as searcher:
        app = make_app(searcher)
        async with app.run_test(size=(100, 30)) as pilot:
            app.query_one("#query", Input).value = f"${FORMULA}$"  # as pasted
            await idle(pilot)
            hit = app.search_screen.hits[0]
            assert hit.post_id == POST and hit.formula_offset is not None
            assert searcher.get(POST).body.startswith("$$", hit.formula_offset)
            await idle(pilot, quiet_rounds=10)
            assert_at_formula(app.search_screen.query_one("#preview", PostView))
            await pilot.press("enter", "enter")
            await idle(pilot)
            assert isinstance(app.screen, ReaderScreen)
            await pilot.pause(0.2)
            assert_at_formula(app.screen.query_one(PostView))
