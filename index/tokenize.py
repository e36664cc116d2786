"""jieba segmentation for indexing and querying.

Segmentation uses `rjieba`, the Rust port of jieba (same dictionary and algorithm): it loads in
0.2 s instead of 0.6 s and segments ~12x faster, which is what keeps a cold `search query` under a
second and a full lexical index of the shared corpus under five. Measured in bench/.

Indexing emits, at each token's position, the dictionary words inside it (so 处理 finds 待处理 and
位置编码 finds 旋转位置编码) and the ASCII and CJK runs of mixed tokens (so `adam` finds
`Adam优化器` and `grad` finds `clip_grad_norm`). Queries use the precise cut. Everything is
lowercased and full-width forms fold (ＲｏＰＥ == RoPE); punctuation and whitespace are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

# Bump when the token stream for the same text changes: the manifest records it and a mismatch
# makes the indexer rebuild the lexical index from the store.
TOKENIZER_VERSION = "rjieba-0.2/userdict-1/v2"

_WORD = re.compile(r"[0-9a-z\u00c0-\u024f\u0370-\u03ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")  # CJK ideographs, compatibility forms too
_PARTS = re.compile(r"[a-z\u00c0-\u024f\u0370-\u03ff]+|\d+(?:\.\d+)?|[\u3400-\u4dbf\u4e00-\u9fff]+")
# Function words that carry no topic in a query (never removed from documents: BM25's idf
# already discounts them there, and phrases must still match).
QUERY_STOPWORDS = frozenset(
    """
    的 了 是 在 和 与 及 或 吗 呢 吧 啊 呀 么 把 被 对 从 而 也 就 都 又 还 很 这 那 这个 那个
    这些 那些 一个 一种 什么 为什么 怎么 怎样 如何 哪些 哪个 多少
    是否 能否 可以 能 会 要 我 你 他 它
    我们 大家 通常 有 没有 之 其 中 上 下 为 以 于 所 a an the of to in on for and
    or is are was be by with as at from what why how which does
    do can
    """.split()
)


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int
    position: int


@cache
def _segmenter():  # -> rjieba.Jieba
    import rjieba

    seg = rjieba.Jieba()
    for line in (
        resources.files("index").joinpath("data/userdict.txt").read_text("utf-8").splitlines()
    ):
        word = line.split("#", 1)[0].strip()
        if word:
            seg.add_word(normalize(word), None, None)
    return seg


def segment(text: str) -> list[str]:
    """jieba's precise cut of `text`, as it is (no folding, nothing dropped)."""
    return list(_segmenter().cut(text))


# Full-width ASCII (！ to ～) and the ideographic space fold to their ASCII forms.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def normalize(text: str) -> str:
    """Fold full-width forms and case without changing the text's length (offsets stay valid)."""
    folded = text.translate(_FOLD).lower()
    if len(folded) == len(text):
        return folded
    # A few characters lowercase to two (İ): fold those one by one, keeping the original.
    return "".join(low if len(low := ch.translate(_FOLD).lower()) == 1 else ch for ch in text)


# The per-token caches see every distinct word of every query as well as of the archive: unbounded,
# they grew by each new query word (600k entries after 20k queries, +87 MB in a server). The
# archive has ~100k distinct tokens, so this size keeps indexing's hit rate and bounds memory.
TOKEN_CACHE_SIZE = 2**17


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def is_word(token: str) -> bool:
    return bool(_WORD.search(token))


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def sub_parts(token: str) -> tuple[str, ...]:
    """The letter, number and CJK runs inside a mixed token; empty for a pure one."""
    parts = tuple(_PARTS.findall(token))
    return parts if len(parts) > 1 else ()


@lru_cache(maxsize=TOKEN_CACHE_SIZE)
def inner_words(word: str) -> tuple[tuple[str, int], ...]:
    """Findable pieces inside one token, with their offsets: the letter, number and CJK runs of a
    mixed token, and every dictionary word (two characters or more) inside a CJK run, so that
    位置编码 finds 旋转位置编码 and 处理 finds 待处理."""
    found: dict[tuple[str, int], None] = {}
    cursor = 0
    for part in sub_parts(word) or (word,):
        at = word.find(part, cursor)
        cursor = at + len(part)
        if part != word:
            found[(part, at)] = None
        if len(part) > 2 and _CJK.match(part):
            start = 0
            for sub in _segmenter().cut_all(part):
                start = part.find(sub, start)
                if len(sub) > 1 and sub != part:
                    found[(sub, at + start)] = None
    return tuple(found)


def word_parts(word: str, shortest: int = 5) -> tuple[str, ...]:
    """A long Chinese word as the dictionary words that make it up, left to right, longest
    first (旋转位置编码 -> 旋转, 位置编码), the way the index holds a word's inner words; empty
    for a shorter word or one they do not cover. A query falls back on them when a post
    writes the compound otherwise (旋转式位置编码)."""
    if len(word) < shortest or not _CJK.fullmatch(word[0]) or sub_parts(word):
        return ()
    starts: dict[int, list[str]] = {}
    for sub, at in inner_words(word):
        starts.setdefault(at, []).append(sub)
    parts: list[str] = []
    at = 0
    while at < len(word):
        here = starts.get(at)
        if not here:
            return ()
        part = max(here, key=len)
        parts.append(part)
        at += len(part)
    return tuple(parts) if len(parts) > 1 else ()


def index_tokens(text: str) -> list[Token]:
    """Tokens for the index: the precise cut, with inner words at their parent's position."""
    tokens: list[Token] = []
    position = 0
    for word, start, end in _segmenter().tokenize(normalize(text)):
        if not is_word(word):
            continue
        tokens.append(Token(word, start, end, position))
        for sub, offset in inner_words(word):
            tokens.append(Token(sub, start + offset, start + offset + len(sub), position))
        position += 1
    return tokens


@cache
def _t2s():  # -> opencc.OpenCC
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to simplified Chinese: the archive is written in simplified characters.

    Text that GB2312 can encode is simplified already; only the rest pays for loading OpenCC.
    """
    try:
        text.encode("gb2312")
    except UnicodeEncodeError:
        return _t2s().convert(text)
    return text


def has_cjk(text: str) -> bool:
    """Whether `text` holds a Chinese character: the one test of a query's script."""
    return _CJK.search(text) is not None


def fold(text: str) -> str:
    """Case, width and traditional characters folded: how query text and post text compare."""
    return normalize(to_simplified(text))


@dataclass(frozen=True, slots=True)
class QueryText:
    """A piece of query text segmented once, in every form a search reads it."""

    folded: str
    all_terms: tuple[str, ...]  # precise cut plus the runs of mixed tokens, deduplicated
    positions: tuple[tuple[int, str], ...]  # the index's tokens at their positions (phrases)

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms without stopwords (all of them when every one is a stopword)."""
        kept = tuple(t for t in self.all_terms if t not in QUERY_STOPWORDS)
        return kept or self.all_terms


def segment_query(text: str) -> QueryText:
    """Segment query text once: its terms (as `query_terms`) and its phrase positions (the
    index's own tokens, as the index was built), both from one jieba pass over the folded text."""
    folded = fold(text)
    terms: dict[str, None] = {}
    positions: list[tuple[int, str]] = []
    for word, _, _ in _segmenter().tokenize(folded):
        if not is_word(word):
            continue
        positions.append((len(positions), word))
        terms[word] = None
        terms.update(dict.fromkeys(sub_parts(word)))
    return QueryText(folded, tuple(terms), tuple(positions))


def query_terms(text: str, *, drop_stopwords: bool = True) -> list[str]:
    """Terms of a query in order, deduplicated: precise cut plus the inner runs of mixed tokens."""
    segmented = segment_query(text)
    return list(segmented.terms if drop_stopwords else segmented.all_terms)
