import pytest
from hypothesis import given
from hypothesis import strategies as st

from search.snippets import (
    _densest,
    _drop_inside,
    _occurrences,
    _scan,
    formula_spans,
    make_snippet,
    render,
)


def test_readable_drops_markup_and_maps_offsets():
    md = (
        "见[这篇文章](https://kexue.fm/archives/1)的**结论**。"
        '[![](a.png)](a.png "点击查看原图")\n\n## 小节\n$x_1$'
    )
    doc = render(md)
    assert doc.text == "见这篇文章的结论。 小节 $x_1$"
    for i, ch in enumerate(doc.text):
        if ch != " ":
            assert md[doc.source(i)] == ch
            assert doc.plain(doc.source(i)) == i


def test_window_prefers_the_densest_region():
    body = "无关内容。" * 40 + "这里讨论RoPE的长度外推问题。" + "其他内容。" * 40
    snip = make_snippet(body, ["rope", "外推"], width=60)
    spans = [snip.text[s:e] for s, e in snip.highlights]
    assert spans == ["RoPE", "外推"]
    assert snip.text.startswith("…") and snip.text.endswith("…")
    assert body[snip.offset :].startswith(snip.text.lstrip("…")[:10])


def test_ascii_terms_match_whole_words_only():
    snip = make_snippet("Europe is not rope, but RoPE is.", ["rope"])
    assert [snip.text[s:e] for s, e in snip.highlights] == ["rope", "RoPE"]


def test_no_match_gives_the_opening_and_within_restricts():
    filler = "这里有足够长的一段正文，读者可以据此判断内容。" * 3
    body = f"第一段的内容。{filler}\n\n第二段讲外推。{filler}\n\n第三段也讲外推。{filler}"
    assert make_snippet(body, ["不存在"]).text.startswith("第一段")
    start = body.index("第三段")
    snip = make_snippet(body, ["外推"], within=(start, len(body)))
    assert snip.text.lstrip("…").startswith("第三段")


def test_empty_body():
    assert make_snippet("", ["x"]).text == ""


def test_window_does_not_open_inside_inline_math():
    formula = "$\\boldsymbol{\\mathcal{R}}_n\\boldsymbol{x}$"
    body = "前文" * 80 + f"其中 {formula} 是旋转矩阵，RoPE 由此得名。"
    wide = make_snippet(body, ["rope"])
    assert "ℛ_nx 是旋转矩阵" in wide.text and "$" not in wide.text  # whole, so rendered
    assert [wide.text[s:e] for s, e in wide.highlights] == ["RoPE"]
    narrow = make_snippet(body, ["rope"], width=40).text
    assert "$" not in narrow and "\\" not in narrow


def test_window_does_not_open_inside_display_math():
    formula = "$$\\sum_{i=1}^n \\left[q_i k_i^* e^{\\text{i}(m-n)\\theta_i}\\right]$$"
    body = "开头。" * 60 + formula + "这一性质保证了外推。" + "结尾。" * 30
    text = make_snippet(body, ["外推"], width=60).text
    assert "$" not in text and "\\" not in text  # never cut, so always rendered


def test_math_reads_as_unicode_and_highlights_follow():
    body = "频率 $\\theta_i = 10000^{-2i/d}$ 决定了 RoPE 的外推能力，$\\text{softmax}$ 也一样。"
    snippet = make_snippet(body, ["外推", "softmax", "rope"])
    assert "θ_i = 10000^(-2i/d) 决定了" in snippet.text
    marked = [snippet.text[s:e] for s, e in snippet.highlights]
    assert marked == ["RoPE", "外推", "softmax"]  # the last one inside a formula


def test_code_is_left_as_written():
    snippet = make_snippet("调用 `f(*args, **kwargs)` 时要 **注意** 顺序", ["kwargs"])
    assert "`f(*args, **kwargs)`" in snippet.text and "**注意**" not in snippet.text
    assert [snippet.text[s:e] for s, e in snippet.highlights] == ["kwargs"]


def test_a_formula_that_cannot_be_read_is_left_out():
    snippet = make_snippet("见 $\\frac{1}{$ 与 $$ $$ 之间，外推。", ["外推"])
    assert snippet.text == "见 … 与 … 之间，外推。"
    assert [snippet.text[s:e] for s, e in snippet.highlights] == ["外推"]


# -- issue 19: snippets that are prose ------------------------------------------------------
_ALIGNED = (
    "$$\\begin{aligned}\n\\boldsymbol{m}_t =&\\, \\beta_1 \\boldsymbol{m}_{t-1} + "
    "(1 - \\beta_1)\\boldsymbol{g}_t\\\\\n\\boldsymbol{v}_t =&\\, \\beta_2 "
    "\\boldsymbol{v}_{t-1} + (1 - \\beta_2)\\boldsymbol{g}_t^2\\\\\n"
    "\\boldsymbol{\\theta}_t =&\\, \\boldsymbol{\\theta}_{t-1} - \\eta\\frac{\\boldsymbol{m}_t}"
    "{\\sqrt{\\boldsymbol{v}_t} + \\epsilon}\\end{aligned}\\tag{1}$$"
)


def _prose_ok(text: str) -> bool:
    return "\\" not in text and "$" not in text and len(text) >= 40


def test_a_window_in_a_run_of_formulas_is_prose_not_a_single_character():
    # The old window opened just before a long formula and closed one character later: `…r…`.
    body = (
        "Adam的更新规则如下：\n\n"
        + _ALIGNED
        + "\n\n"
        + "其中$\\epsilon$防止除零，"
        + ("它的取值会影响训练的稳定性，也影响最终效果。" * 4)
    )
    start = body.index("$$")
    for within in [(start, start + len(_ALIGNED)), (start + 5, start + 40), None]:
        snip = make_snippet(body, ["epsilon", "adam"], within=within)
        assert _prose_ok(snip.text), snip.text
    snip = make_snippet(body, ["epsilon"], within=(start, start + len(_ALIGNED)))
    assert "ϵ防止除零" in snip.text


def test_long_formulas_are_left_out_with_an_ellipsis_short_ones_read_as_text():
    sentence = "这里 $\\beta_1$ 是动量系数，通常取 0.9，而学习率另行调节。"
    body = "先看定义：" + _ALIGNED + sentence * 2
    snip = make_snippet(body, ["动量"], width=80)
    assert "β_1 是动量系数" in snip.text
    assert "…" in snip.text and "\\end{" not in snip.text and "$" not in snip.text


def test_eqref_reads_as_the_equation_number():
    body = (
        "第一式：\n\\begin{equation}a = b\\label{eq:first}\\end{equation}\n"
        "第二式：\n\\begin{equation}c = d\\label{eq:second}\\end{equation}\n"
        "由$\\eqref{eq:second}$可知结论成立，这个结论在后文还会反复用到，请读者留意。"
    )
    snip = make_snippet(body, ["结论"])
    assert "由(2)可知结论成立" in snip.text
    assert "<ref>" not in snip.text and "\\" not in snip.text


def test_a_window_never_ends_inside_a_formula():
    formula = "$" + "\\boldsymbol{q}_m^{\\top}" * 12 + "$"
    body = "RoPE 的定义是" + formula + "，后面是更多的说明文字。" * 10
    snip = make_snippet(body, ["rope"], width=60)
    assert _prose_ok(snip.text), snip.text


def test_formula_spans_take_the_outermost_formula():
    inline = "$\\boldsymbol{R}_n=\\begin{pmatrix}a & b\\\\ c & d\\end{pmatrix}$"
    nested = "\\begin{array}{c}{\\begin{array}{c}1\\end{array}}\\\\ 2\\end{array}"
    text = f"甲 {inline} 乙 {nested} 丙 $$y$$ 丁 \\$5 与 $ 戊 ```x = '\\n'```"
    found = [text[s:e] for s, e in formula_spans(text)]
    assert found == [inline, nested, "$$y$$", "```x = '\\n'```"]


def test_formula_spans_are_linear_on_openers_without_closers():
    import time

    for opener in ("\\begin{a}", "$$", "\\begin{a}\\begin{b}", "$ x"):
        text = "甲" + opener * 50_000
        started = time.perf_counter()
        formula_spans(text)
        assert time.perf_counter() - started < 1.0, opener


def test_an_indented_code_block_is_left_out_like_a_fenced_one():
    body = (
        '参考实现如下：\n    \n    printf("%f\\n", x);\n    \\[Theta][t_] = 1;\n\n'
        + "这段代码输出近似结果，读者可以自行运行并比较精确结果与近似结果的差异。" * 2
    )
    snip = make_snippet(body, ["printf", "近似"])
    assert "\\" not in snip.text and "printf" not in snip.text
    assert "参考实现如下：" in snip.text or snip.text.startswith("…")
    doc = render(body)
    for i, ch in enumerate(doc.text):  # the map back to the body still holds outside the block
        if ch not in " `" and doc.text.find("```") > i:
            assert body[doc.source(i)] == ch


def test_an_image_whose_alt_escapes_brackets_drops_out():
    doc = render(
        '甲[![\\[0, 1\\]的近似效果](https://a/b.png)](https://a/b.png "x")乙 ![\\[x\\]](c.png)丙'
    )
    assert doc.text == "甲乙 丙"


@pytest.mark.parametrize("unit", ["\\[", "[", "![", "[![", "[a](", "<https://"])
def test_a_post_of_unclosed_brackets_is_read_in_linear_time(unit):
    import time

    body = "旋转位置编码 " + unit * (200_000 // len(unit))
    started = time.perf_counter()
    snippet = make_snippet(body, ["旋转"])
    # 100k characters took 16-140 s when each `[` was scanned to the end; linear is ~0.02 s
    assert time.perf_counter() - started < 2 and "旋转" in snippet.text


def test_a_snippet_says_where_its_short_formulas_stand_with_their_source():
    aligned = "$$\\begin{aligned}a&=b\\\\c&=d\\end{aligned}$$"
    body = f"我们有 $q_m e^{{im\\theta}}$ 这样的旋转，另有 {aligned} 然后讨论旋转位置编码的外推。"
    snippet = make_snippet(body, ["旋转"])
    [(start, end, source)] = snippet.formulas  # the aligned block is left out as …
    assert source == "$q_m e^{im\\theta}$" and snippet.text[start:end] == "q_m e^imθ"
    assert snippet.to_dict()["formulas"] == [[start, end, source]]


# -- finding terms fast must find what a plain scan finds ---------------------------------------
# Words of a few letters, digits, a hyphen, a space and a CJK character: self-overlapping
# terms (`aa`), terms inside others (`ab` in `aab`), ASCII words next to letters and not.
_LOW = st.text(alphabet="ab1- 中", max_size=40)
_TERM = st.text(alphabet="ab1- 中", min_size=1, max_size=4)


def _plain_occurrences(low: str, term: str, lo: int, hi: int) -> list[int]:
    """Every i in [lo, hi - len(term)] where `term` starts, an ASCII word only standing
    whole (judged on the whole text, past `hi` too)."""

    def word_char(i: int) -> bool:
        return 0 <= i < len(low) and low[i].isascii() and low[i].isalnum()

    whole = term.isascii() and term[:1].isalnum()
    return [
        i
        for i in range(lo, hi - len(term) + 1)
        if low.startswith(term, i)
        and (not whole or (not word_char(i - 1) and not word_char(i + len(term))))
    ]


@given(_LOW, _TERM, st.data())
def test_occurrences_are_those_a_plain_scan_finds(low, term, data):
    if low and data.draw(st.booleans()):  # a piece of the text itself: found at least once
        i = data.draw(st.integers(0, len(low) - 1))
        term = low[i : data.draw(st.integers(i + 1, min(i + 4, len(low))))]
    for lo in range(len(low) + 1):
        for hi in range(lo, len(low) + 1):
            plain = _plain_occurrences(low, term, lo, hi)
            # both ways: by regex (long ranges) and by str.find (short ones)
            assert _scan(low, term, lo, hi) == plain
            assert _occurrences(low, term, lo, hi) == plain


def test_a_term_overlapping_itself_is_found_at_every_start():
    low = "中中中 a-a-a"
    assert _scan(low, "中中", 0, len(low)) == [0, 1]
    assert _scan(low, "a-a", 0, len(low)) == [4, 6]


def test_a_word_cut_by_the_end_of_a_passage_is_not_whole():
    # `within` ends between `rope` and `s`: `ropes` is no match for `rope` there either.
    body = "无关内容。" * 20 + "讲的是 ropes 的故事，不是别的。" + "其他内容。" * 20
    end = body.index("ropes") + 4
    snip = make_snippet(body, ["rope"], within=(body.index("讲的是"), end))
    assert snip.highlights == ()


def _plain_densest(hits: list[tuple[int, int, str]], width: int) -> int:
    """The first match whose window [s, s + width - 10] scores most (1 + len/4 a term)."""

    def score(s: int) -> float:
        inside = {t for hs, _, t in hits if s <= hs <= s + width - 10}
        return sum(1.0 + len(t) / 4 for t in inside)

    best = max(score(s) for s, _, _ in hits)
    return next(s for s, _, _ in hits if score(s) == best)


@given(
    st.lists(st.tuples(st.integers(0, 300), st.sampled_from(["a", "bb", "中文词", "xyz"]))),
    st.integers(12, 80),
)
def test_the_densest_window_is_the_one_a_plain_count_finds(found, width):
    hits = sorted({(s, s + len(t), t) for s, t in found})
    if hits:
        terms = sorted({h[2] for h in hits})
        assert _densest(hits, [h[0] for h in hits], terms, width) == _plain_densest(hits, width)


@given(
    st.lists(st.integers(0, 200), min_size=1),
    st.lists(st.tuples(st.integers(0, 200), st.integers(1, 30)), max_size=8),
)
def test_matches_in_left_out_formulas_are_dropped(starts, cuts):
    spans, at = [], 0
    for gap, length in sorted(cuts):  # disjoint and sorted, as formula_spans gives them
        spans.append((at + gap, at + gap + length))
        at += gap + length
    hits = sorted((s, s + 2, "ab") for s in starts)
    kept = [h for h in hits if not any(s <= h[0] < e for s, e in spans)]
    _drop_inside(hits, tuple(spans))
    assert hits == kept
