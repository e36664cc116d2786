"""The search page in real headless Chromium (Debian's package, driven by Playwright): type a
query, see highlighted results, move with the keys, read a post with its math as MathML, see
related posts, come back; post data never runs as script. No console errors (a CSP violation
is one).

Set KEXUE_PAGE_SCREENSHOT=docs/page.png to save the README's screenshot on the way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import search
from search import Post
from search.server import create_app
from tests.conftest import FIXTURE_POSTS
from tests.test_server import running

CHROMIUM = Path("/usr/bin/chromium")
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')"
)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True)

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 10_000
EVIL = Post(
    id=4666,
    title='<img src=x onerror="window.__pwned=1">恶意标题 XSSPROBE',
    body=(
        "XSSPROBE <script>window.__pwned=2</script> <b onclick=alert(1)>粗</b>\n\n"
        "[点我](javascript:window.__pwned=3) $\\href{javascript:window.__pwned=4}{x}$ "
        '<iframe src="https://example.com"></iframe> $a_1$\n'
    ),
    tags=("<i>tag</i>",),
    category="信息时代",
)


# Issue 19: an aligned block, a cases block and a matrix, typeset in rows (not one line of `&`).
ALIGNED = Post(
    id=4667,
    title="对齐公式 ALIGNPROBE",
    body=(
        "ALIGNPROBE 更新规则：\n\n$$\\begin{aligned}\n\\boldsymbol{m}_t =&\\, \\beta_1"
        " \\boldsymbol{m}_{t-1} + (1 - \\beta_1)\\boldsymbol{g}_t\\\\\n\\boldsymbol{v}_t =&\\,"
        " \\beta_2 \\boldsymbol{v}_{t-1} + (1 - \\beta_2)\\boldsymbol{g}_t^2\\\\\n"
        "\\boldsymbol{\\theta}_t =&\\, \\boldsymbol{\\theta}_{t-1} - \\eta\\frac{\\boldsymbol{m}_t}"
        "{\\sqrt{\\boldsymbol{v}_t} + \\epsilon}\n\\end{aligned}$$\n\n"
        "以及\n\n$$f(x) = \\left\\{\\begin{aligned}&x, & x > 0\\\\ &0, & x \\leq 0\\end{aligned}"
        "\\right.\\qquad \\mathop{\\text{argmin}}_x \\,{\\color{red}{g(x)}}$$\n"
    ),
    category="数学研究",
)
# Issue 23, item 5: the "Read on kexue.fm" link must not take a script address.
BAD_LINK = Post(
    id=4668, title="坏链接 BADLINKPROBE", body="BADLINKPROBE", url="javascript:alert(1)"
)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Iterator[str]:
    data = search.DataDir(tmp_path_factory.mktemp("page-data"))
    search.update(data, [FIXTURE_POSTS, EVIL, ALIGNED, BAD_LINK], vectors=False)
    with running(create_app(data.root, load_model=False)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems  # type: ignore[attr-defined]
    yield pg
    context.close()
    assert not problems, problems


def _open(page, base: str, query: str = "") -> None:
    page.goto(f"{base}/{query}")
    # Filters are in once the categories came (no wait_for_function: the CSP forbids eval).
    page.locator("#category option").nth(1).wait_for(state="attached")


def test_search_read_and_come_back_with_the_keyboard(page, base):
    _open(page, base)
    assert page.evaluate("document.activeElement.id") == "q"
    page.locator("#q").press_sequentially("RoPE 外推", delay=30)
    first = page.locator("#results li").first
    first.wait_for()
    assert first.locator(".title").inner_text() == "旋转位置编码RoPE的长度外推"
    assert page.locator("#results li mark").count() >= 1  # highlights from the offsets
    assert "lexical" in page.locator("#status").inner_text()
    assert "posts" in page.locator("#status").inner_text()

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    assert page.locator("#hit-0").get_attribute("aria-selected") == "true"
    page.keyboard.press("Enter")
    page.locator("#reader").wait_for(state="visible")
    assert page.locator("#post-title").inner_text() == "旋转位置编码RoPE的长度外推"
    assert page.locator("#original").get_attribute("href") == "https://kexue.fm/archives/1001"
    assert page.locator("#post-body math").count() >= 4  # rendered as MathML, natively
    assert page.locator("#post-body math[display=block]").count() == 1
    assert page.locator("#post-body h2").first.inner_text() == "背景"
    page.locator("#related li").first.wait_for()
    assert "post=1001" in page.url

    page.keyboard.press("Escape")
    page.locator("#results-view").wait_for(state="visible")
    assert page.locator("#reader").is_hidden()
    assert page.evaluate("document.activeElement.id") == "q"

    page.locator("#q").blur()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"


def test_filters_links_and_a_post_by_address(page, base):
    _open(page, base)
    page.select_option("#category", "数学研究")
    page.locator("#results li").first.wait_for()
    metas = page.locator("#results li .meta").all_inner_texts()
    assert metas and all("数学研究" in m for m in metas)
    assert "category=" in page.url
    if os.environ.get("KEXUE_PAGE_SCREENSHOT"):  # wide: the reader beside the results
        page.set_viewport_size({"width": 1400, "height": 860})
        page.select_option("#category", "")
        page.locator("#q").fill("")
        page.locator("#q").press_sequentially("注意力 Softmax", delay=20)
        page.locator("#results li").nth(2).wait_for()
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        page.locator("#related li").first.wait_for()
        page.screenshot(path=os.environ["KEXUE_PAGE_SCREENSHOT"])
        page.set_viewport_size({"width": 1100, "height": 900})

    _open(page, base, "?post=1009")
    page.locator("#reader").wait_for(state="visible")
    assert page.locator("#post-title").inner_text() == "Attention中除以根号d的缘由"
    assert page.locator("#post-body msqrt").count() >= 1
    page.locator("#back").click()
    page.locator("#results-view").wait_for(state="visible")


def test_post_data_never_runs(page, base):
    _open(page, base)
    page.locator("#q").fill("XSSPROBE")
    title = page.locator("#results li .title").first
    title.wait_for()
    assert title.inner_text().startswith('<img src=x onerror="window.__pwned=1">')
    title.click()
    page.locator("#reader").wait_for(state="visible")
    assert page.locator("#post-title").inner_text().startswith("<img")
    body = page.locator("#post-body")
    assert "<script>" in body.inner_text()  # shown as text
    for selector in ("script", "iframe", "img", "[onclick]", "a[href^=javascript]"):
        assert body.locator(selector).count() == 0, selector
    assert page.locator("#post-body math").count() >= 1
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#post-meta").inner_text().endswith("<i>tag</i>")


def test_a_token_is_asked_for_and_used(browser, fixture_data):
    token = "page-test-token-0123456789"
    with running(create_app(fixture_data.root, token=token, load_model=False)) as url:
        context = browser.new_context()
        pg = context.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.goto(f"{url}/")
        dialog = pg.locator("#auth")
        dialog.wait_for(state="visible")
        pg.locator("#token").fill(token)
        pg.locator("#auth-form button").click()
        pg.locator("#category option").nth(1).wait_for(state="attached")
        pg.locator("#q").fill("扩散")
        pg.locator("#results li").first.wait_for()
        assert "DDPM" in pg.locator("#results").inner_text()
        context.close()


def test_reversed_years_say_so(page, base):
    _open(page, base, "?q=RoPE")
    page.locator("#results li").first.wait_for()
    page.select_option("#since", "2024")
    page.select_option("#until", "2022")
    status = page.locator("#status")
    status.locator("text=reversed").wait_for()
    assert status.inner_text() == "The years are reversed: From 2024 is after To 2022."
    assert "error" in (status.get_attribute("class") or "")
    assert page.locator("#results li").count() == 0
    assert page.locator("#since").get_attribute("aria-invalid") == "true"
    page.select_option("#since", "2020")
    page.select_option("#until", "2025")
    page.locator("#results li").first.wait_for()
    assert "reversed" not in status.inner_text()
    assert page.locator("#until").get_attribute("aria-invalid") == "false"


def test_an_aligned_block_is_typeset_in_rows(page, base):
    _open(page, base, "?post=4667")
    page.locator("#reader").wait_for(state="visible")
    body = page.locator("#post-body")
    body.locator("mtable").first.wait_for()
    first = body.locator("math[display=block]").first
    rows = first.locator("mtr")
    assert rows.count() == 3
    tops = [rows.nth(i).bounding_box()["y"] for i in range(3)]
    assert tops[0] < tops[1] < tops[2]  # three lines, one under the other
    assert "&" not in first.text_content() and "\\" not in body.inner_text()
    second = body.locator("math[display=block]").nth(1)
    assert second.locator("mtr").count() == 2
    assert "argmin" in second.text_content()
    assert second.locator("[mathcolor]").count() == 1  # \color paints g(x) alone
    if os.environ.get("KEXUE_PAGE_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["KEXUE_PAGE_SCREENSHOT_DIR"]) / "aligned.png"))


def test_the_original_link_takes_only_a_web_address(page, base):
    _open(page, base, "?post=4668")
    page.locator("#reader").wait_for(state="visible")
    page.locator("#post-title").wait_for()
    assert page.locator("#original").get_attribute("href") is None
    assert page.locator("#original").is_hidden()


def test_the_api_docs_work_offline(page, base):
    # Issue 19: /docs was blank offline (Swagger UI came from a CDN). Every request that is not
    # to this server fails here, so the docs must come whole from the server.
    from search.server.tex import node_package

    if node_package("swagger-ui-dist") is None:
        pytest.skip("swagger-ui-dist is not installed (bash scripts/setup.sh runs npm ci)")
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{base}/docs")
    page.locator(".opblock-summary").first.wait_for()
    assert page.locator(".opblock-summary").count() >= 8  # /search, /posts/{id}, …
    assert not outside, outside


def test_a_snippets_short_formula_is_mathml_on_the_page(page, base):
    _open(page, base, "?q=RoPE%20频率")
    first = page.locator("#results li", has_text="旋转位置编码RoPE的长度外推")
    first.wait_for()
    formulas = first.locator(".snippet .math math")
    assert formulas.count() >= 1  # typeset, where the CLI and the TUI show θ_i = 10000^(-2i/d)
    assert first.locator(".snippet .math msub").count() >= 1  # θ_i, a subscript
    assert first.locator(".snippet mark").count() >= 1  # the highlights are still there
    box = first.locator(".snippet .math").first.bounding_box()
    line = first.locator(".snippet mark").first.bounding_box()
    assert box is not None and line is not None and box["height"] < 3 * line["height"]  # inline
    if os.environ.get("KEXUE_PAGE_SCREENSHOT_DIR"):
        first.screenshot(path=str(Path(os.environ["KEXUE_PAGE_SCREENSHOT_DIR"]) / "snippet.png"))
