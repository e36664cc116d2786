"""Markdown for terminals: LaTeX as readable Unicode text.

Each formula is rendered as Unicode by pylatexenc (`\\theta_i = 10000^{-2i/d}` reads
`θ_i = 10000^(-2i/d)`); one it cannot render stays as written. Terminal markdown renderers
(rich, Textual) would read `_` and `*` inside formulas as emphasis, so inline formulas go in
code spans and display formulas in fenced blocks (tagged `latex`, so front ends can style
them), which also keeps them on lines of their own. Code blocks are left alone.
"""

from __future__ import annotations

import re
from functools import lru_cache

from corpus.latex import DISPLAY_MATH, INLINE_MATH

_FENCE = re.compile(r"(?ms)^(```|~~~).*?^\1[ \t]*$")


def _display(m: re.Match[str]) -> str:
    body = latex_to_text(m.group(0))
    if body is None:
        body = (m["dollars"] if m["dollars"] is not None else m["block"]).strip()
        body = re.sub(r" {2}\n", "\n", body)
        if m["dollars"] is not None:
            body = f"$${body}$$"
    return f"\n\n```latex\n{body}\n```\n\n"


def _inline(m: re.Match[str]) -> str:
    inner = latex_to_text(m.group(0)) or m.group(0)
    ticks = "``" if "`" in inner else "`"
    return f"{ticks}{inner}{ticks}"


def terminal_markdown(body: str) -> str:
    """The post body with math protected from markdown emphasis; code blocks are left alone."""
    out = []
    pos = 0
    for fence in _FENCE.finditer(body):
        out.append(_protect(body[pos : fence.start()]))
        out.append(fence.group(0))
        pos = fence.end()
    out.append(_protect(body[pos:]))
    return "".join(out)


def _protect(text: str) -> str:
    pieces = []
    pos = 0
    for m in DISPLAY_MATH.finditer(text):
        pieces.append(INLINE_MATH.sub(_inline, text[pos : m.start()]))
        pieces.append(_display(m))
        pos = m.end()
    pieces.append(INLINE_MATH.sub(_inline, text[pos:]))
    return "".join(pieces)


# -- LaTeX as Unicode text ----------------------------------------------------------------
_GROUP = re.compile(r"([_^])\{([^{}]{2,})\}")  # x^{-2i/d}: keep the group as (…), not a run
_DELIMS = re.compile(
    r"^(?:\$\$(?P<dd>.*)\$\$|\$(?P<d>.*)\$|\\begin\{(?P<env>[a-zA-Z*]+)\}(?P<body>.*)\\end\{(?P=env)\})$",
    re.S,
)


@lru_cache(maxsize=1)
def _latex2text():  # -> pylatexenc.latex2text.LatexNodes2Text
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

    db = get_default_latex_context_db().filter_context(keep_categories=None)
    db.add_context_category(
        "kexue", prepend=True, macros=[MacroTextSpec("|", "‖"), MacroTextSpec("top", "⊤")]
    )
    return LatexNodes2Text(latex_context=db, math_mode="text")


def _balanced(latex: str) -> bool:
    depth = 0
    for m in re.finditer(r"\\.|[{}]", latex):
        if m.group() == "{":
            depth += 1
        elif m.group() == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


@lru_cache(maxsize=8192)
def latex_to_text(formula: str) -> str | None:
    """A formula with its delimiters (`$…$`, `$$…$$`, `\\begin{equation}…`) as readable
    Unicode (`\\theta_i = 10000^{-2i/d}` → `θ_i = 10000^(-2i/d)`), by pylatexenc; None where it
    cannot say it (the source is then shown as written)."""
    m = _DELIMS.match(formula.strip())
    if m is None:
        return None
    inner = next(g for g in (m["dd"], m["d"], m["body"]) if g is not None)
    if not _balanced(inner):  # pylatexenc would guess; a guess is worse than the source
        return None
    try:
        text = _latex2text().latex_to_text(_GROUP.sub(r"\1(\2)", inner))
    except Exception:  # pylatexenc raises its own parse errors on odd input; keep the source
        return None
    text = " ".join(text.split())
    return text or None
