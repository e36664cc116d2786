"""Markdown for terminals: LaTeX as readable Unicode text.

Each formula is rendered as Unicode text by search.mathtext (`\\theta_i = 10000^{-2i/d}` reads
`θ_i = 10000^(-2i/d)`, an aligned block one line per row); one it cannot read stays as written.
Display formulas are numbered as kexue.fm's MathJax numbers them, so `\\eqref` reads `(3)`
here as on the page. Terminal markdown renderers (rich, Textual) would read `_` and `*` inside
formulas as emphasis, so inline formulas go in code spans and display formulas in fenced
blocks (tagged `latex`, so front ends can style them), which also keeps them on lines of their
own. Code blocks are left alone.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from functools import lru_cache

from corpus.latex import DISPLAY_MATH, INLINE_MATH
from search.mathtext import tex_to_text

__all__ = [
    "DISPLAY_MATH",
    "INLINE_MATH",
    "display_number",
    "display_spans",
    "equation_labels",
    "formula_spans",
    "latex_to_text",
    "terminal_markdown",
]

_FENCE_LINE = re.compile(r"(?m)^(```|~~~)[^\n]*$")

# A body past this is shown as written, not rendered (in the terminal and on the page):
# rendering is linear but slow (markdown-it ~3 s, formulas more, for the megabyte a post may
# hold), and the archive's longest post has 34k characters.
LONG_POST_CHARS = 200_000


def _fences(body: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block, in one pass over its fence lines (a lazy
    regex with a back-reference went quadratic on thousands of unclosed ``` lines)."""
    spans = []
    opened: tuple[int, str] | None = None
    for m in _FENCE_LINE.finditer(body):
        if opened is None:
            opened = (m.start(), m.group(1))
        elif m.group(1) == opened[1] and not m.group().rstrip(" \t")[3:]:
            spans.append((opened[0], m.end()))
            opened = None
    return spans


# -- equation numbers, as MathJax numbers them on kexue.fm (its `tags: "ams"` setting) --------
LABEL = re.compile(r"\\label\{([^{}]*)\}")
TAG = re.compile(r"\\tag\*?\{([^{}]*)\}")
NO_NUMBER = re.compile(r"\\(?:nonumber|notag)\b")
_ENV = re.compile(r"\s*\\begin\{([a-zA-Z*]+)\}")
# Environments numbered once each.
NUMBERED = {"equation", "align", "gather", "multline", "eqnarray", "alignat", "flalign"}


def display_number(latex: str, counter: int) -> tuple[str | None, int]:
    """A display formula's number (its `\\tag`, else the next count if its environment is
    numbered) and the counter after it."""
    tag = TAG.search(latex)
    if tag:
        return tag.group(1), counter
    env = _ENV.match(latex)
    if env and env.group(1) in NUMBERED and not NO_NUMBER.search(latex):
        return str(counter + 1), counter + 1
    return None, counter


def _display_latex(source: str) -> str:
    """A display formula's LaTeX: the inside of `$$…$$`, or a whole `\\begin{env}…` block."""
    return source[2:-2] if source.startswith("$$") else source


@lru_cache(maxsize=256)
def equation_labels(body: str) -> Mapping[str, str]:
    """`\\label` → equation number over a post body, for `\\eqref`."""
    labels: dict[str, str] = {}
    counter = 0
    for start, end in display_spans(body):
        latex = _display_latex(body[start:end])
        number, counter = display_number(latex, counter)
        if number is not None:
            for label in LABEL.findall(latex):
                labels[label] = number
    return labels


def _refs(labels: Mapping[str, str]):
    def ref(label: str, eq: bool) -> str:
        number = labels.get(label, "?")
        return f"({number})" if eq else number

    return ref


# -- where the formulas are ---------------------------------------------------------------
# What is one formula (or code block) in a text: display math, inline math, fenced code
# (snippets leave it out like a long formula; the page's renderer cuts display math).
_OPENER = re.compile(r"\\\$|\$\$|\$|\\begin\{([a-zA-Z*]+)\}|```")
_CLOSER = re.compile(r"\\\$|\$\$|\$|\\(?:begin|end)\{([a-zA-Z*]+)\}|```")
MAX_INLINE = 600  # an inline formula longer than this is a stray `$` (a price, a shell line)


def display_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each display formula (`$$…$$`, `\\begin{env}…\\end{env}`, nested ones
    of the same kind inside it), as formula_spans finds them; the page's renderer cuts these."""
    return formula_spans(text, inline=False)


def formula_spans(text: str, *, inline: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each formula and code block of the readable `text`, outermost only.

    Not corpus.latex.math_spans: that one finds display blocks first, so an inline formula
    holding a `\\begin{pmatrix}` came out as three pieces, two of them raw LaTeX in prose, and
    it pairs a nested `\\begin{array}` with the first `\\end{array}`. Each closer is found by
    bisection in the closers' positions, collected in one pass: linear in the text whatever
    it holds (openers without closers included)."""
    singles: list[int] = []
    doubles: list[int] = []
    fences: list[int] = []
    begins: dict[str, list[int]] = {}
    ends: dict[str, list[int]] = {}
    for m in _CLOSER.finditer(text):
        tok = m.group()
        if tok == "$":
            singles.append(m.start())
        elif tok == "$$":
            doubles.append(m.start())
        elif tok == "```":
            fences.append(m.start())
        elif m[1] is not None:
            (begins if tok.startswith("\\b") else ends).setdefault(m[1], []).append(m.start())
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _OPENER.search(text, pos)) is not None:
        tok, at = m.group(), m.start()
        end = None
        if not inline and tok in ("$", "```", "\\$"):
            pos = m.end()
            continue
        if tok in ("$$", "```", "$"):
            closers = {"$$": doubles, "```": fences, "$": singles}[tok]
            i = bisect.bisect_right(closers, at)
            if i < len(closers) and (tok != "$" or closers[i] - at <= MAX_INLINE):
                end = closers[i] + len(tok)
        elif m[1] is not None:
            end = _environment_end(m[1], at, begins, ends)
        if end is None or end - at <= len(tok) + (tok == "$"):
            pos = m.end()
            continue
        spans.append((at, end))
        pos = end
    return spans


def _environment_end(
    env: str, at: int, begins: dict[str, list[int]], ends: dict[str, list[int]]
) -> int | None:
    """Where the environment opened at `at` ends, nested ones of its kind skipped."""
    closers = ends.get(env, [])
    openers = begins.get(env, [])
    first = bisect.bisect_right(closers, at)
    i = first
    for _ in range(64):  # nesting depth
        if i >= len(closers):
            return None
        e = closers[i]
        opened = bisect.bisect_left(openers, e) - bisect.bisect_right(openers, at)
        if i - first + 1 > opened:
            return e + len(f"\\end{{{env}}}")
        i += 1
    return None


# -- LaTeX as Unicode text ------------------------------------------------------------------
_DELIMS = re.compile(
    r"^(?:\$\$(?P<dd>.*)\$\$|\$(?P<d>.*)\$|\\\[(?P<b>.*)\\\]|\\\((?P<p>.*)\\\)"
    r"|(?P<env>\\begin\{(?P<name>[a-zA-Z*]+)\}.*\\end\{(?P=name)\}))$",
    re.S,
)
_UNWRAP = re.compile(r"\\begin\{(equation\*?|displaymath|math)\}(.*)\\end\{\1\}", re.S)


@lru_cache(maxsize=8192)
def _latex_to_text(formula: str, labels: tuple[tuple[str, str], ...]) -> str | None:
    m = _DELIMS.match(formula.strip())
    if m is None:
        return None
    inner = next(g for g in (m["dd"], m["d"], m["b"], m["p"], m["env"]) if g is not None)
    whole = _UNWRAP.fullmatch(inner.strip())
    if whole:
        inner = whole.group(2)
    return tex_to_text(inner, _refs(dict(labels)))


def latex_to_text(formula: str, labels: Mapping[str, str] | None = None) -> str | None:
    """A formula with its delimiters (`$…$`, `$$…$$`, `\\begin{equation}…`) as readable
    Unicode (`\\theta_i = 10000^{-2i/d}` → `θ_i = 10000^(-2i/d)`; an aligned block gives a line
    per row); None where it cannot say it (the source is then shown as written). `labels`
    (equation_labels) turn `\\eqref` into numbers."""
    used = ()
    if labels and ("ref" in formula):
        used = tuple(sorted((k, v) for k, v in labels.items() if k in formula))
    return _latex_to_text(formula, used)


# -- terminal markdown ----------------------------------------------------------------------
def terminal_markdown(body: str) -> str:
    """The post body with math as readable text, protected from markdown emphasis; display
    formulas numbered; code blocks left alone."""
    labels = equation_labels(body)
    out = []
    pos = 0
    counter = [0]
    for start, end in _fences(body):
        out.append(_protect(body[pos:start], labels, counter))
        out.append(body[start:end])
        pos = end
    out.append(_protect(body[pos:], labels, counter))
    return "".join(out)


def _inline(m: re.Match[str], labels: Mapping[str, str]) -> str:
    inner = latex_to_text(m.group(0), labels) or m.group(0)
    inner = " ".join(inner.split())
    ticks = "``" if "`" in inner else "`"
    return f"{ticks}{inner}{ticks}"


def _display(source: str, labels: Mapping[str, str], counter: list[int]) -> str:
    latex = _display_latex(source)
    number, counter[0] = display_number(latex, counter[0])
    body = latex_to_text(source, labels)
    if body is None:
        body = latex.strip()
        body = re.sub(r" {2}\n", "\n", body)
        if source.startswith("$$"):
            body = f"$${body}$$"
    elif number is not None and not TAG.search(latex):
        body = f"{body}  ({number})"
    body = body.replace("```", "`\u200b``")  # a fence inside would close the block
    return f"\n\n```latex\n{body}\n```\n\n"


def _protect(text: str, labels: Mapping[str, str], counter: list[int]) -> str:
    pieces = []
    pos = 0
    # display_spans, not DISPLAY_MATH: linear on openers without closers, and nested tables
    # stay whole.
    for start, end in display_spans(text):
        pieces.append(INLINE_MATH.sub(lambda i: _inline(i, labels), text[pos:start]))
        pieces.append(_display(text[start:end], labels, counter))
        pos = end
    pieces.append(INLINE_MATH.sub(lambda i: _inline(i, labels), text[pos:]))
    return "".join(pieces)
