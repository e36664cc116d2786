"""LaTeX as readable Unicode text, for terminals and snippets.

A small parser of its own rather than pylatexenc's `latex2text`: that one flattens groups
(`e^{i(m-n)\\theta_i}` read `e^i(m-n)θ_i`), prints `\\left.` as `.`, `\\frac{1}{d/2}` as the
ambiguous `1/d/2`, environments as one run with `&` signs, and `\\eqref` as `(<ref>)`. What
this one does instead:

- a multi-token exponent or subscript is grouped: `e^(i(m-n)θ_i)`, `x_(t+1)`; one token is not:
  `θ_i`, `x^2`, `W^⊤`;
- a fraction's numerator and denominator are bracketed unless each is one token: `1/(d/2)`;
- `\\left.` and sizing commands (`\\big`, `\\Bigl`, …) drop out, other delimiters stay;
- `aligned`, `align`, `gather`, `split`, `eqnarray` and the like give one line per row; matrices
  read `(a, b; c, d)` with their own brackets, `cases` `{a, x>0; b, otherwise}`, `array` rows
  with ` | ` between cells;
- `\\text`, `\\operatorname`, `\\mathop` give their words; `\\color`, `\\boxed`, `\\bbox` and
  `\\style` keep only what they decorate; `\\mathbb`, `\\mathcal`, `\\mathfrak` map to Unicode's
  letters (ℝ, ℛ); accents combine (x̂, x̄) on one letter;
- a command it does not know is shown as its name (`\\msign` → `msign`: the blog defines such
  macros in its MathJax settings), never with a backslash.

Symbols (`\\alpha` → α, `\\leq` → ≤, 800 of them) come from pylatexenc's table. Parsing is one
linear pass with a bounded depth: post text is untrusted, and a formula past the bounds is left
as written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache

MAX_FORMULA = 20_000  # characters; the archive's longest formula has ~4k
MAX_DEPTH = 40  # nested groups; the archive nests fewer than 10

_TOKEN = re.compile(r"\\(?:[a-zA-Z]+\*?|.)|\s+|.", re.S)


class _Unreadable(Exception):
    """The formula is past a bound or not well formed: show it as written."""


@lru_cache(maxsize=1)
def _symbols() -> dict[str, str]:
    from pylatexenc.latex2text import get_default_latex_context_db

    db = get_default_latex_context_db()
    table: dict[str, str] = {}
    for category in db.categories():
        for name, spec in db.d[category]["macros"].items():
            repl = spec.simplify_repl
            if isinstance(repl, str) and "%" not in repl and "\\" not in repl:
                table.setdefault(name, repl)
    table.update(_OWN_SYMBOLS)
    return table


_OWN_SYMBOLS = {
    "top": "⊤", "|": "‖", "Vert": "‖", "lVert": "‖", "rVert": "‖", "vert": "|", "lvert": "|",
    "rvert": "|", "langle": "⟨", "rangle": "⟩", "lceil": "⌈", "rceil": "⌉", "lfloor": "⌊",
    "rfloor": "⌋", "{": "{", "}": "}", "%": "%", "$": "$", "_": "_", "#": "#", "&": "&",
    ",": " ", ";": " ", ":": " ", ">": " ", "!": "", " ": " ", "quad": " ", "qquad": " ",
    "enspace": " ", "thinspace": " ", "medspace": " ", "thickspace": " ", "negthinspace": "",
    "cdot": "·", "cdots": "⋯", "ldots": "…", "dots": "…", "vdots": "⋮", "ddots": "⋱",
    "mathbb": "", "varnothing": "∅", "emptyset": "∅", "lt": "<", "gt": ">", "le": "≤",
    "ge": "≥", "ne": "≠", "neq": "≠", "to": "→", "gets": "←", "mapsto": "↦", "iff": "⟺",
    "implies": "⟹", "triangleq": "≜", "coloneqq": "≔", "propto": "∝", "odot": "⊙",
    "oplus": "⊕", "otimes": "⊗", "circ": "∘", "star": "⋆", "ast": "∗", "prime": "′",
    "dagger": "†", "ell": "ℓ", "hbar": "ℏ", "infty": "∞", "nabla": "∇", "partial": "∂",
    "-": "", "/": "", "relax": "", "displaystyle": "", "textstyle": "", "scriptstyle": "",
    "limits": "", "nolimits": "", "nonumber": "", "notag": "", "hline": "", "cline": "",
    "small": "", "scriptsize": "", "footnotesize": "", "large": "", "Large": "", "tiny": "",
    "normalsize": "", "boldsymbol": "", "left": "", "right": "", "middle": "",
}  # fmt: skip
_SIZES = {
    "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl",
    "Biggr", "bigm", "Bigm", "biggm", "Biggm",
}  # fmt: skip
# Commands whose one braced argument is shown as it is (fonts, words, decorations).
_KEEP_ARG = {
    "text", "textrm", "textit", "textbf", "textsf", "texttt", "mathrm", "mathit", "mathbf",
    "mathsf", "mathtt", "boldsymbol", "bm", "pmb", "mathop", "operatorname", "operatorname*",
    "mbox", "hbox", "boxed", "mathord", "mathbin", "mathrel", "mathopen", "mathclose",
    "mathpunct", "mathinner", "displaystyle", "emph", "textnormal", "smash", "mathstrut",
    "phantom", "hphantom", "vphantom", "underline", "text*", "fbox", "ensuremath",
}  # fmt: skip
_WORD_ARG = {"text", "textrm", "textit", "textbf", "textsf", "texttt", "mbox", "hbox", "emph",
             "textnormal", "fbox", "text*"}  # fmt: skip
_DROP_ARG = {
    "label", "color", "pagecolor", "require", "setCounter", "hspace", "vspace", "hspace*",
    "kern", "mkern", "mskip", "hskip", "uproot", "leftroot", "unicode",
}  # fmt: skip
_DROP_TWO = {"textcolor", "colorbox"}  # the first argument goes, the second stays
_ACCENTS = {
    "hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0305",
    "tilde": "\u0303", "widetilde": "\u0303", "dot": "\u0307", "ddot": "\u0308",
    "vec": "\u20d7", "overrightarrow": "\u20d7", "check": "\u030c", "breve": "\u0306",
    "acute": "\u0301", "grave": "\u0300", "mathring": "\u030a", "underline": "\u0332",
}  # fmt: skip
_FRACTIONS = {"frac", "dfrac", "tfrac", "cfrac"}
_BINOMS = {"binom", "dbinom", "tbinom"}
_ROW_ENVS = {
    "aligned", "align", "align*", "alignat", "alignat*", "alignedat", "gather", "gather*",
    "gathered", "split", "eqnarray", "eqnarray*", "multline", "multline*", "flalign",
    "flalign*", "equation", "equation*", "displaymath", "math", "subequations",
}  # fmt: skip
_MATRICES = {
    "matrix": ("", ""), "smallmatrix": ("", ""), "pmatrix": ("(", ")"),
    "bmatrix": ("[", "]"), "Bmatrix": ("{", "}"), "vmatrix": ("|", "|"),
    "Vmatrix": ("‖", "‖"), "cases": ("{", ""), "dcases": ("{", ""), "rcases": ("", "}"),
}  # fmt: skip
_TABLES = {"array", "tabular", "CD"}


def _letters(first: int, holes: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"):
        out[c] = holes.get(c, chr(first + i))
    return out


_ALPHABETS: dict[str, dict[str, str]] = {
    "mathbb": _letters(0x1D538, dict(zip("CHNPQRZ", "ℂℍℕℙℚℝℤ", strict=True)))
    | {str(d): chr(0x1D7D8 + d) for d in range(10)},
    "mathcal": _letters(0x1D49C, dict(zip("BEFHILMRego", "ℬℰℱℋℐℒℳℛℯℊℴ", strict=True))),
    "mathfrak": _letters(0x1D504, dict(zip("CHIRZ", "ℭℌℑℜℨ", strict=True))),
}
_ALPHABETS["mathscr"] = _ALPHABETS["mathcal"]
_ALPHABETS["Bbb"] = _ALPHABETS["mathbb"]
_ATOM = re.compile(r"[\w.′'∞∂∇·*⊤†]+|.", re.S)


def _is_atom(text: str) -> bool:
    """One token as a reader sees it: `x`, `10`, `θ`, `x̂`, `ℛ`; not `i(m-n)` nor `-1`."""
    text = text.strip()
    if not text:
        return True
    if text[0] in "([{⟨|‖" and _closes(text):
        return True
    if any(c.isspace() for c in text):
        return False
    stripped = "".join(c for c in text if not ("\u0300" <= c <= "\u036f" or c == "\u20d7"))
    return bool(re.fullmatch(r"[^\W_]+|[^\w\s]", stripped))


def _closes(text: str) -> bool:
    """Whether the bracket that opens `text` is the one that closes it: `(a+b)`, not `(a)(b)`."""
    pairs = {"(": ")", "[": "]", "{": "}", "⟨": "⟩", "|": "|", "‖": "‖"}
    want = pairs[text[0]]
    if text[-1] != want:
        return False
    depth = 0
    for i, c in enumerate(text):
        if c == text[0] and (c != want or depth == 0):
            depth += 1
        elif c == want:
            depth -= 1
            if depth == 0 and i != len(text) - 1:
                return False
    return True


def _wrap(text: str) -> str:
    text = text.strip()
    return text if _is_atom(text) else f"({text})"


class _Parser:
    """One formula's tokens, read left to right; `read_*` return text."""

    def __init__(self, latex: str, refs: Callable[[str, bool], str]) -> None:
        self.tokens = _TOKEN.findall(latex)
        self.i = 0
        self.depth = 0
        self.refs = refs
        self.after_word = False  # the last piece was a word command's (`\\sin`, `\\msign`)
        self.symbols = _symbols()

    # -- tokens ---------------------------------------------------------------------------
    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.i += tok is not None
        return tok

    def skip_space(self) -> None:
        while (tok := self.peek()) is not None and tok.isspace():
            self.i += 1

    def raw_group(self) -> str:
        """A braced argument as its source text (colour names, labels): `{red}` → `red`."""
        self.skip_space()
        if self.peek() != "{":
            tok = self.take()
            return tok or ""
        self.take()
        depth, out = 1, []
        while (tok := self.take()) is not None:
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    return "".join(out)
            out.append(tok)
        raise _Unreadable("unclosed group")

    def optional(self) -> str | None:
        """A bracketed optional argument's source (`\\sqrt[3]`), if there is one."""
        self.skip_space()
        if self.peek() != "[":
            return None
        self.take()
        out = []
        while (tok := self.take()) is not None and tok != "]":
            out.append(tok)
        return "".join(out)

    # -- reading --------------------------------------------------------------------------
    def argument(self) -> str:
        """One argument: a braced group or a single token (`\\frac12`, `x^2`, `x_\\theta`)."""
        self.skip_space()
        tok = self.peek()
        if tok is None:
            return ""
        if tok == "{":
            self.take()
            return self.until("}")
        if tok.startswith("\\") and len(tok) > 1:
            self.take()
            return self.command(tok[1:])
        self.take()
        return "" if tok == "}" else tok

    def until(self, closer: str | None, stop: frozenset[str] = frozenset()) -> str:
        """Text up to `closer` (consumed) or a token in `stop` (left), or the end."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Unreadable("nested too deep")
        out: list[str] = []
        while (tok := self.peek()) is not None:
            if tok == closer:
                self.take()
                break
            if tok in stop:
                break
            self.take()
            self.append(out, self.token(tok, out), tok)
        else:
            if closer is not None:
                raise _Unreadable("unclosed group")
        self.depth -= 1
        return "".join(out)

    def append(self, out: list[str], piece: str, tok: str) -> None:
        """Add `piece`, with a space after a word command where TeX's spacing would show one:
        `\\cos\\theta` reads `cos θ`, not `cosθ`."""
        if self.after_word and piece[:1].isalnum():
            out.append(" ")
        out.append(piece)
        self.after_word = (
            tok.startswith("\\") and len(piece) > 1 and piece.isascii() and piece.isalpha()
        ) or (self.after_word and not piece)

    def token(self, tok: str, before: list[str]) -> str:
        if tok == "{":
            return self.until("}")
        if tok == "}":
            raise _Unreadable("unbalanced braces")
        if tok in ("^", "_"):
            arg = _TIGHT.sub(r"\1", self.argument())
            return tok + _wrap(arg) if arg.strip() else ""
        if tok.isspace():
            return " "
        if tok == "~":
            return " "
        if tok == "'":
            return "′"
        if tok == "&":
            return ""
        if tok.startswith("\\") and len(tok) > 1:
            return self.command(tok[1:])
        return tok

    def command(self, name: str) -> str:
        if name in _SIZES:
            return ""
        if name in ("left", "right", "middle"):
            self.skip_space()
            delim = self.take() or ""
            if delim == ".":
                return ""
            return self.command(delim[1:]) if delim.startswith("\\") else delim
        if name in _FRACTIONS:
            num, den = self.argument(), self.argument()
            return f"{_wrap(num)}/{_wrap(den)}"
        if name in _BINOMS:
            n, k = self.argument(), self.argument()
            return f"C({n.strip()}, {k.strip()})"
        if name == "sqrt":
            index = self.optional()
            arg = self.argument()
            root = {"3": "∛", "4": "∜"}.get((index or "").strip(), "√")
            if index and root == "√":
                inner = _Parser(index, self.refs).until(None)
                return f"{_wrap(arg)}^(1/{_wrap(inner)})"
            return root + _wrap(arg)
        if name in _ALPHABETS:
            arg = self.argument()
            return "".join(_ALPHABETS[name].get(c, c) for c in arg)
        if name in _ACCENTS:
            arg = self.argument().strip()
            if len(arg) == 1:
                return arg + _ACCENTS[name]
            return f"{name}({arg})" if name not in ("underline",) else arg
        if name in ("underbrace", "overbrace", "underset", "overset", "stackrel"):
            if name in ("underset", "overset", "stackrel"):
                over = self.argument()
                base = self.argument()
                return f"{base}{'_' if name == 'underset' else '^'}{_wrap(over)}"
            return _wrap(self.argument())
        if name in ("xrightarrow", "xleftarrow"):
            self.optional()
            label = self.argument()
            arrow = "→" if name == "xrightarrow" else "←"
            return f"{arrow}({label.strip()})" if label.strip() else arrow
        if name in _WORD_ARG:
            return self.raw_text(self.raw_group())
        if name in _KEEP_ARG:
            return self.argument()
        if name in _DROP_ARG:
            self.raw_group()
            return ""
        if name in _DROP_TWO:
            self.raw_group()
            return self.argument()
        if name in ("bbox", "style", "class", "cssId", "href"):
            if name == "bbox":
                self.optional()
            else:
                self.raw_group()
            return self.argument()
        if name in ("eqref", "ref"):
            return self.refs(self.raw_group().strip(), name == "eqref")
        if name in ("tag", "tag*"):
            label = self.raw_group()
            return f"  ({self.raw_text(label)})" if name == "tag" else f"  {label}"
        if name == "not":
            nxt = self.argument()
            negated = {"=": "≠", "∈": "∉", "<": "≮", ">": "≯", "≤": "≰", "≥": "≱", "∼": "≁"}
            return negated.get(nxt, nxt + "\u0338")
        if name in ("newcommand", "renewcommand", "def", "DeclareMathOperator"):
            self.raw_group()
            self.optional()
            self.raw_group()
            return ""
        if name == "begin":
            return self.environment(self.raw_group().strip())
        if name == "end":
            raise _Unreadable("\\end without \\begin")
        if name == "\\":
            self.optional()
            return "\n"
        if name in ("over", "atop", "choose"):
            return "/"
        if name in ("cr", "newline"):
            return "\n"
        symbol = self.symbols.get(name)
        if symbol is not None:
            return symbol
        if len(name) == 1 and not name.isalpha():
            return name
        return name.rstrip("*")  # a macro of the blog's own (\msign, \tr): its name

    def raw_text(self, source: str) -> str:
        """A `\\text{…}` argument: words as written, with the few escapes text mode has and any
        math inside rendered."""
        out = re.sub(r"\$([^$]*)\$", lambda m: _Parser(m[1], self.refs).until(None), source)
        out = re.sub(r"\\([{}%$&_#])", r"\1", out)
        out = re.sub(r"\\([a-zA-Z]+) ?", lambda m: self.symbols.get(m[1], m[1]), out)
        return out.replace("{", "").replace("}", "")

    def environment(self, env: str) -> str:
        if env in ("array", "tabular", "alignat", "alignat*", "alignedat"):
            self.raw_group()  # the column spec, or alignat's count
        rows: list[list[str]] = []
        row: list[str] = []
        cell: list[str] = []
        while True:
            tok = self.peek()
            if tok is None:
                raise _Unreadable(f"unclosed {env}")
            if tok == "\\end":
                self.take()
                if self.raw_group().strip() != env:
                    raise _Unreadable("mismatched \\end")
                break
            self.take()
            if tok == "&":
                row.append("".join(cell))
                cell = []
            elif tok in ("\\\\", "\\cr"):
                self.optional()
                row.append("".join(cell))
                rows.append(row)
                row, cell = [], []
            else:
                self.append(cell, self.token(tok, cell), tok)
        row.append("".join(cell))
        rows.append(row)
        rows = [[_squash(c) for c in r] for r in rows]
        rows = [r for r in rows if any(r)]
        if env in _MATRICES:
            opening, closing = _MATRICES[env]
            joint = " " if env.endswith("cases") else ", "  # a case's cells: value, condition
            cells = "; ".join(joint.join(c for c in r if c) for r in rows)
            return f"{opening}{cells}{closing}"
        if env in _TABLES:
            return "\n".join(" | ".join(r) for r in rows)
        # aligned and its kin: `&` is an alignment point, not a separator
        lines = [" ".join(c for c in r if c) for r in rows]
        return "\n".join(_squash(line) for line in lines)


# Spaces around a symbol in a script: `_{x \\sim p(x)}` reads `_(x∼p(x))`; words keep theirs.
_TIGHT = re.compile(r"\s*([^\w\s])\s*")
_AFTER_OPENING = re.compile(r"([(\[⟨]) +")
_BEFORE_CLOSING = re.compile(r" +([)\]⟩])")


def _squash(text: str) -> str:
    """Runs of spaces to one, none inside brackets' edges, lines stripped, empty lines out."""
    lines = (
        _BEFORE_CLOSING.sub(r"\1", _AFTER_OPENING.sub(r"\1", re.sub(r"[ \t]+", " ", line))).strip()
        for line in text.split("\n")
    )
    return "\n".join(line for line in lines if line)


def _no_refs(label: str, eq: bool) -> str:
    return "(?)" if eq else "?"


def tex_to_text(latex: str, refs: Callable[[str, bool], str] = _no_refs) -> str | None:
    """The inside of a formula (no `$`) as readable Unicode text, rows on lines of their own;
    None when it is not well formed or past the bounds (show the source then).

    `refs(label, is_eqref)` says what `\\eqref{label}` reads (an equation number)."""
    if len(latex) > MAX_FORMULA:
        return None
    try:
        text = _Parser(latex, refs).until(None)
    except (_Unreadable, RecursionError):
        return None
    return unicodedata.normalize("NFC", _squash(text)) or None  # ŷ as one character
