"""The query language: words, "phrases", -exclusions and field filters.

    RoPE 外推 "长度外推" -综述 tag:rope category:信息时代 year:2023 since:2022-06 until:2024

Scanned with one regular expression rather than shlex, because shlex rejects unbalanced quotes and
knows nothing of Chinese quotes “…”; here no input raises except a filter whose value cannot
mean anything (a bad date or year), which is a `QuerySyntaxError` with a one-line message.
Unknown `field:` prefixes are kept as plain text (a URL or `a:b` in LaTeX stays searchable).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, field, replace

from corpus.post import scrub
from index.store import PostMeta
from index.tokenize import normalize


class QuerySyntaxError(ValueError):
    pass


class UnknownFilterError(QuerySyntaxError):
    """A tag or category filter that names nothing in the index (with the nearest names)."""


# Longer queries are refused: their cost grows with the length (10k characters of Chinese took
# 2.2 s), and a paragraph is already more than any search needs.
MAX_QUERY_CHARS = 1000


FIELDS = {
    "title": "title",
    "tag": "tag",
    "series": "series",
    "tags": "tag",
    "category": "category",
    "cat": "category",
    "year": "year",
    "since": "since",
    "after": "since",
    "until": "until",
    "before": "until",
}

_QUOTES = str.maketrans({"“": '"', "”": '"', "＂": '"', "「": '"', "」": '"'})
_PIECE = re.compile(
    r"""(?P<neg>-)?(?:(?P<field>[A-Za-z]+):)?(?:"(?P<quoted>[^"]*)"?|(?P<word>[^\s"]+))|(?P<lone>")"""
)


@dataclass(frozen=True, slots=True)
class Filters:
    """Restrictions that apply to both lexical and semantic retrieval, before fusion."""

    tags: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    series: tuple[str, ...] = ()  # names of series (search.graph), each post in all of them

    def __bool__(self) -> bool:
        return bool(self.tags or self.categories or self.since or self.until or self.series)

    def merged(self, other: Filters) -> Filters:
        return Filters(
            tags=self.tags + tuple(t for t in other.tags if t not in self.tags),
            categories=self.categories
            + tuple(c for c in other.categories if c not in self.categories),
            since=max(filter(None, (self.since, other.since)), default=None),
            until=min(filter(None, (self.until, other.until)), default=None),
            series=self.series + tuple(n for n in other.series if n not in self.series),
        )

    def checked(self) -> Filters:
        """These filters, or a QuerySyntaxError when their dates leave no day."""
        if self.since and self.until and self.since > self.until:
            raise QuerySyntaxError(
                f"the date range is reversed: since {self.since} is after until {self.until}"
            )
        return self

    def matches(self, meta: PostMeta) -> bool:
        if self.tags:
            have = {normalize(t) for t in meta.tags}
            if not all(normalize(t) in have for t in self.tags):
                return False
        if self.categories and normalize(meta.category) not in {
            normalize(c) for c in self.categories
        }:
            return False
        if self.since or self.until:
            if meta.date is None:
                return False
            if self.since and meta.date < self.since:
                return False
            if self.until and meta.date > self.until:
                return False
        return True


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    raw: str
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    title: tuple[str, ...] = ()
    filters: Filters = field(default_factory=Filters)

    @property
    def text(self) -> str:
        """The free text (words and phrases) without operators: what semantic search embeds."""
        return " ".join((*self.words, *self.phrases, *self.title)).strip()

    @property
    def has_text(self) -> bool:
        return bool(self.text)

    def with_filters(self, filters: Filters) -> ParsedQuery:
        return replace(self, filters=self.filters.merged(filters))


def parse_date_bound(value: str, *, end: bool) -> dt.date:
    """`2023`, `2023-05`, `2023-05-17` (also with / or .); `end` picks the last day it covers."""
    m = re.fullmatch(r"(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?", value.strip())
    if not m:
        raise QuerySyntaxError(f"bad date {value!r} (use YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = int(m[1]), m[2], m[3]
    try:
        if month is None:
            return dt.date(year, 12, 31) if end else dt.date(year, 1, 1)
        if day is None:
            last = calendar.monthrange(year, int(month))[1]
            return dt.date(year, int(month), last if end else 1)
        return dt.date(year, int(month), int(day))
    except ValueError:
        raise QuerySyntaxError(f"bad date {value!r}") from None


def parse_years(value: str) -> tuple[dt.date, dt.date]:
    m = re.fullmatch(r"(\d{4})(?:(?:\.\.|-|~)(\d{4})?)?", value.strip())
    if not m:
        raise QuerySyntaxError(f"bad year {value!r} (use year:2023 or year:2020..2022)")
    first = int(m[1])
    last = int(m[2]) if m[2] else (9999 if value.strip().endswith(("..", "-", "~")) else first)
    if last < first:
        raise QuerySyntaxError(f"bad year range {value!r}: {last} is before {first}")
    if first < 1:
        raise QuerySyntaxError(f"bad year {value!r} (years start at 0001)")
    return dt.date(first, 1, 1), dt.date(last, 12, 31)


def parse_query(raw: str) -> ParsedQuery:
    """Parse query text; raises QuerySyntaxError for a bad filter value or a query over
    MAX_QUERY_CHARS (whose cost grows with its length)."""
    raw = scrub(raw)  # invalid UTF-8 in argv arrives as lone surrogates
    if len(raw) > MAX_QUERY_CHARS:
        raise QuerySyntaxError(
            f"the query has {len(raw):,} characters; the limit is {MAX_QUERY_CHARS:,}"
        )
    text = raw.translate(_QUOTES)
    words: list[str] = []
    phrases: list[str] = []
    excluded: list[str] = []
    title: list[str] = []
    tags: list[str] = []
    categories: list[str] = []
    series: list[str] = []
    since: dt.date | None = None
    until: dt.date | None = None
    for m in _PIECE.finditer(text):
        if m["lone"]:
            continue
        neg, name = bool(m["neg"]), m["field"]
        quoted = m["quoted"] is not None
        value = (m["quoted"] if quoted else m["word"] or "").strip()
        kind = FIELDS.get(name.lower()) if name else None
        if name and kind is None:
            # Unknown field: keep the whole piece as text.
            value = f"{name}:{value}"
        if not value:
            if neg and not name and not quoted:
                continue
            if name and kind is None:
                words.append(value)
            continue
        if kind in ("since", "until", "year"):
            if kind == "year":
                lo, hi = parse_years(value)
            else:
                lo = hi = parse_date_bound(value, end=kind == "until")
            if kind in ("since", "year"):
                since = max(since, lo) if since else lo
            if kind in ("until", "year"):
                until = min(until, hi) if until else hi
        elif kind == "tag":
            tags.append(value)
        elif kind == "series":
            series.append(value)
        elif kind == "category":
            categories.append(value)
        elif kind == "title":
            title.append(value)
        elif neg and value.startswith("\\"):
            words.append("-" + value)  # LaTeX's minus (`= -\nabla p`), not an exclusion
        elif neg:
            excluded.append(value)
        elif quoted:
            phrases.append(value)
        else:
            words.append(value)
    return ParsedQuery(
        raw=raw,
        words=tuple(words),
        phrases=tuple(phrases),
        excluded=tuple(excluded),
        title=tuple(title),
        filters=Filters(tuple(tags), tuple(categories), since, until, tuple(series)).checked(),
    )
