"""Formula search: normalisation, tokens, the query's LaTeX, and the list on a small index of
hand-written posts (their formulas written for these tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.formula import STRUCTURE, body_tokens, formula_tokens, symbols
from index.indexer import update
from index.paths import DataDir
from search import DEFAULT_CONFIG, RankingConfig, Searcher
from search.formula import find_formula, formula_query, fusion_policy
from search.fusion import BM25, BM25_FEEDBACK, FORMULA
from search.query import parse_query
from tests.conftest import DEV_QUERIES, build_index


def structure(latex: str) -> set[str]:
    return {t for t in formula_tokens(latex) if t.startswith(STRUCTURE)}


# -- normalisation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("one", "other"),
    [
        (r"\frac{a+b}{c}", r"{a+b}/c"),  # \frac vs /
        (r"\left(x+y\right)^2", r"(x+y)^2"),  # \left/\right
        (r"\Big[ u \Big]", r"[u]"),
        (r"\boldsymbol{W}\boldsymbol{x}", r"W x"),  # styles
        (r"\mathbf{A}^{\top}", r"A^T"),  # transposes
        (r"A^\intercal", r"A^{T}"),
        (r"a \cdot b", r"ab"),  # \cdot is juxtaposition
        (r"x\,\, +\;y\quad", r"x+y"),  # spacing
        (r"\displaystyle\sum_{i=1}^{n} x_i", r"\sum_{i=1}^n x_i"),
        (r"\color{red}{x^2}", r"x^2"),
        (r"\textcolor{blue}{y}", r"y"),
        (r"p \le q \to r", r"p \leq q \rightarrow r"),
        (r"\varepsilon", r"\epsilon"),
        (r"\mathrm{softmax}(z)", r"\text{softmax}(z)"),
        (r"x = 1 \label{eq:one}\tag{3}", r"x=1"),
    ],
)
def test_written_differently_the_same_symbols(one, other):
    assert symbols(one) == symbols(other)


def test_renamed_variables_keep_every_structure_token():
    assert structure(r"\frac{1}{2}(x + \sqrt{x^2 + b})") == structure(
        r"\frac{1}{2}\left(z + \sqrt{z^2 + c}\right)"
    )
    # ... but not the names (a weaker token that tells them apart)
    assert formula_tokens(r"x^2") != formula_tokens(r"z^2")


def test_greek_letters_are_variables_and_functions_stay():
    assert structure(r"\alpha + \log \beta") == structure(r"a + \log b")
    assert structure(r"a + \log b") != structure(r"a + \exp b")


def test_named_function_is_one_symbol():
    assert symbols(r"\operatorname{sign}(m_t)") == ["sign", "(", "m", "_", "t", ")"]


@pytest.mark.parametrize(
    ("latex", "expected"),
    [
        (r"\frac{\frac{a}{b}}{c}", ["a", "/", "b", "/", "c"]),  # nested: each `/` in its place
        (r"\frac{a}{\frac{b}{c}}+d", ["a", "/", "b", "/", "c", "+", "d"]),
        (r"\frac12", ["12", "/"]),  # a number is one argument
        (r"\frac12 x", ["12", "/", "x"]),  # `/` before the next symbol
        (r"\frac{\text{ab}}{c}", ["ab", "/", "c"]),  # a name ends the numerator's scan
        (r"\frac{x}", ["x", "/"]),  # no denominator: the `/` still stands
        (r"\frac{x", ["x", "/"]),  # nor a closing brace
        (r"\frac{a \label{e}}{b}^T", ["a", "/", "b", "^", "⊤"]),  # a dropped argument inside
    ],
)
def test_fractions_put_their_slash_where_the_numerator_ends(latex, expected):
    assert symbols(latex) == expected


def test_lines_of_a_display_are_cut():
    tokens = formula_tokens(r"\begin{aligned} a &= b \\ c &= d \end{aligned}")
    assert STRUCTURE + "v=v" in tokens  # `&` aligns, it does not cut `a &= b`
    assert STRUCTURE + "v=vv" not in tokens  # no n-gram runs over a line break


def test_body_tokens_take_every_delimiter():
    body = "设 $x^2$，则\n\n$$\\frac{a}{b}$$\n\n\\begin{equation}e^{i\\theta}\\end{equation}"
    tokens = body_tokens(body)
    assert STRUCTURE + "v^n" in tokens and STRUCTURE + "v/v" in tokens
    assert STRUCTURE + "v^v" in tokens


@pytest.mark.parametrize(
    "bad",
    [
        "{" * 1000,
        "}" * 1000,
        r"\begin{align} x = 1",
        r"\end{align}",
        r"\frac",
        r"\frac{",
        r"\frac{a}{",
        r"\sqrt[",
        r"\left( \right",
        r"\text{",
        r"\color{",
        "\\",
        "$$",
        "$",
        "^_^_^_",
        "\\" * 999,
        "x_{" * 300,
        "%" + "a" * 100,
        "\x00\ud800",
    ],
)
def test_bad_latex_never_raises(bad):
    formula_tokens(bad)
    body_tokens(bad)
    formula_query(bad)


# -- the query's LaTeX ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "latex"),
    [
        ("$e^{im\\theta}$", "e^{im\\theta}"),
        ("RoPE $e^{im\\theta}$ 外推", "e^{im\\theta}"),
        ("softmax \\frac{QK^T}{\\sqrt{d}}", "\\frac{QK^T}{\\sqrt{d}}"),
        ("LoRA 低秩 W = W_0 + AB", "W = W_0 + AB"),
        ("Lion 优化器 u_t = \\text{sign}(m_t)", "u_t = \\text{sign}(m_t)"),
        ("JL引理 n > \\frac{24\\log N}{\\varepsilon^2}", "n > \\frac{24\\log N}{\\varepsilon^2}"),
        ("x^2 + y^2", "x^2 + y^2"),
        ("\\[ \\frac{a}{b} \\] 是什么", "\\frac{a}{b}"),
        ("Adam \\(m_t/\\sqrt{v_t}\\)", "m_t/\\sqrt{v_t}"),
    ],
)
def test_formula_found_in_a_query(query, latex):
    assert find_formula(query) == latex


@pytest.mark.parametrize(
    "query",
    [
        "clip_grad_norm 的 max_norm 为什么大家通常都填 1",
        "RoPE 外推",
        "GPT-2 的 O(n) 复杂度",
        "MQA GQA KV Cache",
        "a_b_c",
        "",
    ],
)
def test_no_formula_in_prose(query):
    assert find_formula(query) is None


def test_dev_queries_without_latex_have_no_formula():
    """A query without LaTeX must rank as before: none of the 60 dev queries but the one that
    is a formula gets a formula list."""
    if not DEV_QUERIES.exists():
        pytest.skip("no shared dev queries")
    with DEV_QUERIES.open(encoding="utf-8") as f:
        queries = [json.loads(line)["query"] for line in f if line.strip()]
    found = [q for q in queries if formula_query(q) is not None]
    assert all("\\" in q for q in found) and len(found) <= 1


def test_latex_minus_is_not_an_exclusion():
    parsed = parse_query(r"\partial_t p = -\nabla\cdot(\mu p) -综述")
    assert "-\\nabla\\cdot(\\mu" in parsed.words
    assert parsed.excluded == ("综述",)


# -- the formula list on an index -----------------------------------------------------------------
POSTS = [
    (
        2001,
        "平方加激活函数",
        "我们提出一个光滑的 ReLU 近似：\n\n$$\\text{sqp}(x) = \\frac{x + \\sqrt{x^2 + b}}{2}$$\n\n"
        "它处处可导。另外 $y = x$ 是一条直线。",
    ),
    (
        2002,
        "高斯分布的KL散度",
        "两个对角高斯之间的 KL 散度为\n\n$$\\frac{1}{2}\\sum_{i=1}^{d}\\left(\\mu_i^2 + "
        "\\sigma_i^2 - \\log \\sigma_i^2 - 1\\right)$$\n\n这是变分自编码器的正则项。",
    ),
    (
        2003,
        "缩放点积注意力",
        "注意力写成\n\n$$\\text{Attention}(Q,K,V) = \\text{softmax}\\left(\\frac{QK^{\\top}}"
        "{\\sqrt{d}}\\right)V$$\n\n其中 $d$ 是维度。",
    ),
    (
        2004,
        "动量方法",
        "动量更新为 $m_t = \\beta m_{t-1} + (1-\\beta) g_t$，然后 $\\theta_t = \\theta_{t-1} - "
        "\\eta m_t$。",
    ),
    (2005, "没有公式的文章", "这篇文章只谈历史，没有任何公式。"),
]


def _write_posts(source: Path) -> None:
    with source.open("w", encoding="utf-8") as f:
        for pid, title, body in POSTS:
            post = {
                "id": pid,
                "url": f"https://kexue.fm/archives/{pid}",
                "title": title,
                "date": "2024-01-01",
                "category": "数学研究",
                "tags": [],
                "body": body,
            }
            f.write(json.dumps(post, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("formula-data")
    source = root / "posts.jsonl"
    _write_posts(source)
    data = build_index(Path(root / "data"), source)
    s = Searcher.open(data.root)
    yield s
    s.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (r"\text{sqp}(x) = \frac{x + \sqrt{x^2 + b}}{2}", 2001),  # exact
        (r"(z + \sqrt{z^2 + c})/2", 2001),  # renamed, / for \frac
        (r"\frac{1}{2}\sum_{k=1}^{n}(m_k^2 + s_k^2 - \log s_k^2 - 1)", 2002),  # renamed
        (r"\mathrm{softmax}\left(\frac{\boldsymbol{Q}\boldsymbol{K}^T}{\sqrt{d_k}}\right)", 2003),
        (r"$v_t = \gamma v_{t-1} + (1-\gamma) g_t$", 2004),
        (r"注意力 \text{softmax}(QK^T/\sqrt{d})", 2003),  # mixed
    ],
)
def test_the_post_of_the_formula_ranks_first(searcher, query, expected):
    result = searcher.search(query, mode="lexical", explain=True)
    assert result and result[0].post_id == expected
    top = result[0]
    assert top.explain is not None and "formula" in top.explain.lists
    assert top.explain.formula  # the tokens that matched
    assert all(t.startswith(("s:", "c:")) for t in top.explain.formula)


def test_a_hit_found_by_its_formula_shows_it(searcher):
    hit = searcher.search(r"(z + \sqrt{z^2 + c})/2", mode="lexical")[0]
    assert "sqrt" in hit.snippet.text or "√" in hit.snippet.text


def test_query_without_latex_has_no_formula_list(searcher):
    q, ranking = searcher.ranking("激活函数", mode="lexical")
    assert q.formula is None and "formula" not in ranking.lists


@pytest.mark.parametrize(
    "bad", ["{" * 900, r"\begin{align} x", r"$\frac{$", "\\" * 500, r"x_{" * 200, "$$ $$"]
)
def test_bad_latex_queries_answer(searcher, bad):
    for mode in ("lexical", "hybrid"):
        searcher.search(bad, mode=mode)  # no vectors here: hybrid answers lexically


def test_filters_apply_to_the_formula_list(searcher):
    result = searcher.search(r"(z + \sqrt{z^2 + c})/2 year:2020", mode="lexical")
    assert len(result) == 0


# -- any text -------------------------------------------------------------------------------------
PIECES = st.sampled_from(
    ["\\frac{", "}{", "{", "}", "^{", "_", "\\left(", "\\right", "\\begin{align}", "\\\\", "&",
     "$", "\\text{", "\\color{", "x", "\\theta", "%", "\\", "=", "-\\nabla"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(PIECES, max_size=60).map("".join), st.text(max_size=200)))
def test_any_text_scans_into_tokens_without_spaces(text):
    for token in [*formula_tokens(text), *body_tokens(text)]:
        assert token and not any(c.isspace() for c in token)
    fq = formula_query(text)
    assert fq is None or fq.tokens


def test_an_index_from_before_formula_search_is_found_and_rebuilt(tmp_path):
    """The manifest records the formula tokens' version with jieba's: an index built before
    (or by other formula rules) is a finding of `check`, and the next index run rebuilds it."""
    import index
    from index.check import check
    from index.manifest import Manifest
    from index.store import Store
    from index.tokenize import TOKENIZER_VERSION

    source = tmp_path / "posts.jsonl"
    _write_posts(source)
    data = build_index(tmp_path / "data", source)
    store = Store.open(data.store)
    try:
        Manifest.load(store).with_lexical(TOKENIZER_VERSION).save(store)
    finally:
        store.close()
    report = check(data)
    assert not report.ok and report.repairable
    assert any(f.part == "lexical" for f in report.findings)
    index.update(data)
    assert check(data).ok
    with Searcher.open(data.root) as s:
        assert s.search(r"(z + \sqrt{z^2 + c})/2", mode="lexical")[0].post_id == 2001


def test_a_changed_post_is_found_by_its_new_formula(tmp_path):
    """Incremental like the rest: re-indexing a changed post re-scans its formulas."""
    import index

    source = tmp_path / "posts.jsonl"
    _write_posts(source)
    data = build_index(tmp_path / "data", source)
    query = r"\oint_{\partial \Omega} \omega = \int_{\Omega} d\omega"
    with Searcher.open(data.root) as s:
        assert all(h.post_id != 2005 for h in s.search(query, mode="lexical"))
    lines = source.read_text("utf-8").splitlines()
    changed = []
    for line in lines:
        post = json.loads(line)
        if post["id"] == 2005:
            post["body"] += "\n\n斯托克斯公式：$$\\oint_{\\partial M} \\alpha = \\int_M d\\alpha$$"
        changed.append(json.dumps(post, ensure_ascii=False))
    source.write_text("\n".join(changed) + "\n", "utf-8")
    report = index.update(data, [source], vectors=False)
    assert report.changed == 1 and report.lexical_updated == 1
    with Searcher.open(data.root) as s:
        hit = s.search(query, mode="lexical", explain=True)[0]
        assert hit.post_id == 2005
        assert "∮" in hit.snippet.text or "oint" in hit.snippet.text  # the new formula shown


# -- the fusion of a formula query ----------------------------------------------------------------
def test_a_formula_alone_weighs_the_feedback_up_and_the_dense_lists_down():
    config = DEFAULT_CONFIG.formula
    fusion = DEFAULT_CONFIG.fusion
    alone = fusion_policy(fusion, formula_query(r"\frac{QK^T}{\sqrt{d}}"), config)
    assert alone.weight(BM25_FEEDBACK) == fusion.weight(BM25_FEEDBACK) * config.feedback_alone
    assert alone.weight("e5+fb") == fusion.weight("e5") * config.dense_alone
    assert alone.weight("use") == fusion.weight("use") * config.dense_alone
    assert alone.weight(FORMULA) == fusion.weight(FORMULA)
    assert alone.weight(BM25) == fusion.weight(BM25)
    assert config.feedback_alone != 1.0 and config.dense_alone != 1.0  # the test means something


def test_words_around_a_formula_weigh_the_formula_list_down_and_bm25_up():
    config = DEFAULT_CONFIG.formula
    fusion = DEFAULT_CONFIG.fusion
    worded = fusion_policy(fusion, formula_query(r"LoRA 低秩 W = W_0 + AB"), config)
    assert worded.weight(FORMULA) == fusion.weight(FORMULA) * config.with_words
    assert worded.weight(BM25) == fusion.weight(BM25) * config.bm25_with_words
    assert config.with_words != 1.0 and config.bm25_with_words != 1.0
    for name in ("e5", "use", BM25_FEEDBACK):
        assert worded.weight(name) == fusion.weight(name)


@pytest.mark.model
def test_hybrid_ranks_a_formula_alone_with_its_policy(tmp_path, embedder):
    """End to end (the e5 model, FAISS, Tantivy): a formula alone is fused with the lexical
    feedback weighed up and the dense lists down, a formula with words as before but its own
    list's weight, and the formula's post comes first either way."""
    source = tmp_path / "posts.jsonl"
    _write_posts(source)
    data = DataDir(tmp_path / "data")
    update(data, [source], embedder=embedder)
    with Searcher.open(data.root, embedder=embedder, config=RankingConfig(floor=None)) as s:
        fusion, config = s.config.fusion, s.config.formula
        kl = r"\frac{1}{2}\sum_{k=1}^{n}(m_k^2 + s_k^2 - \log s_k^2 - 1)"
        q, alone = s.ranking(kl, mode="hybrid")
        assert q.formula is not None and q.formula.alone
        assert {"e5", "formula", BM25_FEEDBACK} <= alone.lists.keys()
        assert alone.policy is not None
        assert alone.policy.weight(BM25_FEEDBACK) == (
            fusion.weight(BM25_FEEDBACK) * config.feedback_alone
        )
        assert alone.policy.weight("e5+fb") == fusion.weight("e5") * config.dense_alone
        assert alone.ranked[0][0] == 2002
        _, worded = s.ranking("高斯 KL 散度 " + kl, mode="hybrid")
        assert worded.policy is not None
        assert worded.policy.weight(BM25_FEEDBACK) == fusion.weight(BM25_FEEDBACK)
        assert worded.policy.weight(FORMULA) == fusion.weight(FORMULA) * config.with_words
        assert worded.policy.weight(BM25) == fusion.weight(BM25) * config.bm25_with_words
        assert worded.ranked[0][0] == 2002
