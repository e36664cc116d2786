"""Terminal math (issue 19): formula shapes of the kind the blog writes, with the text a reader
should see. Written by hand; none is copied from a post."""

from __future__ import annotations

import pytest

from search.mathtext import tex_to_text
from search.render import latex_to_text, terminal_markdown

SHAPES = [
    # scripts: grouped when they are more than one token
    (r"e^{i(m-n)\theta_i}", "e^(i(m-n)θ_i)"),
    (r"\theta_i = 10000^{-2i/d}", "θ_i = 10000^(-2i/d)"),
    (r"x^2 + y^2", "x^2 + y^2"),
    (r"W^{\top}", "W^⊤"),
    (r"\boldsymbol{W}^{\top}\boldsymbol{x}", "W^⊤x"),
    (r"x_{t+1} = x_t - \eta g_t", "x_(t+1) = x_t - η g_t"),
    (r"a_{i,j}^{(l)}", "a_(i,j)^(l)"),
    (r"q_m^{\top} k_n", "q_m^⊤ k_n"),
    (r"{a}_{b}", "a_b"),
    (r"\mathbb{E}_{x\sim p(x)}[f(x)]", "𝔼_(x∼p(x))[f(x)]"),
    (r"\mathbb{R}^{n\times d}", "ℝ^(n×d)"),
    # fractions: unambiguous
    (r"\frac{1}{d/2}", "1/(d/2)"),
    (r"\frac{a+b}{c}", "(a+b)/c"),
    (r"\dfrac12", "1/2"),
    (r"\frac{1}{1+e^{-x}}", "1/(1+e^(-x))"),
    (r"\frac{\partial L}{\partial w}", "(∂ L)/(∂ w)"),
    (r"\binom{n}{k}", "C(n, k)"),
    # delimiters: \left. and sizes go
    (r"\left.\frac{L_{train}}{L_{test}}\right|_{x=0}", "(L_train)/(L_test)|_(x=0)"),
    (r"\left(\frac{a}{b}\right)^2", "(a/b)^2"),
    (r"\Big(x + y\Big)", "(x + y)"),
    (r"\left\{x\right\}", "{x}"),
    (r"\langle q, k\rangle", "⟨q, k⟩"),
    (r"\Vert x \Vert_2", "‖ x ‖_2"),
    # roots, big operators
    (r"\sqrt{d}", "√d"),
    (r"\sqrt{x^2+y^2}", "√(x^2+y^2)"),
    (r"\sqrt[3]{x}", "∛x"),
    (r"\sqrt[n]{x}", "x^(1/n)"),
    (r"\sum_{i=1}^n x_i", "∑_(i=1)^n x_i"),
    (r"\prod_{k=1}^{K} p_k", "∏_(k=1)^K p_k"),
    (r"\int_0^1 f(x)\,dx", "∫_0^1 f(x) dx"),
    (r"\lim_{n\to\infty} a_n", "lim_(n→∞) a_n"),
    (r"\log \sum_j e^{s_j}", "log ∑_j e^(s_j)"),
    # words, operator names, the blog's own macros
    (r"\mathop{\text{argmin}}_{\boldsymbol{B}} \Vert \boldsymbol{A}\boldsymbol{B}\Vert_F^2",
     "argmin_B ‖ AB‖_F^2"),
    (r"\operatorname{softmax}(x)_i", "softmax(x)_i"),
    (r"\text{stop\_grad}(x)", "stop_grad(x)"),
    (r"\mathrm{KL}(p\Vert q)", "KL(p‖ q)"),
    (r"\msign(\boldsymbol{M})", "msign(M)"),
    (r"p(y|x) \propto \exp(-E)", "p(y|x) ∝ exp(-E)"),
    # decorations keep what they decorate
    (r"\color{red}{x} + y", "x + y"),
    (r"\textcolor{blue}{a}b", "ab"),
    (r"\boxed{E = mc^2}", "E = mc^2"),
    (r"\underbrace{a + b}_{n}", "(a + b)_n"),
    (r"\hat{y} = \bar{x} + \tilde{z}", "ŷ = x̄ + z̃"),
    (r"\mathcal{L}(\theta)", "ℒ(θ)"),
    # relations and symbols
    (r"a \neq b,\quad a \leq b", "a ≠ b, a ≤ b"),
    (r"\not\in A", "∉ A"),
    (r"x' = x + 1", "x′ = x + 1"),
    (r"f(x) = x \tag{3}", "f(x) = x (3)"),
    # environments: a line per row, matrices and cases on one line
    (r"\begin{aligned}a &= b \\ c &= d\end{aligned}", "a = b\nc = d"),
    (r"\begin{cases}1, & x > 0 \\ 0, & \text{otherwise}\end{cases}", "{1, x > 0; 0, otherwise"),
    (r"\begin{pmatrix}\cos\theta & -\sin\theta \\ \sin\theta & \cos\theta\end{pmatrix}",
     "(cos θ, -sin θ; sin θ, cos θ)"),
    (r"\begin{bmatrix}1 & 2\\3 & 4\end{bmatrix}", "[1, 2; 3, 4]"),
    (r"\begin{array}{c|c}\hline a & b \\ c & d\end{array}", "a | b\nc | d"),
    (r"\left\{\begin{aligned}&x = 1\\&y = 2\end{aligned}\right.", "{x = 1\ny = 2"),
    # not well formed: None, and the source is shown
    (r"\frac{", None),
    (r"a}", None),
    (r"\begin{aligned}a", None),
]  # fmt: skip


@pytest.mark.parametrize("latex, expected", SHAPES)
def test_formula_shapes_read_as_text(latex, expected):
    assert tex_to_text(latex) == expected


def test_there_are_at_least_forty_shapes():
    assert len(SHAPES) >= 40


def test_no_command_ever_reaches_the_terminal_and_deep_nesting_is_bounded():
    assert "\\" not in tex_to_text(r"\somethingnew{x} + \foo \bar{y}")
    assert tex_to_text("{" * 5000 + "x" + "}" * 5000) is None  # no RecursionError


def test_eqref_reads_as_the_number_in_the_terminal():
    body = (
        "\\begin{equation}a = b\\label{eq:first}\\end{equation}\n\n"
        "$$c = d\\tag{★}\\label{eq:star}$$\n\n"
        "由$\\eqref{eq:first}$与$\\eqref{eq:star}$可知。"
    )
    out = terminal_markdown(body)
    assert "a = b  (1)" in out and "c = d (★)" in out
    assert "`(1)`与`(★)`" in out
    assert latex_to_text("$\\eqref{eq:first}$", {"eq:first": "4"}) == "(4)"


def test_an_aligned_block_is_one_line_per_row_in_the_terminal():
    out = terminal_markdown("前文\n$$\\begin{aligned}a &= b\\\\ c &= d\\end{aligned}$$\n后文")
    assert "```latex\na = b\nc = d\n```" in out


def test_code_fences_are_left_alone_and_found_in_linear_time():
    import time

    body = "前文 $x_1$\n```python\nx = '$a$'\n```\n后文 $y$\n~~~\n$z$\n~~~\n"
    out = terminal_markdown(body)
    assert "`x_1`" in out and "x = '$a$'" in out and "`y`" in out and "\n$z$\n" in out
    started = time.perf_counter()
    terminal_markdown("```a\n" * 20_000)
    assert time.perf_counter() - started < 1.0
