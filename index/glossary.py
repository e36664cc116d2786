"""English names the archive gives its own terms, mined from the posts at index time.

The blog glosses a term where it introduces it: a Chinese term followed by its English name in
parentheses, perhaps with an acronym after a comma, or an English name followed by its Chinese
one. Those pairs let an English query reach posts written in Chinese for terms no hand-written
glossary lists. The Chinese side of the first form has no left boundary (it is the end of a run
of Chinese text), so each occurrence proposes the last k and k+1 jieba tokens of the run (k: the
English words, or an acronym's letters) and the archive votes.

Measured on the 60 dev queries (the hand-written glossary already covers the English ones), with
the mined glossary as the only one: english hybrid nDCG@10 0.106 -> 0.601 and lexical 0.519 ->
0.561 against no glossary at all, what an English query whose terms the hand-written list lacks
stands to gain; beside the written one, lexical 0.826 -> 0.828 and hybrid unchanged (0.897).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from index.tokenize import QUERY_STOPWORDS, segment

# Bumped when the rules change: an index mined by other rules is mined again (Indexer).
MINER_VERSION = 2

_CJK_RUN = r"[\u4e00-\u9fff]{2,16}"
_LATIN = r"[A-Za-z][A-Za-z0-9\-]*(?: [A-Za-z0-9][A-Za-z0-9\-]*){0,4}"
_OPEN, _CLOSE, _SEP = r"\s*[（(]\s*", r"\s*[)）]", r"\s*[,，、;；]\s*"
# 中文（English words[, ACRONYM]）
_CHINESE_FIRST = re.compile(
    rf"({_CJK_RUN}){_OPEN}({_LATIN})(?:{_SEP}([A-Za-z][A-Za-z0-9\-]{{1,9}}))?{_CLOSE}"
)
# English words（中文）, the English starting after anything but Latin text
_ENGLISH_FIRST = re.compile(
    rf"(?<![A-Za-z0-9 \-])({_LATIN}){_OPEN}([\u4e00-\u9fff]{{2,10}}){_CLOSE}"
)
# A Chinese term does not start with a particle, conjunction or pronoun: a boundary misplaced.
_BAD_LEADS = frozenset("的了是在和与及或即为把被将对从就也这那如比只其")
# Words that introduce a term rather than belong to it: the term starts after the last one.
_INTRODUCERS = QUERY_STOPWORDS | frozenset(
    "所以 用 使用 采用 利用 基于 通过 称为 叫做 称作 称之为 就是 也就是 即 所谓 所谓的 这种 "
    "那种 一般 常用 常见 一下 以及 或者 还是 但是 因为 比如 例如 如 而是 叫 称 "
    # enumerations: 二是梯度惩罚 (gradient penalty) is 梯度惩罚
    "一是 二是 三是 四是 五是 其一 其二 其三 首先 其次 再次 最后 然后".split()
)
MIN_CHINESE, MAX_CHINESE = 2, 8
# Votes: a Chinese-first pair proposes two boundaries (one vote each); an English-first pair has
# its boundary given by the parentheses, so it counts as both.
_GIVEN = 2

Pair = tuple[str, str, int]  # english (normalized), chinese, votes
# Posts with the English name that also hold its Chinese term, at least (see `vote`): on the
# shared corpus 0.3 keeps 232 of 308 names and drops those like attention -> 近似地 (8 of 102
# posts) and token -> 某种程度上 (5 of 83); GENERIC then drops 15 more (sbert -> 模型).
ASSOCIATION = 0.3
# A Chinese term in more posts than this share is a common word, not the name of a thing (in an
# archive of GENERIC_MIN_POSTS or more: in a handful of posts any term is in a large share).
GENERIC = 0.2
GENERIC_MIN_POSTS = 50


def normalize_english(text: str) -> str:
    """Lower case, hyphens and runs of spaces as one space: the key a query is looked up by."""
    return re.sub(r"[\s\-]+", " ", text.strip().lower())


def _acronym(word: str) -> bool:
    return 2 <= len(word) <= 6 and word.isalpha() and word.isupper()


def _abbreviates(one: str, other: str) -> bool:
    """Whether one name is the other's acronym (moe, mixture of experts)."""
    for short, long in ((one, other), (other, one)):
        words = long.split()
        if " " not in short and len(words) > 1 and short == "".join(w[0] for w in words):
            return True
    return False


def _term(chinese: str) -> bool:
    return MIN_CHINESE <= len(chinese) <= MAX_CHINESE and chinese[0] not in _BAD_LEADS


def pairs_in(text: str) -> list[Pair]:
    """The (english, chinese, votes) pairs one post proposes."""
    votes: Counter[tuple[str, str]] = Counter()
    for m in _CHINESE_FIRST.finditer(text):
        run, english, acronym = m.group(1), m.group(2), m.group(3)
        keys = [normalize_english(english)]
        if acronym and _acronym(acronym):
            keys.append(normalize_english(acronym))
        k = len(english) if _acronym(english) else min(len(english.split()), 3)
        tokens = segment(run)
        for i in range(len(tokens) - 1, -1, -1):
            if tokens[i] in _INTRODUCERS:
                tokens = tokens[i + 1 :]
                break
        for n in sorted({min(k, len(tokens)), min(k + 1, len(tokens))}):
            chinese = "".join(tokens[-n:])
            if _term(chinese):
                for key in keys:
                    votes[key, chinese] += 1
    for m in _ENGLISH_FIRST.finditer(text):
        english, chinese = m.group(1), m.group(2)
        if _term(chinese):
            votes[normalize_english(english), chinese] += _GIVEN
    return [(en, zh, n) for (en, zh), n in votes.items() if len(en) >= 2]


def vote(
    proposals: Iterable[tuple[str, str, int, int]],
    count_with: Callable[[Sequence[str]], int] | None = None,
    total: int = 0,
) -> dict[str, tuple[str, int]]:
    """{english: (chinese, posts)}: each English name's Chinese term, the one its posts
    proposed most (ties: the longer), from (english, chinese, votes, posts) rows.

    `count_with(texts)` (how many posts hold all of `texts`) filters by association: a name is
    kept only if at least ASSOCIATION of the posts using it use its term too. That drops a
    misplaced boundary on a word the archive uses everywhere (a name glossed once, beside
    prose), and loses little: an English name many posts use is found by its own letters.
    With `total` (the number of posts), a term in more than GENERIC of them is no term (模型,
    实验结果: a boundary cut too short).
    """
    tally: defaultdict[str, Counter[str]] = defaultdict(Counter)
    posts: dict[tuple[str, str], int] = {}
    for english, chinese, votes, n in proposals:
        tally[english][chinese] += votes
        posts[english, chinese] = n
    ranked = {
        english: sorted(counts.items(), key=lambda item: (item[1], len(item[0])), reverse=True)
        for english, counts in tally.items()
    }
    # A term another name proposes more often is that name's, unless one name is the other's
    # acronym (moe, mixture of experts): nope -> 位置编码 lost to position encoding.
    owner: dict[str, tuple[int, str]] = {}
    for english, choices in ranked.items():
        chinese, votes = choices[0]
        if votes > owner.get(chinese, (0, ""))[0]:
            owner[chinese] = (votes, english)
    glossary = {}
    for english, choices in ranked.items():
        free = [
            zh
            for zh, _ in choices
            if owner.get(zh, (0, english))[1] in (english, "")
            or _abbreviates(english, owner[zh][1])
        ]
        if not free:
            continue
        chinese = free[0]
        if count_with is not None:
            using = count_with([english])
            if not using or count_with([english, chinese]) / using < ASSOCIATION:
                continue
            if total >= GENERIC_MIN_POSTS and count_with([chinese]) > GENERIC * total:
                continue
        glossary[english] = (chinese, posts[english, chinese])
    return glossary
