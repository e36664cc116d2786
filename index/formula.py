"""Formulas as structural tokens: what the `formula` field of the BM25 index holds.

jieba sees LaTeX as a bag of command names, so a formula copied from a post did not reliably
find it and renaming one variable lost most of them. Here each formula of a post (the
delimiters `corpus.latex` knows) is scanned into a flat symbol layout, normalised, and cut into
tokens that survive the ways one formula is written differently:

- presentation is dropped: `\\left`/`\\right` and sizes, spacing, `\\displaystyle`, `\\color`,
  labels and tags, styles (`\\boldsymbol`, `\\mathbf`, `\\mathcal`, `\\bm`, accents) keep only
  their argument, and braces are grouping only, so `\\frac{a}{b}` ≡ `{a}/{b}` ≡ `a/b`;
- `\\cdot` ≡ juxtaposition, `^\\top` ≡ `^T` ≡ `^\\intercal`, `\\le` ≡ `\\leq`, `\\varepsilon` ≡
  `\\epsilon`, `\\to` ≡ `\\rightarrow`…; `\\mathrm{softmax}`, `\\text{sign}`, `\\operatorname{sg}`
  are one name each (a function, kept as written);
- each symbol has a role: a variable (a letter, Latin or Greek) becomes `v`, a number `n`,
  while operators, relations and named functions stay as they are.

Tokens: the n-grams of the roles (`s:`, the structure: `v^n`, `\\log(v`, `v_v+`) and, weaker, the
n-grams of the symbols as written (`c:`, the names: `x^2`, `\\beta_1`), bounded to one line of a
display (`\\\\` cuts; `&` only aligns). A renamed variable keeps every structure token; a
formula from memory keeps most of them.

The scanner is a regular expression over LaTeX's own lexical rules rather than a full parser:
over the shared corpus's 23,379 formulas (1.4 M characters) pylatexenc 2.11's node tree took
18.3 s and latex2mathml 3.81's tokenizer alone 3.6 s, against the 5 s budget of the whole
lexical index (formula side: ≤ 20 % of it); this module takes ~1 s (bench/bench_formula.py).
It never raises: unbalanced braces, `\\begin` without `\\end` or 1,000 `{` are just symbols.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator, Sequence

from corpus.latex import math_spans

# Bump when the tokens for the same formula change (part of the lexical index's version).
FORMULA_VERSION = "f4"

STRUCTURE = "s:"  # the roles' n-grams
NAMES = "c:"  # the symbols' n-grams as written
# n-gram lengths, chosen with bench/tune_formula.py (figures in search/config.py FormulaConfig).
STRUCTURE_NS = (3, 4)
NAME_NS = (1, 2)
# How many times a post's formula field holds one token at most: the archive's formula tokens
# are 3.5x fewer so (with 2-4-grams of roles: 1.37 M -> 391 k), and Tantivy indexes them in a
# third of the time.
TF_CAP = 3

_SCAN = re.compile(
    r"\\([A-Za-z]+)\*?"  # 1: a command
    r"|\\(.)"  # 2: an escaped character or a control symbol (\, \{ \\)
    r"|([A-Za-z])"  # 3: a letter
    r"|(\d+(?:\.\d+)?)"  # 4: a number
    r"|(%[^\n]*)"  # 5: a comment
    r"|(\s+)"  # 6: space
    r"|([^\sA-Za-z\d\\])",  # 7: any other character
    re.S,
)

# Presentation only: dropped with no argument.
_DROP = frozenset(
    """left right middle big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr bigm Bigm
    displaystyle textstyle scriptstyle scriptscriptstyle limits nolimits quad qquad
    cdot cdotp centerdot nonumber notag hfill hspace vspace phantom hphantom vphantom
    mathstrut strut allowbreak nobreak kern mkern mskip enspace thinspace negthinspace
    space medspace thickspace boldmath unboldmath tiny small large Large huge
    begin end""".split()
)
# Commands whose first argument is dropped with them (the argument is a name, not math).
_DROP_ARG = frozenset("label tag ref eqref color hspace vspace kern mkern mskip begin end".split())
# Two-argument commands whose first argument is presentation (`\textcolor{red}{x}`).
_DROP_FIRST = frozenset("textcolor colorbox".split())
# Styles and accents: their argument stays, the command goes.
_UNWRAP = frozenset(
    """boldsymbol bm mathbf mathit mathcal mathbb mathscr mathfrak mathsf mathtt pmb
    vec hat widehat bar overline tilde widetilde dot ddot check breve acute grave mathring
    underline overrightarrow underbrace overbrace boxed cancel bf it cal rm""".split()
)
# Names written in upright text: the whole argument is one symbol.
_NAMED = frozenset("mathrm text textrm textit textbf textsf texttt operatorname mathop".split())
_FRACTIONS = frozenset("frac dfrac tfrac cfrac".split())
_SYNONYMS = {
    "le": "leq",
    "leqslant": "leq",
    "ge": "geq",
    "geqslant": "geq",
    "ne": "neq",
    "to": "rightarrow",
    "gets": "leftarrow",
    "lvert": "|",
    "rvert": "|",
    "vert": "|",
    "mid": "|",
    "lVert": "||",
    "rVert": "||",
    "Vert": "||",
    "|": "||",
    "varepsilon": "epsilon",
    "varphi": "phi",
    "vartheta": "theta",
    "varrho": "rho",
    "varsigma": "sigma",
    "varpi": "pi",
    "lbrace": "{",
    "rbrace": "}",
    "langle": "<",
    "rangle": ">",
    "lbrack": "[",
    "rbrack": "]",
    "top": "⊤",
    "intercal": "⊤",
    "times": "×",
    "ast": "*",
    "dfrac": "frac",
    "dots": "…",
    "cdots": "…",
    "ldots": "…",
    "vdots": "…",
    "ddots": "…",
    "exp": "exp",
    "dagger": "⊤",  # a transpose, however marked (conjugate transposes share the role)
}
_GREEK = frozenset(
    """alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho
    sigma tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi
    Omega ell imath jmath""".split()
)
_SPACES = frozenset(", ; : ! >".split()) | {" "}
VAR, NUM = "v", "n"


def _strip_delimiters(text: str) -> str:
    if text.startswith("$$") and text.endswith("$$") and len(text) >= 4:
        return text[2:-2]
    if text.startswith("$") and text.endswith("$") and len(text) >= 2:
        return text[1:-1]
    if text.startswith(("\\[", "\\(")) and text.endswith(("\\]", "\\)")):
        return text[2:-2]
    return text


def _skip_group(text: str, pos: int) -> int:
    """Past the `{…}` argument (or single token) that starts at or after `pos`: a missing
    closing brace ends the argument at the end of the text."""
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    if pos >= n:
        return n
    if text[pos] != "{":
        m = _SCAN.match(text, pos)
        return m.end() if m else pos + 1
    depth = 0
    for i in range(pos, n):
        c = text[i]
        if c == "\\":
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return i + 1
    return n


def _group_text(text: str, pos: int) -> tuple[str, int]:
    """The text of the argument at `pos` (without its braces) and where it ends."""
    end = _skip_group(text, pos)
    inner = text[pos:end].strip()
    if inner.startswith("{"):
        inner = inner[1:-1] if inner.endswith("}") else inner[1:]
    return inner, end


def symbols(latex: str) -> list[str | None]:
    """The normalised symbols of one formula, line breaks (`\\\\`) as None."""
    text = _strip_delimiters(latex)
    out: list[str | None] = []
    pos, n = 0, len(text)
    sup = False  # the last symbol was `^` (a `T` there is a transpose)
    while pos < n:
        m = _SCAN.match(text, pos)
        if m is None:  # cannot happen (the last branch takes any character); be safe
            pos += 1
            continue
        pos = m.end()
        command, escaped, letter, number, _comment, space, other = m.groups()
        if command is not None:
            if command in _DROP_ARG:
                pos = _skip_group(text, pos)
                continue
            if command in _DROP_FIRST:
                pos = _skip_group(text, pos)
                continue
            if command in _DROP or command in _UNWRAP:
                continue
            if command in _NAMED:
                inner, pos = _group_text(text, pos)
                word = re.sub(r"\\[,;:! ]|\s+|[{}]", "", inner)
                if len(word) == 1:
                    out.append(word)
                elif word:
                    out.append(word.lower())  # a name, case-folded: `\mathrm{LN}` ≡ `\text{ln}`
                sup = False
                continue
            if command in _FRACTIONS:
                # The numerator stays where it is; `/` goes between the two arguments.
                num, pos = _group_text(text, pos)
                den, pos = _group_text(text, pos)
                out.extend(symbols(num))
                out.append("/")
                out.extend(symbols(den))
                sup = False
                continue
            name = _SYNONYMS.get(command, command)
            out.append(name if len(name) == 1 or name in _GREEK else "\\" + name)
            sup = False
            continue
        if escaped is not None:
            if escaped == "\\":
                out.append(None)
            elif escaped in _SPACES or escaped.isspace():
                pass
            else:
                out.append(_SYNONYMS.get(escaped, escaped))
            sup = False
            continue
        if space is not None or _comment is not None:
            continue
        if letter is not None:
            out.append("⊤" if sup and letter == "T" else letter)
        elif number is not None:
            out.append(number)
        elif other is not None:
            if other in "{}":
                continue  # grouping only
            if other == "&":
                continue  # an alignment point (`a &= b`): no symbol, no break
            if other == "'":
                out.append("′")
            else:
                out.append(other)
            sup = other == "^"
            continue
        sup = False
    return out


def role(symbol: str) -> str:
    """A symbol's role: a variable (a letter, Latin or Greek), a number, or itself."""
    found = _ROLES.get(symbol)
    if found is None:
        if (len(symbol) == 1 and symbol.isalpha() and symbol != "⊤") or symbol in _GREEK:
            found = VAR
        elif symbol[0].isdigit():
            found = NUM
        else:
            found = symbol
        if len(_ROLES) < 100_000:
            _ROLES[symbol] = found
    return found


_ROLES: dict[str, str] = {}


def _lines(seq: Sequence[str | None]) -> Iterator[list[str]]:
    line: list[str] = []
    for s in seq:
        if s is None:
            if line:
                yield line
            line = []
        else:
            line.append(s)
    if line:
        yield line


def _grams(prefix: str, items: list[str], k: int) -> list[str]:
    """`prefix` + each run of `k` items, by plain concatenation (the fastest way in Python:
    a formula has tens of symbols and the archive 1.4 M n-grams)."""
    if k == 1:
        return [prefix + a for a in items]
    if k == 2:
        return [prefix + a + b for a, b in itertools.pairwise(items)]
    if k == 3:
        return [prefix + a + b + c for a, b, c in zip(items, items[1:], items[2:], strict=False)]
    return [prefix + "".join(t) for t in zip(*(items[i:] for i in range(k)), strict=False)]


def tokens(
    seq: Sequence[str | None],
    structure_ns: Sequence[int] = STRUCTURE_NS,
    name_ns: Sequence[int] = NAME_NS,
) -> list[str]:
    """The index terms of a formula's symbols: role n-grams (`s:`) and symbol n-grams (`c:`)
    within each line, repeats kept."""
    out: list[str] = []
    shortest = min(structure_ns, default=1)
    for line in _lines(seq):
        roles = [_ROLES.get(s) or role(s) for s in line]
        for k in structure_ns:
            out += _grams(STRUCTURE, roles, k)
        for k in name_ns:
            out += _grams(NAMES, line, k)
        if len(roles) < shortest:  # a formula shorter than every n-gram: its roles alone
            out += _grams(STRUCTURE, roles, 1)
    return out


def formula_tokens(latex: str) -> list[str]:
    return tokens(symbols(latex))


def post_formulas(body: str) -> list[tuple[int, int]]:
    """(start, end) of every formula in a post body."""
    return math_spans(body)


# Short formulas repeat (`$\\boldsymbol{x}$`): of the archive's 16,892 formulas of at most 40
# characters, 5,844 differ; their token sets are kept (the whole archive's take ~2 MB).
_SHORT = 40
_SHORT_KEPT = 50_000
_short: dict[str, frozenset[str]] = {}


def _token_set(latex: str) -> frozenset[str]:
    if len(latex) > _SHORT:
        return frozenset(formula_tokens(latex))
    found = _short.get(latex)
    if found is None:
        if len(_short) >= _SHORT_KEPT:
            _short.clear()
        found = _short[latex] = frozenset(formula_tokens(latex))
    return found


def body_tokens(body: str) -> list[str]:
    """The `formula` field's terms for a post body: each token once per formula that holds
    it, and at most TF_CAP times in all (the BM25 index of a post counts its formulas'
    tokens; past a few, another formula holding `v=v` says nothing new)."""
    counts: Counter[str] = Counter()
    for start, end in math_spans(body):
        counts.update(_token_set(body[start:end]))
    out: list[str] = []
    for token, count in counts.items():
        out += [token] * min(count, TF_CAP)
    return out
