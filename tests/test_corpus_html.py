"""Saved kexue.fm post pages → Post: metadata, boilerplate cut, LaTeX byte-for-byte."""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus.html import parse_post_html, read_html_file
from corpus.post import Post, Problem

FIXTURES = Path(__file__).parent / "fixtures" / "html"


def load_path(path: Path) -> Post:
    (item,) = list(read_html_file(path))
    assert isinstance(item, Post), item
    return item


def load(name: str) -> Post:
    return load_path(FIXTURES / name)


def test_metadata_of_a_full_page() -> None:
    post = load("9901.html")
    assert post.id == 9901
    assert post.title == "从动量到自适应：优化器的一次漫谈"
    assert post.date == dt.date(2023, 11, 20)
    assert post.views == 45210
    assert post.category == "信息时代"
    assert post.tags == ("优化器", "梯度下降", "adam")
    assert post.url == "https://kexue.fm/archives/9901"  # canonical host, not spaces.ac.cn


def test_latex_comes_through_unchanged() -> None:
    body = load("9901.html").body
    expected = [
        r"$\boldsymbol{g}_t = \nabla_{\boldsymbol{\theta}}\mathcal{L}(\boldsymbol{\theta}_{t-1})$",
        r"$0 < \beta_1 < 1$",  # &lt; in the page is `<` in the text
        "\\begin{equation}\\begin{aligned}\n"
        "\\boldsymbol{m}_t =&\\, \\beta_1\\boldsymbol{m}_{t-1} + (1-\\beta_1)"
        "\\boldsymbol{g}_t \\\\\n"
        "\\boldsymbol{\\theta}_t =&\\, \\boldsymbol{\\theta}_{t-1} - \\eta_t \\boldsymbol{m}_t\n"
        "\\end{aligned}\\label{eq:sgdm}\\end{equation}",
        r"$\boldsymbol{\theta}^*$",
        r"$x*y$",
        # a <br /> inside display math becomes a plain newline, nothing else changes
        "$$\\eta_t = \\left\\{\\begin{aligned}&\\eta_{\\max}\\cdot t/T_w, & t < T_w \\\\\n"
        "&\\eta_{\\max}, & t \\geq T_w\\end{aligned}\\right.$$",
        r"$\{t_1, t_2\}$",
    ]
    for snippet in expected:
        assert snippet in body, snippet
    assert "\\_" not in body and "\\*" not in body


def test_plain_text_is_not_escaped_either() -> None:
    body = load("9901.html").body
    assert "my_adam_v2.py" in body
    assert "`lr_schedule`" in body


def test_boilerplate_tail_and_page_furniture_are_dropped() -> None:
    body = load("9901.html").body
    for junk in (
        "转载到请包括本文地址",
        "更详细的转载事宜",
        "打赏",
        "kexuefm-9901",
        "相关文章",
        "评论",
    ):
        assert junk not in body
    assert "$a_1$" not in body  # from the comments, outside #PostContent
    assert body.endswith("> 优化器的选择，往往比我们想象的更重要。")


def test_headings_lose_their_anchor_links() -> None:
    lines = load("9901.html").body.splitlines()
    assert "## 动量的作用" in lines
    assert "### 实现" in lines
    assert "## 面积定理" in load("1207.html").body.splitlines()  # anchor after the text
    assert "[#]" not in load("10555.html").body


def test_code_blocks_are_fenced_and_verbatim() -> None:
    body = load("9901.html").body
    assert (
        "```python\n"
        "def adam_step(theta, g, m, v, t, lr=1e-3, b1=0.9, b2=0.999):\n"
        "    m = b1 * m + (1 - b1) * g\n"
        "    v = b2 * v + (1 - b2) * g**2\n"
        "    if t < 10:\n"
    ) in body
    plain = load("10555.html").body
    assert "```\nimport numpy as np\nA = np.random.randn(100, 100); A = A @ A.T\n" in plain


def test_relative_links_and_images_become_absolute() -> None:
    body = load("9901.html").body
    img = "https://kexue.fm/usr/uploads/2023/11/3141592653.png"
    assert f'[![学习率曲线]({img})]({img} "点击查看原图")' in body
    assert "[《一篇旧文》](https://kexue.fm/archives/8888)" in body
    assert "[Adam的原论文](https://arxiv.org/abs/1412.6980)" in body
    assert "![](https://kexue.fm/usr/uploads/2011/03/hawking.jpg)" in load("1207.html").body


def test_other_math_delimiters_and_an_older_page() -> None:
    post = load("1207.html")
    assert (post.id, post.category, post.tags) == (1207, "天文探索", ("黑洞", "热力学"))
    assert post.date == dt.date(2011, 3, 3)
    assert "$$T_H = \\frac{\\hbar c^3}{8\\pi G M k_B}$$" in post.body
    assert "\\begin{align*}\ndM c^2 =& T_H\\, dS \\\\\n" in post.body
    assert r"$\frac{a_1}{b_2}$与$a_{1}*b_{2}$" in post.body
    assert r"写成\$5不是公式" in post.body
    assert "1. 质量$M$越大，温度$T_H$越低；" in post.body

    newer = load("10555.html")
    assert (newer.id, newer.category, newer.tags) == (10555, "数学研究", ("矩阵", "随机", "估计"))
    assert r"\(\text{tr}(\boldsymbol{A}) = \mathbb{E}[\boldsymbol{z}^{\top}" in newer.body
    assert r"\[\text{Var} = 2\sum_{i\neq j} A_{i,j}^2 + \sum_i" in newer.body
    assert r"$\boldsymbol{A}_{**}$" in newer.body


def test_a_page_that_is_not_a_post() -> None:
    text = (FIXTURES / "category-listing.html").read_text(encoding="utf-8")
    with pytest.raises(ValueError, match=r"not a kexue\.fm post"):
        parse_post_html(text)
    (problem,) = list(read_html_file(FIXTURES / "category-listing.html"))
    assert isinstance(problem, Problem)
    assert problem.source.endswith("category-listing.html")


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    (problem,) = list(read_html_file(tmp_path / "gone.html"))
    assert isinstance(problem, Problem)


def test_id_falls_back_to_the_source_url() -> None:
    page = (
        '<div class="Post"><div class="title-wrap"><h1><a href="#">无链接的标题</a></h1></div>'
        '<div id="PostContent"><p>正文$a_b$</p></div></div>'
    )
    post = parse_post_html(page, source="http://127.0.0.1:8000/archives/77")
    assert (post.id, post.title, post.body) == (77, "无链接的标题", "正文$a_b$")
    with pytest.raises(ValueError, match="archives"):
        parse_post_html(page)


_LATEX_CHARS = st.sampled_from([*"abxyz019 _*^{}[]()&<>|=+-/.,'", "\\", "\\\\", "\\{", "α"])


@settings(max_examples=150, deadline=None)
@given(st.lists(_LATEX_CHARS, min_size=1, max_size=40).map("".join))
def test_any_inline_math_survives_byte_for_byte(tex: str) -> None:
    tex = tex.strip()
    if not tex or tex.endswith("\\"):
        tex = f"{tex}x"
    page = (
        '<div class="Post"><div class="title-wrap"><h1><a href="/archives/5">t</a></h1></div>'
        f'<div id="PostContent"><p>设${html.escape(tex, quote=False)}$为_变量*。</p></div></div>'
    )
    body = parse_post_html(page).body
    assert body == f"设${tex}$为_变量*。"


def test_a_page_saved_in_gbk(tmp_path: Path) -> None:
    page = (FIXTURES / "1207.html").read_text(encoding="utf-8").replace("utf-8", "gbk")
    path = tmp_path / "1207.html"
    path.write_bytes(page.encode("gb18030"))
    post = load_path(path)
    assert post.title == "黑洞的温度与面积定理"
    assert "$$T_H = \\frac{\\hbar c^3}{8\\pi G M k_B}$$" in post.body
