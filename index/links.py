"""References from one post to another, found in its markdown at index time.

The blog builds on itself: a post cites earlier posts by their address (kexue.fm or its mirror
spaces.ac.cn, `/archives/N`, written in every form a browser accepts) or by their title in
book-title marks (`《标题》`). Each reference is kept with the sentence it sits in, because that
sentence says *why* the older post matters ("在《…》中我们推导了…"), which is what a reader
choosing where to go next wants to see.

A URL names its target by number, whether or not that post is in the archive yet. A title names
it by text: it is resolved against the archive's titles (exactly, then with punctuation and
case normalised, then without the series prefix: `《博采众长的旋转式位置编码》` finds
`Transformer升级之路：2、博采众长的旋转式位置编码`) each time the archive changes, so a
reference to a post that arrives later resolves then.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from index.series import parse_title

# Bumped when the rules change: every post's references are extracted again (Indexer).
LINKS_VERSION = 1
SENTENCE_CHARS = 160  # the citing sentence, cut around the reference beyond this

RefKind = Literal["url", "title"]

# kexue.fm or spaces.ac.cn (perhaps www., perhaps a scheme), then /archives/N, then anything
# (a slash, ?query, #anchor); a site-relative markdown link `](/archives/N)` too. The path is
# found first (a literal scan) and the host then read backwards from it: one regex for both
# cost 0.23 s over the shared corpus, this ~10 ms.
_PATH = re.compile(r"/archives/(\d{1,18})(?!\d)", re.IGNORECASE)
_HOST_BEFORE = re.compile(
    r"(?:(?:https?:)?//)?(?<![\w.-])(?:www\.)?(?:kexue\.fm|spaces\.ac\.cn)$|(?<=\]\()$",
    re.IGNORECASE,
)
_HOST_CHARS = 40  # more than `https://www.spaces.ac.cn`
# 《title》: book-title marks around 2-80 characters, on one line, not nested.
_TITLE = re.compile(r"《([^《》\n]{2,80})》")
# A 《title》 that is the label of a link to the archive: the URL already names its target.
_LINKED_LABEL = re.compile(
    r"\]\(\s*(?:https?:)?(?://)?(?:www\.)?(?:kexue\.fm|spaces\.ac\.cn)?/archives/\d", re.I
)
_SENTENCE_END = re.compile(r"[。！？；\n]|[.!?](?=\s)")
_MD_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)")
_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[\W_]+")  # spaces, punctuation, symbols: what a title key leaves out
_LEADING_MARKS = re.compile(r"^(?:[>*+\-#]+\s*|\d+[.)]\s+)+")


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference in a post: to archive number `target` (a URL), or by title (resolved
    later); `ref` is the URL or the title as written, `start` its offset in the body,
    `sentence` the text around it."""

    kind: RefKind
    target: int | None
    ref: str
    start: int
    sentence: str


def title_key(text: str) -> str:
    """A title with width, case, spaces and punctuation folded: `Naive Bayes is all you need ?`
    and `naive bayes is all you need？` are one key."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def title_keys(title: str) -> tuple[str, str | None]:
    """The keys a post is found by from a `《title》`: its whole title, and the title without
    its series prefix (None when it has none)."""
    parsed = parse_title(title)
    rest = title_key(parsed.rest) if parsed and parsed.rest else None
    return title_key(title), rest if rest and len(rest) >= 4 else None


def _plain(text: str) -> str:
    """Markdown links and images reduced to their labels, on one line."""
    text = _MD_LINK.sub(lambda m: _MD_IMAGE.sub(r"\1", m.group(1)), _MD_IMAGE.sub(r"\1", text))
    return _SPACE.sub(" ", text)


def sentence_at(body: str, start: int, end: int) -> str:
    """The sentence around body[start:end], markdown links reduced to their labels, on one
    line, at most SENTENCE_CHARS characters (cut around the reference)."""
    for link in _MD_LINK.finditer(body, max(0, start - 300), min(len(body), end + 300)):
        if link.start() <= start < link.end():  # the reference is a link's target or label
            start, end = link.start(), link.end()
            break
    left = max(0, start - 400)
    for m in _SENTENCE_END.finditer(body, left, start):
        left = m.end()
    stop = _SENTENCE_END.search(body, end, end + 400)
    right = stop.end() if stop else min(len(body), end + 400)
    before = _LEADING_MARKS.sub("", _plain(body[left:start]).lstrip())
    clean = (before + _plain(body[start:right])).strip()
    if len(clean) <= SENTENCE_CHARS:
        return clean
    lo = max(0, min(len(before) - SENTENCE_CHARS // 3, len(clean) - SENTENCE_CHARS))
    cut = clean[lo : lo + SENTENCE_CHARS]
    return ("…" if lo else "") + cut + ("…" if lo + SENTENCE_CHARS < len(clean) else "")


def references(body: str, post_id: int | None = None) -> list[Reference]:
    """Every reference in `body`, in order (a post's references to itself left out)."""
    found: list[Reference] = []
    last = (-1, 0)  # (target, end) of the last URL
    for m in _PATH.finditer(body):
        lo = max(0, m.start() - _HOST_CHARS)
        host = _HOST_BEFORE.search(body, lo, m.start())
        target = int(m.group(1))
        if host is None or target == post_id or target == 0:
            continue
        start = host.start()
        # `[https://kexue.fm/archives/14/](https://kexue.fm/archives/14/)`: one reference
        seen, last = last, (target, m.end())
        if seen[0] == target and body[seen[1] : start].strip("/") in ("](", "]( "):
            continue
        sentence = sentence_at(body, start, m.end())
        found.append(Reference("url", target, body[start : m.end()], start, sentence))
    for m in _TITLE.finditer(body):
        if _LINKED_LABEL.match(body, m.end()) or "](" in m.group(1):
            continue
        title = m.group(1).strip()
        if len(title_key(title)) < 2:
            continue
        found.append(
            Reference("title", None, title, m.start(), sentence_at(body, m.start(), m.end()))
        )
    found.sort(key=lambda r: r.start)
    return found


class TitleIndex:
    """The archive's titles by key, to resolve `《title》` references: a whole title first,
    then a title without its series prefix; a key two posts share resolves to neither."""

    def __init__(self, titles: Mapping[int, str]) -> None:
        whole: dict[str, set[int]] = {}
        parts: dict[str, set[int]] = {}
        for post_id, title in titles.items():
            full, rest = title_keys(title)
            whole.setdefault(full, set()).add(post_id)
            if rest:
                parts.setdefault(rest, set()).add(post_id)
        self._whole = {k: next(iter(v)) for k, v in whole.items() if len(v) == 1}
        self._parts = {k: next(iter(v)) for k, v in parts.items() if len(v) == 1}

    def resolve(self, title: str) -> int | None:
        key = title_key(title)
        found = self._whole.get(key)
        return found if found is not None else self._parts.get(key)
