"""Passages for embedding: a few hundred characters, cut at headings and paragraph breaks.

A display-math block (`$$…$$`, `\\begin{…}…\\end{…}`) or a code block is never cut in the
middle; a single paragraph longer than the limit is cut at sentence ends. Offsets refer to the
post body, so a semantic hit can point its snippet at the passage.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from corpus.latex import DISPLAY_OPEN, CloserIndex, closers, display_closer
from corpus.post import Post

# Recorded in the manifest; changing them re-chunks and re-embeds (by passage hash, so cached
# vectors of unchanged passages are reused).
TARGET_CHARS = 360
MAX_CHARS = 600
CHUNKER_VERSION = f"paragraphs/{TARGET_CHARS}/{MAX_CHARS}/v2"

# A paragraph break, or the opening of a block that must stay whole.
_TOKEN = re.compile(rf"\n[ \t]*\n|{DISPLAY_OPEN}|^(?P<fence>```|~~~)", re.M)
# Every closer a block opened by _TOKEN may wait for, by its text (looked up, not searched
# for: a post of 100,000 unclosed `\\begin{a}` would otherwise be searched to its end each time).
_CLOSERS = closers(r"(?P<key>\$\$|\\end\{[a-zA-Z*]+\}|```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s", re.M)
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|(?<=\.)\s")


@dataclass(frozen=True, slots=True)
class Passage:
    post_id: int
    ord: int
    start: int
    end: int
    text: str  # what is embedded: the post title, then the passage

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:32]


def _units(body: str) -> list[tuple[int, int]]:
    """Paragraph spans (start, end); a block that spans blank lines stays in one paragraph."""
    spans: list[tuple[int, int]] = []
    para = 0
    i = 0
    closing = CloserIndex(_CLOSERS, body)
    while (m := _TOKEN.search(body, i)) is not None:
        if m.group(0).startswith("\n"):
            if body[para : m.start()].strip():
                spans.append((para, m.start()))
            para = i = m.end()
            continue
        closer = m["fence"] or display_closer(m.group(0), m["env"])
        close = closing.first(closer, m.end())
        i = m.end() if close is None else close[1]
    if body[para:].strip():
        spans.append((para, len(body)))
    # Trim surrounding whitespace so offsets point at text.
    trimmed = []
    for s, e in spans:
        while body[s] in " \t\n":
            s += 1
        while body[e - 1] in " \t\n":
            e -= 1
        trimmed.append((s, e))
    return trimmed


def _split_long(body: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut an over-long paragraph at sentence ends (math inside it may be cut if it must)."""
    pieces = []
    cur = start
    while end - cur > MAX_CHARS:
        window = body[cur : cur + MAX_CHARS]
        cuts = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() >= TARGET_CHARS // 2]
        cut = cur + (cuts[-1] if cuts else MAX_CHARS)
        pieces.append((cur, cut))
        cur = cut
    pieces.append((cur, end))
    return pieces


def chunk_post(post: Post) -> list[Passage]:
    body = post.body
    groups: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for start, end in _units(body):
        pieces = _split_long(body, start, end) if end - start > MAX_CHARS else [(start, end)]
        for s, e in pieces:
            heading = bool(_HEADING.match(body, s))
            if cur is not None and (heading or (e - cur[0]) > TARGET_CHARS):
                groups.append(cur)
                cur = None
            cur = (s, e) if cur is None else (cur[0], e)
    if cur is not None:
        groups.append(cur)
    if not groups:
        groups = [(0, len(body))]
    return [
        Passage(post.id, i, s, e, f"{post.title}\n{body[s:e].strip()}")
        for i, (s, e) in enumerate(groups)
    ]
