"""The reader's math (issue 19) and its hardening (issue 23, items 4 and 5): rows for aligned
blocks, scoped colours, operator names, nothing of a formula's text able to leave its <math>,
the renderer's own placeholder characters harmless in a post, /docs served offline."""

from __future__ import annotations

import re

import pytest

from search.server.render import engine_is_katex, render_post

needs_katex = pytest.mark.skipif(
    not engine_is_katex(), reason="KaTeX is not installed (bash scripts/setup.sh runs npm ci)"
)


def _rows(html: str) -> list[str]:
    return re.findall(r"<mtr>", html)


@needs_katex
def test_an_aligned_block_is_typeset_in_rows_without_ampersands():
    body = "$$\\begin{aligned}a &= b + c \\\\ d &= \\frac{e}{f} \\\\ g &= h\\end{aligned}$$"
    html = render_post(body, "https://kexue.fm/archives/1")
    assert len(_rows(html)) == 3 and html.count("<mtd") >= 6
    text = "".join(re.findall(r">([^<]+)<", html))
    assert "&amp;" not in text and "\\" not in text


@needs_katex
@pytest.mark.parametrize(
    "latex, rows",
    [
        ("\\begin{cases}1, & x>0 \\\\ 0, & x\\leq 0\\end{cases}", 2),
        ("\\begin{pmatrix}a & b \\\\ c & d\\end{pmatrix}", 2),
        ("\\begin{array}{c|c}\\hline a & b \\\\ c & d\\end{array}", 2),
        ("\\left.\\begin{aligned}x &= 1\\\\ y &= 2\\end{aligned}\\right\\}", 2),
    ],
)
def test_environments_have_rows(latex, rows):
    html = render_post(f"$${latex}$$", "")
    assert len(_rows(html)) == rows, html
    assert 'class="math-error"' not in html


@needs_katex
def test_numbered_align_with_tag_boxed_underbrace_and_eqref():
    body = (
        "\\begin{align}x &= \\boxed{1}\\label{eq:a}\\\\ y &= \\underbrace{2+3}_{5}\\end{align}\n\n"
        "由$\\eqref{eq:a}$得。"
    )
    html = render_post(body, "")
    assert 'id="eq-1"' in html and 'href="#eq-1"' in html
    assert len(_rows(html)) == 2 and "math-error" not in html


@needs_katex
def test_color_is_scoped_and_mathop_text_keeps_its_word():
    html = render_post("$$\\mathop{\\text{argmin}}_x f(x) + {\\color{red}{y}} + z$$", "")
    assert "argmin" in html
    colored = re.findall(r'<mstyle mathcolor="red">(.*?)</mstyle>', html, re.S)
    assert colored and "z" not in "".join(re.findall(r">([^<]+)<", colored[0]))


@needs_katex
def test_the_blogs_own_macros_read_as_operator_names():
    html = render_post("$\\msign(\\boldsymbol{M}) = \\tr(\\boldsymbol{X})$", "")
    assert "math-error" not in html and "msign" in html and "tr" in html


def test_text_in_a_formula_cannot_close_the_math_or_add_links():
    # Issue 23, item 5: a \text{} that closes </mtext></math> and opens a link and an image.
    body = (
        "前文 $\\text{</mtext></math><a/href=https://phish.example/login>CLICK TO LOGIN</a>"
        "<img/src=https://evil.example/track.png>}$ 后文仍在。\n\n"
        "$\\unicode{<script>}$ 这一段也仍在。"
    )
    html = render_post(body, "https://kexue.fm/archives/1")
    assert "phish.example" not in re.sub(r">[^<]*<", "><", html)  # not in any tag or attribute
    assert "<a" not in html and "<img" not in html and "<script" not in html
    assert "后文仍在" in html and "这一段也仍在" in html


@pytest.mark.parametrize(
    "body", ["a \ue0007\ue001 b $x$", "[a](\ue0005\ue001) $y$", "\ue000\ue001\ue0000\ue001"]
)
def test_the_renderers_placeholder_characters_in_a_post_are_harmless(body):
    # Issue 23, item 4: these raised IndexError (HTTP 500 on the reader).
    html = render_post(body, "https://kexue.fm/archives/1")
    assert "\ue000" not in html and "\ue001" not in html


def test_docs_are_served_offline(fixture_data):
    from fastapi.testclient import TestClient

    from search.server import create_app
    from search.server.tex import node_package

    if node_package("swagger-ui-dist") is None:
        pytest.skip("swagger-ui-dist is not installed (bash scripts/setup.sh runs npm ci)")
    app = create_app(fixture_data.root, load_model=False, render_workers=0)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/docs").text
        assert "cdn" not in page.lower() and "/static/docs/swagger-ui-bundle.js" in page
        for asset in re.findall(r'(?:src|href)="(/static/docs/[^"]+)"', page):
            r = client.get(asset)
            assert r.status_code == 200 and len(r.content) > 100, asset
        assert client.get("/static/docs/../app.py").status_code == 404


def test_the_reader_answers_200_for_hostile_math_and_placeholders(tmp_path):
    # Issue 23, items 4 and 5, through HTTP as the page asks: GET /posts/{id}?format=html.
    from fastapi.testclient import TestClient

    import search
    from search import Post
    from search.server import create_app

    data = search.DataDir(tmp_path / "data")
    posts = [
        Post(id=9901, title="占位符", body="a \ue0007\ue001 b $x$ [a](\ue0005\ue001)"),
        Post(id=9902, title="注入", body="前 $\\text{</math><a/href=https://e.example>x</a>}$ 后"),
    ]
    search.update(data, posts, vectors=False)
    app = create_app(data.root, load_model=False, render_workers=0)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for post in posts:
            r = client.get(f"/posts/{post.id}", params={"format": "html"})
            assert r.status_code == 200, r.text
        injected = client.get("/posts/9902", params={"format": "html"}).json()["html"]
        assert "<a" not in injected and "后" in injected


def test_a_post_of_unclosed_math_openers_renders_shows_and_snippets_in_linear_time():
    # Issue 23, item 1's post, through this code's passes (the reader, `show`, a snippet).
    import time

    from search.render import terminal_markdown
    from search.snippets import make_snippet

    for bomb in ("\\begin{a}" * 111_000, "$$" * 200_001, "\\begin{a}\\label{x}\\eqref{x}" * 30_000):
        body = "旋转位置编码 外推 " + bomb
        for run, args in (
            (render_post.__wrapped__, (body, "")),
            (terminal_markdown, (body,)),
            (make_snippet, (body, ["外推"])),
        ):
            started = time.perf_counter()
            run(*args)
            assert time.perf_counter() - started < 2.0, run


def test_the_injection_is_kept_out_with_the_fallback_engine_too(monkeypatch):
    # Issue 23 item 5 "must hold with whatever engine lands": latex2mathml copies \text{}
    # into <mtext> unescaped; the per-formula MathML-only sanitiser keeps it inside <math>.
    import search.server.render as page_render

    monkeypatch.setattr(page_render, "katex_mathml", lambda latex, display: None)
    monkeypatch.setattr(page_render, "katex_prefetch", lambda items: None)
    monkeypatch.setattr(page_render, "engine_is_katex", lambda: False)
    page_render._convert.cache_clear()
    try:
        body = (
            "前 $\\text{</mtext></math><a/href=https://phish.example/login>CLICK</a>"
            "<img/src=https://evil.example/t.png>}$ 后文仍在。$\\unicode{<script>}$ 尾。"
        )
        html = page_render.render_post.__wrapped__(body, "https://kexue.fm/archives/1")
        assert "<a" not in html and "<img" not in html and "<script" not in html
        assert "后文仍在" in html and "尾" in html
    finally:
        page_render._convert.cache_clear()
