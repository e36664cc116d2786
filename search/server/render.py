"""A post body as HTML for the page: markdown rendered, LaTeX as MathML, everything sanitised.

Math is cut out before markdown sees it (markdown would read `_` and `*` in formulas as
emphasis and eat backslashes), using the delimiters the rest of the program uses, and put back
as MathML from KaTeX (search.server.tex; latex2mathml where KaTeX is not installed); a formula
that does not convert stays as its escaped source. Equations are numbered like MathJax numbers
them on kexue.fm, so `\\eqref` works. Raw HTML in a post is shown as text. Post data is
untrusted: each formula's MathML is sanitised on its own, to MathML only, before it is put
back (a converter that let `</math><a href=…>` through in a `\\text{}` cannot close the math
early and put a live link in the page), and the whole result goes through the allow-list
sanitiser (nh3) again.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import nh3
from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

from search.render import (
    INLINE_MATH,
    LABEL,
    LONG_POST_CHARS,
    NO_NUMBER,
    NUMBERED,
    TAG,
    display_spans,
)
from search.server.tex import engine, katex_mathml, katex_prefetch

# Private-use characters around a formula's number: markdown leaves them alone.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_REF = re.compile(r"\\(eq)?ref\{([^{}]*)\}")
_ONLY_REF = re.compile(r"\s*\\(eq)?ref\{([^{}]*)\}\s*")
_EQ_ID = re.compile(r"eq-[\w.-]{1,40}")
# Environments latex2mathml does not know but whose body it can convert.
_UNWRAP = {"equation", "equation*", "displaymath", "math"}

_MATHML_TAGS = {
    "math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot",
    "mstyle", "merror", "mpadded", "mphantom", "menclose", "msub", "msup", "msubsup",
    "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none", "mtable", "mtr",
    "mtd", "mlabeledtr", "semantics", "annotation",
}  # fmt: skip
_MATHML_ATTRIBUTES = {
    "display", "mathvariant", "mathsize", "mathcolor", "mathbackground", "stretchy", "fence",
    "separator", "form", "lspace", "rspace", "minsize", "maxsize", "largeop", "movablelimits",
    "accent", "accentunder", "symmetric", "width", "height", "depth", "voffset", "linebreak",
    "linethickness", "columnalign", "rowalign", "columnlines", "rowlines", "columnspacing",
    "rowspacing", "columnspan", "rowspan", "frame", "framespacing", "displaystyle",
    "scriptlevel", "notation", "encoding",
}  # fmt: skip
_HTML_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "li",
    "strong", "em", "del", "s", "code", "pre", "a", "img", "table", "thead", "tbody", "tr",
    "th", "td", "span", "sup", "sub",
}  # fmt: skip


def _attribute(tag: str, attr: str, value: str) -> str | None:
    """Only the ids (and links to them) that numbering makes: post data cannot clobber the
    page's own elements by id."""
    if attr == "id":
        return value if _EQ_ID.fullmatch(value) else None
    if attr == "href" and value.startswith("#"):
        return value if _EQ_ID.fullmatch(value[1:]) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=_HTML_TAGS | _MATHML_TAGS,
    attributes={
        "a": {"href", "title"},
        "img": {"src", "alt", "title"},
        "ol": {"start"},
        "span": {"id"},
        **{tag: _MATHML_ATTRIBUTES for tag in _MATHML_TAGS},
    },
    allowed_classes={"span": {"equation", "eqno", "math-error"}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"img": {"loading": "lazy", "referrerpolicy": "no-referrer"}},
    attribute_filter=_attribute,
    strip_comments=True,
)
# One formula's MathML: MathML elements only, so nothing in it can leave the <math> element.
_MATHML_CLEANER = nh3.Cleaner(
    tags=_MATHML_TAGS,
    attributes={tag: _MATHML_ATTRIBUTES for tag in _MATHML_TAGS},
    url_schemes=set(),
    strip_comments=True,
)
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)


@dataclass(frozen=True, slots=True)
class _Formula:
    source: str  # as written, delimiters included (what is shown when it does not convert)
    latex: str  # what latex2mathml gets
    display: bool
    number: str | None = None  # its equation number, for display formulas that have one


def _number_formulas(formulas: list[_Formula]) -> tuple[list[_Formula], dict[str, str]]:
    """Equation numbers (1, 2, ... or a `\\tag`) and the labels that name them."""
    labels: dict[str, str] = {}
    counter = 0
    numbered = []
    for f in formulas:
        if not f.display:
            numbered.append(f)
            continue
        latex = f.latex
        tag = TAG.search(latex)
        env = re.match(r"\s*\\begin\{([a-zA-Z*]+)\}", latex)
        number = None
        if tag:
            number = tag.group(1)
        elif env and env.group(1) in NUMBERED and not NO_NUMBER.search(latex):
            counter += 1
            number = str(counter)
        for label in LABEL.findall(latex):
            if number is not None:
                labels[label] = number
        latex = NO_NUMBER.sub("", TAG.sub("", LABEL.sub("", latex)))
        if env and env.group(1) in _UNWRAP:
            name = re.escape(env.group(1))
            inner = re.fullmatch(rf"\s*\\begin\{{{name}\}}(.*)\\end\{{{name}\}}\s*", latex, re.S)
            latex = inner.group(1) if inner else latex
        numbered.append(_Formula(f.source, latex, True, number))
    return numbered, labels


# Formulas repeat ($x$, $\boldsymbol{W}$, ...): with this cache the 342 posts of the shared corpus
# render 1.2x faster (6.3 s -> 5.3 s).
@lru_cache(maxsize=8192)
def _convert(latex: str, display: bool) -> str | None:
    """The formula as sanitised MathML (KaTeX, else latex2mathml), or None."""
    out = katex_mathml(latex, display)
    if out is None and not engine_is_katex():
        try:
            out = convert(latex, display="block" if display else "inline")
        except Exception:  # latex2mathml raises many kinds of errors on what it cannot read
            return None
    if out is None:
        return None
    cleaned = _MATHML_CLEANER.clean(out)
    return cleaned if cleaned.startswith("<math") else None


_DELIMITED = re.compile(r"\A(?:\$\$?(?P<d>.+?)\$\$?|\\\((?P<p>.+?)\\\)|\\\[(?P<b>.+?)\\\])\Z", re.S)


@lru_cache(maxsize=4096)
def snippet_mathml(source: str) -> str | None:
    """A snippet's short formula (as written, delimiters included) as sanitised inline MathML
    for the page, or None to keep the text the snippet shows. latex2mathml, in this process:
    a snippet keeps only short formulas (search.snippets.SHORT_SOURCE), which it reads right,
    and the reader's KaTeX runs in the render worker, not on a search's path."""
    m = _DELIMITED.match(source.strip())
    latex = next((g for g in m.groups() if g), None) if m else None
    if latex is None:
        return None
    try:
        out = convert(latex, display="inline")
    except Exception:  # latex2mathml raises many kinds of errors on what it cannot read
        return None
    cleaned = _MATHML_CLEANER.clean(out)
    return cleaned if cleaned.startswith("<math") else None


def engine_is_katex() -> bool:
    """Whether formulas go through KaTeX (installed and running) rather than latex2mathml."""
    return engine() is not None


def _latex_to_convert(f: _Formula, labels: dict[str, str]) -> str | None:
    """What the engine gets for `f` (its `\\eqref`s as numbers), or None for a formula that
    is only a reference (it becomes a link)."""
    if not f.display and _ONLY_REF.fullmatch(f.latex):
        return None
    return _REF.sub(
        lambda m: (
            "\\text{%s}" % (f"({labels[m[2]]})" if m[1] else labels[m[2]])
            if m[2] in labels
            else "\\text{(?)}"
        ),
        f.latex,
    )


def _mathml(f: _Formula, labels: dict[str, str]) -> str:
    only = None if f.display else _ONLY_REF.fullmatch(f.latex)
    if only:  # `$\eqref{eq:x}$`: a link to the equation
        number = labels.get(only.group(2))
        if number is None:  # as MathJax shows a reference to no label
            return '<span class="math-error">(?)</span>' if only.group(1) else "?"
        text = f"({number})" if only.group(1) else number
        return f'<a href="#eq-{escapeHtml(number)}">{escapeHtml(text)}</a>'
    latex = _latex_to_convert(f, labels) or ""
    out = _convert(latex, f.display)
    if out is None:  # the source is the honest fallback
        return f'<span class="math-error">{escapeHtml(f.source)}</span>'
    if f.number is None:
        return out
    n = escapeHtml(f.number)
    return f'<span class="equation" id="eq-{n}">{out}<span class="eqno">({n})</span></span>'


def _cut_math(body: str) -> tuple[str, list[_Formula]]:
    """The body with each formula replaced by a placeholder, and the formulas."""
    formulas: list[_Formula] = []
    out: list[str] = []

    def hold(formula: _Formula) -> str:
        formulas.append(formula)
        return f"{_OPEN}{len(formulas) - 1}{_CLOSE}"

    def inline(text: str) -> str:
        return INLINE_MATH.sub(lambda m: hold(_Formula(m.group(0), m.group(1), False)), text)

    pos = 0
    # Not DISPLAY_MATH: it pairs a `\\begin{array}` with the first `\\end{array}`, so a table
    # nested in a table was cut in two (14 of the formulas left shown as source).
    for start, end in display_spans(body):
        source = body[start:end]
        latex = source[2:-2] if source.startswith("$$") else source
        out.append(inline(body[pos:start]))
        out.append(hold(_Formula(source, latex.replace("  \n", "\n"), True)))
        pos = end
    out.append(inline(body[pos:]))
    return "".join(out), formulas


def _text_rule(self, tokens, idx, options, env) -> str:  # markdown-it's signature
    """markdown-it's text rule, with the formulas in text put back as MathML."""
    text = escapeHtml(tokens[idx].content)
    return _PLACEHOLDER.sub(lambda m: env["mathml"][int(m.group(1))], text)


_MARKDOWN.add_render_rule("text", _text_rule)


def _absolute_links(tokens: list, base: str) -> None:
    """Relative links and images point to the original site (the page is served elsewhere)."""
    for token in tokens:
        for child in token.children or ():
            attr = {"link_open": "href", "image": "src"}.get(child.type)
            value = child.attrGet(attr) if attr else None
            if isinstance(value, str) and not value.startswith("#"):
                child.attrSet(attr, urljoin(base, value))


@lru_cache(maxsize=64)  # a long post takes ~100 ms (its formulas); readers reopen posts
def render_post(body: str, url: str) -> str:
    """The post body as sanitised HTML; relative links resolve against the post's `url`.
    A body over LONG_POST_CHARS is shown as written (the item-1 post of issue 23, a megabyte
    of `\\begin{a}`, took 1.3 s to render)."""
    if len(body) > LONG_POST_CHARS:
        return sanitise(f"<pre>{html.escape(body)}</pre>")
    # The placeholders' own characters in a post would be read as placeholders: shown as U+FFFD.
    body = body.replace(_OPEN, "\ufffd").replace(_CLOSE, "\ufffd")
    text, formulas = _cut_math(body)
    formulas, labels = _number_formulas(formulas)
    katex_prefetch(
        (latex, f.display) for f in formulas if (latex := _latex_to_convert(f, labels)) is not None
    )
    env = {"mathml": [_mathml(f, labels) for f in formulas]}
    tokens = _MARKDOWN.parse(text, env)
    _absolute_links(tokens, url if urlsplit(url).scheme in ("http", "https") else "")
    out = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, env)
    # Placeholders left are in code spans, code blocks or attributes: the source, escaped.
    out = _PLACEHOLDER.sub(lambda m: html.escape(formulas[int(m.group(1))].source), out)
    return sanitise(out)


def sanitise(fragment: str) -> str:
    """`fragment` cut down to the allow-listed HTML and MathML (nh3, that is ammonia)."""
    return _CLEANER.clean(fragment)
