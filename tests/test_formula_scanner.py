"""The formula scanner's output pinned down, so a faster scanner can be checked to give the same
tokens: tricky LaTeX with the symbols worked out by hand (each quirk of the scanner kept as
it is: the index holds these tokens), and a digest of the shared corpus's formula field."""

from __future__ import annotations

import hashlib

import pytest

from corpus.post import Post
from corpus.readers import read_source
from index import formula
from index.formula import body_tokens, formula_tokens, symbols

BREAK = None

CASES = [
    # unbalanced braces: a missing `}` ends the argument at the end, a stray one is dropped
    (r"\frac{a}{b", ["a", "/", "b"]),
    (r"x}+{y", ["x", "+", "y"]),
    # `\begin` without `\end`: the environment's name goes, `&` aligns, `\\` cuts
    (r"\begin{aligned} a &= b \\ c &= d", ["a", "=", "b", BREAK, "c", "=", "d"]),
    ("{" * 1000, []),
    ("\\frac" + "{" * 1000 + "x", ["x", "/"]),
    (r"\frac{\frac{a}{b}}{\frac{c}{d}}", ["a", "/", "b", "/", "c", "/", "d"]),
    # names: one symbol, case-folded, spacing inside removed; an empty one is nothing
    (r"\mathrm{Attention}(Q,K,V)", ["attention", "(", "Q", ",", "K", ",", "V", ")"]),
    (r"\text{if } x \ge 0", ["if", "x", "\\geq", "0"]),
    (r"\mathrm{ }x", ["x"]),
    # transposes: `^\top`, `^T` right after `^` (through a dropped `\label{…}`), not after `\,`
    (r"W^\top x", ["W", "^", "⊤", "x"]),
    (r"A^T + B^{\,T} + C^\label{q}T", ["A", "^", "⊤", "+", "B", "^", "T", "+", "C", "^", "⊤"]),
    # comments run to the end of the line, even the one a `}` closing an argument sits in
    ("a % comment with \\frac{b}{c}\n+ d", ["a", "+", "d"]),
    ("\\frac{a % }\n}{b}", ["a", "/", "b"]),
    # `\\` cuts lines (twice: two cuts); `\\frac` is a cut then letters
    (r"a \\ b \\\\ c", ["a", BREAK, "b", BREAK, BREAK, "c"]),
    (r"\\frac{a}{b}", [BREAK, "f", "r", "a", "c", "a", "b"]),
    # a fraction's argument without braces is one token, even a command that wants its own
    (r"\frac12 x", ["12", "/", "x"]),
    (r"\frac\text{ab}{c}d", ["/", "a", "b", "c", "d"]),
    (r"\frac12 \frac{$a$}{b}", ["12", "/", "/", "$", "a", "$", "b"]),
    # escaped characters are symbols; a lone backslash is nothing
    (r"x\%y \{z\}", ["x", "%", "y", "{", "z", "}"]),
    ("\\", []),
    (r"\sqrt[3]{x^2}", ["\\sqrt", "[", "3", "]", "x", "^", "2"]),
    (
        r"\frac{1}{2}\left(x_i - \mu\right)^2",
        ["1", "/", "2", "(", "x", "_", "i", "-", "mu", ")", "^", "2"],
    ),
]


@pytest.mark.parametrize(("latex", "expected"), CASES)
def test_tricky_latex_scans_to_these_symbols(latex, expected):
    assert symbols(latex) == expected


def test_fractions_nested_past_python_recursion_limit_scan():
    # 2,000 `\frac{` recursed past Python's limit (RecursionError); past 50, only their `/`
    assert symbols("\\frac{" * 2000) == ["/"] * 51


def test_many_arguments_ending_inside_comments_scan():
    # each `}` that ends an argument inside a comment (`%}`) cuts the text anew from there: a
    # loop, not recursion (2,000 of them passed Python's limit)
    assert symbols("\\label{x\\y%}a\n" * 2000) == ["a"] * 2000


def test_tokens_of_a_line_and_of_a_short_line():
    assert formula_tokens("x^2") == ["s:v^n", "c:x", "c:^", "c:2", "c:x^", "c:^2"]
    # a line shorter than a structure n-gram stands as its roles (`s:v`)
    assert formula_tokens(r"a \\ b+c") == [
        *["c:a", "s:v"],
        *["s:v+v", "c:b", "c:+", "c:c", "c:b+", "c:+c"],
    ]


def test_body_tokens_count_formulas_up_to_the_cap():
    body = "$x^2$ and $x^2$ and $x^2$ and $x^2$, $$y=x$$"
    x2 = ["s:v^n", "c:x", "c:^", "c:2", "c:x^", "c:^2"]
    yx = ["s:v=v", "c:y", "c:=", "c:y=", "c:=x"]  # and c:x, which x^2 holds too
    assert sorted(body_tokens(body)) == sorted(x2 * 3 + yx)


@pytest.mark.parametrize("body", ["$}{$", "$$ $$ and $x$", "$\\\\$", "$a$, and $a$, and $a$"])
def test_bodies_with_formulas_of_few_symbols(body):
    expected = {"$}{$": [], "$$ $$ and $x$": ["c:x", "s:v"], "$\\\\$": []}
    assert sorted(body_tokens(body)) == expected.get(body, ["c:a"] * 3 + ["s:v"] * 3)


def test_one_token_made_two_ways_counts_once_per_formula():
    # `c:23`: the number 23, and 2 then 3 (a 2-gram of names), in one formula
    assert body_tokens("$23 + 2 3$").count("c:23") == 1
    assert body_tokens("$23 + 2 3$ and $23$").count("c:23") == 2


def test_a_post_too_big_for_the_batch_gets_the_same_tokens(monkeypatch):
    body = "$x^2 + y$, then $\\frac{a}{b}$, and $x^2$"
    batched = sorted(body_tokens(body))
    monkeypatch.setattr(formula, "_FORMULA_BITS", 0)  # two formulas do not fit: the other way
    assert sorted(body_tokens(body)) == batched
    assert batched.count("c:x^") == 2


# sha256 of every post's formula tokens (sorted) over the shared corpus, by post id. A scanner
# that changes it changes the index: bump FORMULA_VERSION and set the new digest.
CORPUS_DIGEST = "efbfe09471b1eacb8d78a8d5a9e8fbefcbccd55d638e6c041653dd210b7d6bc4"


def corpus_digest(posts: list[Post]) -> str:
    h = hashlib.sha256()
    for post in sorted(posts, key=lambda p: p.id):
        h.update(f"{post.id}\t{' '.join(sorted(body_tokens(post.body)))}\n".encode())
    return h.hexdigest()


def test_the_shared_corpus_keeps_its_formula_tokens(shared_corpus):
    posts = [p for p in read_source(shared_corpus) if isinstance(p, Post)]
    assert corpus_digest(posts) == CORPUS_DIGEST
