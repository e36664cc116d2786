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
lexical index (formula side: ≤ 20 % of it). Here `body_tokens` over every post takes 0.40-0.42
s of CPU against 0.59-0.63 s for the per-token scanner and Python n-grams before it (same
runs), and the formula side is 18-19 % of `index.update` when this shared machine is quiet,
24 % under load (before: 25-36 %; bench/bench_formula.py --against): one `findall` a formula,
the n-grams packed into int64 and counted with numpy a post at a time.
It never raises: unbalanced braces, `\\begin` without `\\end` or 1,000 `{` are just symbols.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from corpus.latex import math_spans

if TYPE_CHECKING:  # imported where a post's tokens are counted: a search never needs numpy
    import numpy as np

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
# One token: what `\frac12` takes as its numerator, and what the scanner cuts besides the
# commands below.
_ONE_TOKEN = (
    r"[^\s\d\\%]"  # a letter or any other character (the most frequent first: 12% faster)
    r"|\\(?:[A-Za-z]+\*?|.)"  # a command; an escaped character or a control symbol (\, \{ \\)
    r"|\s+"  # space
    r"|\d+(?:\.\d+)?"  # a number
    r"|%[^\n]*"  # a comment
)
_TOKEN = re.compile(
    # a command whose argument is a name (`\label{eq}`, `\mathrm{softmax}`) with that
    # argument, when it holds no brace nor backslash (so where it ends is plain): all but 354
    # of the archive's 15.1 k, then looked up like any token
    r"\\(?:" + "|".join(sorted(_DROP_ARG | _DROP_FIRST | _NAMED)) + r")(?![A-Za-z])"
    r"\*?\s*\{[^{}\\]*\}"
    # a fraction whose two arguments are plain so (`\frac{1}{2}`): 1.0 k of its 3.4 k
    r"|\\(?:"
    + "|".join(sorted(_FRACTIONS))
    + r")(?![A-Za-z])\*?(?:\s*\{[^{}\\]*\}){2}|"
    + _ONE_TOKEN,
    re.S,
)
_ONE = re.compile(_ONE_TOKEN, re.S)
_PLAIN_ARGUMENT = re.compile(r"\{([^{}\\]*)\}")
# A brace that groups: not escaped (`\{`), nor after `\\` (the old scanner's rule, kept).
_BRACE = re.compile(r"(?<!\\)[{}]")
_NAME_NOISE = re.compile(r"\\[,;:! ]|\s+|[{}]")

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
        m = _ONE.match(text, pos)
        return m.end() if m else pos + 1
    depth = 0
    for m in _BRACE.finditer(text, pos):
        if m[0] == "{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return m.end()
    return n


def _group_text(text: str, pos: int) -> tuple[str, int]:
    """The text of the argument at `pos` (without its braces) and where it ends."""
    end = _skip_group(text, pos)
    inner = text[pos:end].strip()
    if inner.startswith("{"):
        inner = inner[1:-1] if inner.endswith("}") else inner[1:]
    return inner, end


# What a token does: a str is the symbol it appends ("" none: space, comment, a brace, `&`, a
# dropped or unwrapping command; `^` is one); a tuple, one of these codes, handled one by one.
_RESET = ("reset",)  # nothing, but a `T` after it is a letter (`\,` and the other spacing)
_BREAK = ("break",)  # a line break, `\\`
_LETTER_T = ("T",)  # `T`: a transpose right after `^`
_ESCAPED_CARET = ("\\^",)  # `\^`: a `^` after which `T` is a letter
_GROUP = ("group",)  # a command dropped with its argument (`\label{…}`, `\color{…}`)
_NAME = ("name",)  # `\mathrm{…}`: the argument is one symbol
_FRAC = ("frac",)
# Any other tuple: the symbols of a fraction whose arguments are plain (`\frac{1}{2}`).
Code = tuple[str | None, ...]
_IS_CODE = tuple.__instancecheck__


def _action(token: str) -> str | Code:
    """What one token does: the symbol it appends, or one of the codes above."""
    first = token[0]
    if first == "\\" and len(token) > 1:
        if token[1].isascii() and token[1].isalpha():  # a command
            command, brace, argument = token[1:].partition("{")  # `\text{if}` is one token
            command = command.rstrip().rstrip("*")
            if command in _DROP_ARG or command in _DROP_FIRST:
                return "" if brace else _GROUP
            if command in _DROP or command in _UNWRAP:
                return ""
            if command in _NAMED:
                return _name(argument[:-1]) if brace else _NAME
            if command in _FRACTIONS:
                if not brace:
                    return _FRAC
                num, den = _PLAIN_ARGUMENT.findall(token)
                return (*symbols(num), "/", *symbols(den))
            name = _SYNONYMS.get(command, command)
            return name if len(name) == 1 or name in _GREEK else "\\" + name
        escaped = token[1]
        if escaped == "\\":
            return _BREAK
        if escaped in _SPACES or escaped.isspace():
            return _RESET
        symbol = _SYNONYMS.get(escaped, escaped)
        return _ESCAPED_CARET if symbol == "^" else symbol
    if first == "%" or first.isspace() or token in ("{", "}", "&"):
        return ""  # `{}` group only; `&` is an alignment point (`a &= b`): no symbol, no break
    if token == "T":
        return _LETTER_T
    return "′" if token == "'" else token  # a letter, a number, another character


def _name(argument: str) -> str | Code:
    """The symbol `\\mathrm{…}` makes of its argument: one, case-folded (`\\mathrm{LN}` ≡
    `\\text{ln}`); an empty one is none (the code _RESET)."""
    word = _NAME_NOISE.sub("", argument)
    if not word:
        return _RESET
    if len(word) > 1:
        return word.lower()
    return _ESCAPED_CARET if word == "^" else word


class _Actions(dict[str, str | Code]):
    """Each distinct token's action, worked out once (bounded: comments and spaces vary)."""

    def __missing__(self, token: str) -> str | Code:
        found = _action(token)
        if len(self) < 100_000:
            self[token] = found
        return found


_ACTIONS = _Actions()


def symbols(latex: str, depth: int = 0) -> list[str | None]:
    """The normalised symbols of one formula, line breaks (`\\\\`) as None; `depth`: how many
    fractions hold it."""
    return _scan(_strip_delimiters(latex), depth)


# Fractions nested deeper than this keep their `/` but not their arguments: the archive's
# deepest is 2, and 2,000 `\frac{` in a row made the scanner recurse past Python's limit.
_DEEPEST = 50


def _scan(text: str, depth: int) -> list[str | None]:
    """The symbols of `text`.

    Python touches only the tokens that are codes: one `findall` cuts the text into tokens,
    `map` looks up their actions and `filter` keeps the symbols between two codes, all in C
    (a regular expression match, then a branch, a token in a Python loop: the symbols of the
    archive's distinct formulas took 0.20 s, now 0.15).
    Where a command takes an argument, the braces in the text say where it ends; when that
    is inside a token (a `}` in a comment), the text is cut into tokens again from there."""
    out: list[str | None] = []
    append = out.append
    start: int | None = 0
    sup = False  # the last symbol was `^`
    while start is not None:
        tokens = _TOKEN.findall(text, start)
        acts = list(map(_ACTIONS.__getitem__, tokens))
        codes = list(itertools.compress(itertools.count(), map(_IS_CODE, acts)))
        starts: list[int] | None = None
        i = k = 0  # the next token, the next code
        n = len(tokens)
        resume = None
        while True:
            k = bisect.bisect_left(codes, i, k)
            j = codes[k] if k < len(codes) else n
            if j > i:
                kept: list[str] = list(filter(None, acts[i:j]))  # type: ignore[arg-type]
                if kept:
                    out += kept
                    sup = kept[-1] == "^"
            if j == n:
                break
            act = acts[j]
            i = j + 1
            if act is _LETTER_T:
                append("⊤" if sup else "T")
            elif act is _BREAK:
                append(None)
            elif act is _ESCAPED_CARET:
                append("^")
            elif act is _GROUP or act is _NAME or act is _FRAC:  # the argument's end: braces
                if starts is None:
                    starts = list(itertools.accumulate(map(len, tokens), initial=start))
                if act is _GROUP:
                    end = _skip_group(text, starts[i])
                elif act is _NAME:
                    inner, end = _group_text(text, starts[i])
                    word = _name(inner)
                    if word.__class__ is str:
                        append(word)  # type: ignore[arg-type]
                    elif word is _ESCAPED_CARET:
                        append("^")
                else:  # a fraction: the numerator stays where it is, `/` between the arguments
                    num, end = _group_text(text, starts[i])
                    den, end = _group_text(text, end)
                    if depth < _DEEPEST:
                        out += symbols(num, depth + 1)
                    append("/")
                    if depth < _DEEPEST:
                        out += symbols(den, depth + 1)
                i = bisect.bisect_left(starts, end, i)
                if i > n or starts[i] != end:  # the argument ended inside a token (a comment)
                    resume = end
                    sup = sup and act is _GROUP
                    break
                if act is _GROUP:
                    continue  # dropped with its argument: `^\label{x}T` is still a transpose
            elif act is not _RESET:
                out += act  # a fraction whose arguments are plain: its symbols
            sup = False
        start = resume
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


def _formula_counts(formulas: list[str]) -> list[str]:
    """The `formula` field's terms, a formula at a time (what `_batch` does with numpy): each
    token once per formula that holds it, at most TF_CAP times in all."""
    counts = Counter(itertools.chain.from_iterable(frozenset(formula_tokens(f)) for f in formulas))
    capped = map(min, counts.values(), itertools.repeat(TF_CAP))
    return list(itertools.chain.from_iterable(map(itertools.repeat, counts, capped)))


# The batch way gives each symbol an id (0 ends a line or a formula) and each role an id (from
# 1), packs an n-gram's ids into one int64 and counts them with numpy, a post at a time: in
# Python, the n-grams of the archive's formulas (964 k) took 0.33 s to make, deduplicate and
# count, half the formula side. Ids live as long as the process; past these widths they start
# anew, and a post that does not fit (more roles, symbols or formulas than the bits hold) takes
# the per-formula way.
_SYMBOL_BITS = 20
_ROLE_BITS = 12
_FORMULA_BITS = 63 - 4 * _ROLE_BITS  # the widest key, a 4-gram of roles, and the formula
_IDS_KEPT = 50_000  # formulas whose ids are kept (they repeat: 11,444 of 23,379 differ)
_TERMS_KEPT = 200_000  # tokens kept by their key, of each kind (the archive has 38 k: ~5 MB)


class _Ids(dict[str | None, int]):
    """Symbol -> id, with each id's symbol and role id."""

    def __init__(self) -> None:
        super().__init__({None: 0})
        self.symbols: list[str] = [""]
        self.roles: list[int] = [0]
        self.role_ids: dict[str, int] = {}
        self.role_names: list[str] = [""]
        self.role_table: np.ndarray | None = None  # the role ids as an array, when counting
        self.formulas: dict[str, list[int]] = {}

    def __missing__(self, symbol: str | None) -> int:
        found = self[symbol] = len(self.symbols)
        self.symbols.append(symbol)  # type: ignore[arg-type]
        name = role(symbol)  # type: ignore[arg-type]
        rid = self.role_ids.get(name)
        if rid is None:
            rid = self.role_ids[name] = len(self.role_names)
            self.role_names.append(name)
        self.roles.append(rid)
        return found

    def of(self, formula: str) -> list[int]:
        """The ids of a formula's symbols, then 0."""
        found = self.formulas.get(formula)
        if found is None:
            found = list(map(self.__getitem__, symbols(formula)))
            found.append(0)
            if len(self.formulas) >= _IDS_KEPT:
                self.formulas.clear()
            self.formulas[formula] = found
        return found

    def full(self) -> bool:
        return len(self.symbols) > 1 << _SYMBOL_BITS or len(self.role_names) > 1 << _ROLE_BITS


class _Terms(dict[int, str]):
    """A packed n-gram -> its token: `prefix` and the names of its ids, `bits` each (the first
    id is never 0, so the key's length says how many)."""

    def __init__(self, prefix: str, names: list[str], bits: int) -> None:
        super().__init__()
        self.prefix, self.names, self.bits = prefix, names, bits

    def __missing__(self, key: int) -> str:
        bits, mask = self.bits, (1 << self.bits) - 1
        n = -(-key.bit_length() // bits)
        parts = [self.names[(key >> (bits * j)) & mask] for j in range(n - 1, -1, -1)]
        found = self.prefix + "".join(parts)
        if len(self) < _TERMS_KEPT:
            self[key] = found
        return found


def _reset() -> None:
    """Every id and cache anew (the process's first build, or past the widths)."""
    global _ids, _names, _structure
    _ACTIONS.clear()
    _ROLES.clear()
    _ids = _Ids()
    _names = _Terms(NAMES, _ids.symbols, _SYMBOL_BITS)
    _structure = _Terms(STRUCTURE, _ids.role_names, _ROLE_BITS)


_ids: _Ids
_names: _Terms
_structure: _Terms
_reset()


def _distinct(a: np.ndarray) -> np.ndarray:
    """Sorted, each value once (np.unique's hashing took 10x as long on these arrays)."""
    import numpy as np

    a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def _per_key(pairs: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys of distinct sorted (key, formula) pairs, and how many formulas (≤ TF_CAP)."""
    import numpy as np

    keys = pairs >> bits
    first = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[first], np.minimum(np.diff(np.append(first, len(keys))), TF_CAP)


def _counted(terms: _Terms, keys: np.ndarray, formula: np.ndarray, bits: int) -> list[str]:
    """Each key's token once per formula that holds it, at most TF_CAP times."""
    import numpy as np

    if not len(keys):
        return []
    pairs = _distinct(keys << bits | formula)
    distinct, counts = _per_key(pairs, bits)
    tokens = list(map(terms.__getitem__, distinct.tolist()))
    if len(set(tokens)) < len(tokens):
        # Two keys make one token (`c:23`: the number 23, or 2 then 3; 9 of the archive's
        # posts): a formula holding both counts it once, so the pairs again, by token.
        ids: dict[str, int] = {}
        tid = np.array([ids.setdefault(t, len(ids)) for t in tokens], np.int64)
        by_token = tid[np.searchsorted(distinct, pairs >> bits)] << bits
        distinct, counts = _per_key(_distinct(by_token | pairs & ((1 << bits) - 1)), bits)
        names = list(ids)
        tokens = [names[i] for i in distinct.tolist()]
    return list(itertools.chain.from_iterable(map(itertools.repeat, tokens, counts.tolist())))


def _batch(formulas: list[str]) -> list[str] | None:
    """The `formula` field's terms with numpy (see `_ids`); None when the post has more
    formulas than the keys' bits hold."""
    import numpy as np

    bits = (len(formulas) - 1).bit_length()
    if bits > _FORMULA_BITS:
        return None
    if _ids.full():
        _reset()
    lists = [_ids.of(f) for f in formulas]
    if _ids.full():
        _reset()
        return None
    if _ids.role_table is None or len(_ids.role_table) != len(_ids.roles):
        _ids.role_table = np.array(_ids.roles, np.int64)
    a = np.fromiter(itertools.chain.from_iterable(lists), np.int64)
    f = np.repeat(np.arange(len(lists), dtype=np.int64), [len(x) for x in lists])
    r = _ids.role_table[a]
    sb, rb = _SYMBOL_BITS, _ROLE_BITS
    nz = a != 0  # a symbol, not the end of a line
    v2 = nz[:-1] & nz[1:]  # a 2-gram within a line starts here
    v3 = v2[:-1] & nz[2:]
    v4 = v3[:-1] & nz[3:]
    s3 = (r[:-2] << rb | r[1:-1]) << rb | r[2:]
    # A line shorter than the shortest structure n-gram (3) stands as its roles.
    starts = np.flatnonzero(nz & ~np.concatenate(([False], nz[:-1])))
    ends = np.flatnonzero(nz & ~np.append(nz[1:], False))
    short = np.concatenate((starts[ends - starts < 2], starts[ends - starts == 1] + 1))
    return _counted(
        _names,
        np.concatenate((a[nz], (a[:-1] << sb | a[1:])[v2])),
        np.concatenate((f[nz], f[:-1][v2])),
        bits,
    ) + _counted(
        _structure,
        np.concatenate((r[short], s3[v3], (s3[:-1] << rb | r[3:])[v4])),
        np.concatenate((f[short], f[:-2][v3], f[:-3][v4])),
        bits,
    )


def field_texts(bodies: list[str]) -> list[str]:
    """The `formula` field's text of each body (its tokens joined by spaces): what the index
    writer's worker process makes while the writer segments the bodies with jieba."""
    return [" ".join(body_tokens(body)) for body in bodies]


def body_tokens(body: str) -> list[str]:
    """The `formula` field's terms for a post body: each token once per formula that holds
    it, and at most TF_CAP times in all (the BM25 index of a post counts its formulas'
    tokens; past a few, another formula holding `v=v` says nothing new)."""
    formulas = [body[start:end] for start, end in math_spans(body)]
    if not formulas:
        return []
    found = _batch(formulas)
    return _formula_counts(formulas) if found is None else found
