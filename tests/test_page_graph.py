"""The page's reader in headless Chromium: the series (previous / next part) and what a post
cites and what cites it, as links that open in the reader with Back coming back; titles and
sentences from posts stay text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import search
from search import Post
from search.server import create_app
from tests.graph_fixture import graph_posts
from tests.test_page import _open, browser, page  # noqa: F401 (fixtures)
from tests.test_server import running

EVIL = Post(
    id=2666,
    title='<img src=x onerror="window.__pwned=1">引用者',
    body="见 https://kexue.fm/archives/2001 一文 <script>window.__pwned=2</script>。",
)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[str]:
    data = search.DataDir(tmp_path_factory.mktemp("page-graph"))
    search.update(data, [*graph_posts(), EVIL], vectors=False)
    with running(create_app(data.root, load_model=False, render_workers=0)) as url:
        yield url


def test_series_and_links_in_the_reader(page, base):  # noqa: F811
    _open(page, base, "?post=2002")
    page.locator("#reader").wait_for(state="visible")
    series = page.locator("#series")
    series.wait_for(state="visible")
    assert series.locator(".series-name").inner_text() == "位置编码之路 (2/3)"
    assert series.locator("a[rel=prev]").inner_text() == "← 位置编码之路：1、正弦位置编码"
    series.locator("a[rel=next]").click()
    page.locator("#post-title", has_text="位置编码之路：3、长度外推").wait_for()
    assert "post=2003" in page.url
    page.locator("#links").wait_for(state="visible")
    cites = page.locator("#cites li")
    assert cites.count() == 3
    assert page.locator("#cites-title").inner_text() == "Cites (3)"
    assert "旋转编码见上一篇。" in cites.nth(0).inner_text()
    outside = cites.nth(2).locator("a")
    assert outside.get_attribute("href") == "https://kexue.fm/archives/2999"
    assert "(not in this archive)" in outside.inner_text()
    assert page.locator("#series a[rel=next]").count() == 0  # the last part

    cites.nth(1).locator("a").click()  # 2001, from the list of what it cites
    page.locator("#post-title", has_text="位置编码之路：1、正弦位置编码").wait_for()
    page.locator("#cited-by li").nth(3).wait_for()
    cited_by = page.locator("#cited-by li").all_inner_texts()
    assert cited_by[0].startswith("位置编码之路：2、旋转位置编码")
    evil = [t for t in cited_by if "引用者" in t]
    assert evil and evil[0].startswith('<img src=x onerror="window.__pwned=1">')
    assert page.locator("#links img, #links script").count() == 0
    assert page.evaluate("window.__pwned") is None

    page.go_back()  # Back walks the way it came
    page.locator("#post-title", has_text="位置编码之路：3、长度外推").wait_for()
    page.locator("#cites li").nth(2).wait_for()


def test_a_post_without_links_shows_neither(page, base):  # noqa: F811
    _open(page, base, "?post=2009")
    page.locator("#reader").wait_for(state="visible")
    page.locator("#related-title").wait_for()
    page.wait_for_timeout(300)
    assert page.locator("#series").is_hidden() and page.locator("#links").is_hidden()
