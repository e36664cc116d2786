"""The reader's TeX engine: KaTeX, run in this process by an embedded V8 (mini-racer).

Why KaTeX, and why here. The blog is typeset by MathJax; latex2mathml (the engine before)
left every `aligned` block one line of `&` signs, dropped `\\mathop{\\text{…}}` and painted
whole equations with `\\color` (issue 19). KaTeX reads the blog's LaTeX as MathJax does,
emits MathML with real rows (`mtable`/`mtr`/`mtd`), and is one self-contained script: no
DOM, no Node at run time, so it runs in the render worker next to markdown-it, and the page
gets plain MathML under its strict CSP (no script, no font, no CDN). Its file comes from the
npm registry (`package.json`, installed by scripts/setup.sh into `node_modules/`); where it is
missing (`pip install` without the setup step) the reader falls back to latex2mathml.

What MathJax accepts and KaTeX does not is bridged before KaTeX sees it (`_bridge`): the
blog's own macros (`\\msign`, `\\tr`, … from its MathJax settings, shown as operator names:
KaTeX names the first undefined command of a failed formula and it is defined and tried
again), `\\newcommand{tr}` without its backslash, `_` in `\\text{}`, `_\\boldsymbol{B}`
without braces, `\\bbox`, `\\style`, `\\require`.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

KATEX_ENV = "KEXUE_SEARCH_KATEX"  # a katex.min.js to use instead of the installed one
NODE_MODULES_ENV = "KEXUE_SEARCH_NODE_MODULES"  # where `npm ci` put the page's packages
# KaTeX's own bounds (macro expansions) hold most input; this holds the rest. The longest
# formula of the shared corpus converts in ~20 ms.
CALL_TIMEOUT_S = 2.0
MAX_RETRIES = 12  # undefined macros defined per formula
_UNDEFINED = re.compile(r"Undefined control sequence: \\([a-zA-Z]+)")

_OPTIONS = (
    "{displayMode: display, output: 'mathml', throwOnError: true, strict: 'ignore', "
    "trust: false, maxExpand: 1000, maxSize: 50, macros: macros, colorIsTextColor: true}"
)
_SHIM = (
    "function kexueTex(latex, display, defined) {"
    "  var macros = {'\\\\-': '-'};"
    "  for (var i = 0; i < defined.length; i++)"
    "    macros['\\\\' + defined[i]] = '\\\\operatorname{' + defined[i] + '}';"
    "  try { return katex.renderToString(latex, " + _OPTIONS + "); }"
    "  catch (e) { return 'ERROR ' + String(e && e.message || e); }"
    "}"
    "function kexueTexMany(items) {"
    "  return items.map(function (it) { return kexueTex(it[0], it[1], []); });"
    "}"
)


def node_package(name: str) -> Path | None:
    """An npm package's folder: under $KEXUE_SEARCH_NODE_MODULES, else the checkout's
    `node_modules/` (scripts/setup.sh installs them there)."""
    given = os.environ.get(NODE_MODULES_ENV)
    root = Path(given) if given else Path(__file__).resolve().parents[2] / "node_modules"
    folder = root / name
    return folder if folder.is_dir() else None


def katex_path() -> Path | None:
    """The installed katex.min.js: $KEXUE_SEARCH_KATEX, or the katex npm package's."""
    given = os.environ.get(KATEX_ENV)
    if given:
        return Path(given) if Path(given).is_file() else None
    folder = node_package("katex")
    path = folder / "dist" / "katex.min.js" if folder else None
    return path if path is not None and path.is_file() else None


class _Engine:
    """One V8 context with KaTeX loaded; calls are serialised (a context is single-threaded)."""

    def __init__(self, script: str) -> None:
        from py_mini_racer import MiniRacer

        self.lock = threading.Lock()
        self.ctx = MiniRacer()
        # A context that has run a call with a timeout keeps the interpreter from exiting
        # (mini-racer 0.14: a 20 s hang, measured) unless it is closed first.
        atexit.register(self.ctx.close)
        self.ctx.eval(script)
        self.ctx.eval(_SHIM)

    def call_many(self, items: list[tuple[str, bool]]) -> list[str]:
        with self.lock:
            out = self.ctx.call("kexueTexMany", items, timeout_sec=CALL_TIMEOUT_S * 4)
            return [str(x) for x in out]

    def call(self, latex: str, display: bool, defined: list[str]) -> str:
        with self.lock:
            out = self.ctx.call("kexueTex", latex, display, defined, timeout_sec=CALL_TIMEOUT_S)
            return str(out)


_engine_lock = threading.Lock()
_engine: _Engine | None = None
_engine_failed = False


def engine() -> _Engine | None:
    """The KaTeX engine, started on first use; None when KaTeX or V8 is not there."""
    global _engine, _engine_failed
    with _engine_lock:
        if _engine is None and not _engine_failed:
            path = katex_path()
            try:
                if path is None:
                    raise FileNotFoundError("katex.min.js")
                _engine = _Engine(path.read_text(encoding="utf-8"))
            except Exception:  # no mini-racer, no KaTeX, a V8 that cannot start: fall back
                _engine_failed = True
        return _engine


# -- what MathJax accepts and KaTeX does not ------------------------------------------------
_NEWCOMMAND_BARE = re.compile(r"\\(newcommand|renewcommand)\{([a-zA-Z]+)\}")
_TEXT_ARG = re.compile(r"\\(text|textrm|textit|textbf|mbox)\{([^{}]*)\}")
_UNBRACED_SCRIPT = re.compile(r"([_^])\s*(\\[a-zA-Z]+\{[^{}]*\})")
_BARE_UNDERSCORE = re.compile(r"(?<!\\)_")
_BBOX = re.compile(r"\\bbox\[[^\]]*\]")
# MathJax's extensions and styling, which KaTeX does not have: the command and its first
# argument go (what `\\style{…}{x}` styles stays).
_MATHJAX_ONLY = re.compile(r"\\(?:style|class|cssId|require|setCounter|uproot|leftroot)\{[^{}]*\}")
# A `%` starts a TeX comment, to the end of the line: in a blog's formula it is a percent sign
# (`\\textbf{61.15%}`), and as a comment it swallowed the closing brace.
_PERCENT = re.compile(r"(?<!\\)%")


def _escape_underscores(m: re.Match[str]) -> str:
    """`\\text{stop_grad}`: MathJax shows the `_`, KaTeX stops at it."""
    return "\\" + m[1] + "{" + _BARE_UNDERSCORE.sub(r"\\_", m[2]) + "}"


def _bridge(latex: str) -> str:
    latex = _NEWCOMMAND_BARE.sub(r"\\\1{\\\2}", latex)
    latex = _TEXT_ARG.sub(_escape_underscores, latex)
    latex = _UNBRACED_SCRIPT.sub(r"\1{\2}", latex)
    latex = _MATHJAX_ONLY.sub("", latex)
    latex = _PERCENT.sub(r"\\%", latex) if "%" in latex else latex
    return _BBOX.sub(r"\\boxed", latex) if "\\bbox" in latex else latex


_WRAPPER = re.compile(r'^<span class="katex">(.*)</span>$', re.S)
_ANNOTATION = re.compile(r'<annotation encoding="application/x-tex">.*?</annotation>', re.S)
# `\\mathop{\\text{argmin}}` comes out as <mo><mtext>argmin</mtext></mo>: an <mo> holds text
# only, so an HTML parser (the sanitiser's) drops the word. Its pieces go in an <mrow>.
_ELEMENTS_IN_MO = re.compile(r"<mo>((?:<(mtext|mi|mn)\b[^>]*>[^<]*</\2>)+)</mo>")


# Formulas repeat across posts ($x$, $\\boldsymbol{W}$): converted ones are kept, least recently
# used out first.
CACHE_SIZE = 8192
_cache: OrderedDict[tuple[str, bool], str | None] = OrderedDict()
_cache_lock = threading.Lock()


def _keep(key: tuple[str, bool], value: str | None) -> None:
    with _cache_lock:
        _cache[key] = value
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def katex_prefetch(items: Iterable[tuple[str, bool]]) -> None:
    """Convert a post's formulas not kept yet in one call into V8: a call costs ~0.2 ms
    whatever it holds, a formula ~0.04 ms (measured), and posts hold hundreds of formulas.
    Those that fail on a macro of the blog's own are left to katex_mathml's retries."""
    running = engine()
    if running is None:
        return
    with _cache_lock:
        todo = list(dict.fromkeys(k for k in items if k not in _cache))
    if not todo:
        return
    bridged = [(_bridge(latex), display) for latex, display in todo]
    try:
        outs = running.call_many(bridged)
    except Exception:  # the batch's timeout: each formula is tried on its own later
        return
    for key, out in zip(todo, outs, strict=True):
        if not out.startswith("ERROR "):
            _keep(key, _finish(out))


def katex_mathml(latex: str, display: bool) -> str | None:
    """The formula as MathML, or None when KaTeX cannot read it (or is not installed)."""
    key = (latex, display)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    running = engine()
    if running is None:
        return None
    out = _convert(running, latex, display)
    _keep(key, out)
    return out


def _convert(running: _Engine, latex: str, display: bool) -> str | None:
    source = _bridge(latex)
    defined: list[str] = []
    for _ in range(MAX_RETRIES):
        try:
            out = running.call(source, display, defined)
        except Exception:  # the call's timeout, or V8 out of memory: the source is shown
            return None
        if not out.startswith("ERROR "):
            return _finish(out)
        missing = _UNDEFINED.search(out)
        if missing is None or missing.group(1) in defined:
            return None
        defined.append(missing.group(1))
    return None


def _finish(out: str) -> str:
    wrapped = _WRAPPER.match(out)
    out = wrapped.group(1) if wrapped else out
    return _ELEMENTS_IN_MO.sub(r"<mrow>\1</mrow>", _ANNOTATION.sub("", out))
