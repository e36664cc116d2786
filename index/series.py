"""Series of posts, read from their titles and confirmed by their links.

The blog numbers its series in the title: `生成扩散模型漫谈（五）：…`, `Transformer升级之路：2、…`,
`流形上的最速下降：3. …`, `X（上）` / `X（下）`, `X系列…`, `X：理论篇` / `X：应用篇`,
`GPLinker：…`, `智能家居之…`. The number
orders the parts; what comes before the marker names the series. Only the first marker of a
title counts (`生成扩散模型漫谈（七）：最优扩散方差估计（上）` is part 7 of one series, not part 1
of another), so no post is ever in two series.

Numbered markers are unambiguous: two posts with the same name make a series. The others
(上/中/下, 系列, a shared `X：` or `X之` prefix) also appear in titles that are not series, so a
group of them is a series only when a link between two of its posts confirms it (the second
part cites the first).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}  # fmt: skip
_CN = "零〇一二两三四五六七八九十百"
_NUMBER = rf"(?:\d{{1,3}}|[{_CN}]{{1,4}})"
_TAIL = r"\s*(?P<rest>.*)$"
_MARKERS: list[tuple[re.Pattern[str], bool]] = [  # (pattern, numbered), the first match wins
    # X（一）… / X（1）…
    (
        re.compile(rf"^(?P<name>.+?)\s*[（(]\s*(?P<n>{_NUMBER})\s*[)）]\s*[：:、.．\-—]?{_TAIL}"),
        True,
    ),
    # X：1、… / X之路：16、… / X：3. …
    (re.compile(rf"^(?P<name>.+?)\s*[：:]\s*(?P<n>{_NUMBER})\s*(?:[、．]|\.(?!\d)){_TAIL}"), True),
    # X（上）/（中）/（下）
    (
        re.compile(rf"^(?P<name>.+?)\s*[（(]\s*(?P<n>[上中下])\s*(?:篇)?[)）]\s*[：:]?{_TAIL}"),
        False,
    ),
    # X系列… (X系列之一, X系列：…)
    (re.compile(rf"^(?P<name>.+?)系列\s*(?:之\s*(?P<n>{_NUMBER}))?\s*[：:、]?{_TAIL}"), False),
    # X：理论篇 / X：应用篇, and any X：… or X之… whose posts cite each other (GPLinker：…)
    (re.compile(r"^(?P<name>.+?)\s*[：:]\s*(?P<rest>.+)$"), False),
    (re.compile(r"^(?P<name>[^之]{2,12}?)之(?P<rest>.+)$"), False),
]
_UPPER_LOWER = {"上": 1, "中": 2, "下": 3}
_NAME_TRIM = " \t⋅·・:：、,，.．-—_"


@dataclass(frozen=True, slots=True)
class TitlePart:
    """What a title says about its series: the series' name as written, the part number (0:
    none; ordered by date), whether the marker was a number, and the title after the marker."""

    name: str
    part: int
    numbered: bool
    rest: str


@dataclass(frozen=True, slots=True)
class Series:
    """A series: its name, its posts in order, and whether a link between them confirms it."""

    name: str
    posts: tuple[int, ...]
    parts: tuple[int, ...]  # each post's part number (0: none, ordered by date)
    confirmed: bool


def chinese_number(text: str) -> int | None:
    """一 -> 1, 十四 -> 14, 二十 -> 20, 三十一 -> 31, 一百零二 -> 102; "12" -> 12."""
    if text.isdigit():
        return int(text)
    total = current = 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current


def series_key(name: str) -> str:
    """A series name with width, case, spaces and punctuation folded (and a trailing 系列
    dropped): the key its parts are grouped by and the name a user types is matched by."""
    text = unicodedata.normalize("NFKC", name).lower()
    key = "".join(c for c in text if unicodedata.category(c)[0] in "LN")
    return key.removesuffix("系列") or key


def parse_title(title: str) -> TitlePart | None:
    """The series marker of a title, or None when it has none."""
    title = title.strip()
    for pattern, numbered in _MARKERS:
        m = pattern.match(title)
        if m is None:
            continue
        name = m.group("name").strip(_NAME_TRIM)
        if len(series_key(name)) < 2:
            continue
        raw = m.groupdict().get("n")
        if raw in _UPPER_LOWER:
            part = _UPPER_LOWER[raw]
        elif raw:
            part = chinese_number(raw) or 0
            if not 0 < part < 1000:
                continue
        else:
            part = 0
        return TitlePart(name, part, numbered, m.group("rest").strip())
    return None


def detect(
    titles: Mapping[int, tuple[str, dt.date | None]], links: Iterable[tuple[int, int]] = ()
) -> list[Series]:
    """Every series among `titles` ({post: (title, date)}), confirmed by `links` ((citing,
    cited) pairs) where the title alone is not enough; largest first, then by name."""
    groups: dict[str, list[tuple[int, TitlePart]]] = {}
    for post_id, (title, _date) in titles.items():
        parsed = parse_title(title)
        if parsed is not None:
            groups.setdefault(series_key(parsed.name), []).append((post_id, parsed))
    linked = {frozenset(pair) for pair in links if pair[0] != pair[1]}
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        ids = {post_id for post_id, _ in members}
        confirmed = any(pair <= ids for pair in linked)
        if not confirmed and not any(p.numbered for _, p in members):
            continue

        def order(item: tuple[int, TitlePart]) -> tuple[int, dt.date, int]:
            post_id, parsed = item
            return parsed.part or 10**6, titles[post_id][1] or dt.date.max, post_id

        members.sort(key=order)
        # The name most parts spell it with (ties: the first part's): stable as parts arrive.
        spellings = Counter(p.name for _, p in members)
        name = spellings.most_common(1)[0][0]
        found.append(
            Series(
                name,
                tuple(post_id for post_id, _ in members),
                tuple(p.part for _, p in members),
                confirmed,
            )
        )
    found.sort(key=lambda s: (-len(s.posts), s.name))
    return found
