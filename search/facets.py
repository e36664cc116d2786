"""Facets: the tags and categories of the archive with their post counts, and the check that
a filter names one of them."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from index.store import PostMeta
from index.tokenize import normalize
from search.query import Filters, UnknownFilterError

FacetSort = Literal["count", "newest", "name"]


def nearest(value: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` of `names` that look like `value`: containing it (or contained in it) first,
    then close spellings."""
    names = list(names)
    low = normalize(value)
    by_low = {normalize(x): x for x in names}
    inside = [x for key, x in by_low.items() if low and (low in key or key in low)]
    close = [by_low[k] for k in difflib.get_close_matches(low, by_low, n=n, cutoff=0.6)]
    return list(dict.fromkeys(inside + close))[:n]


@dataclass(frozen=True, slots=True)
class Facet:
    """A tag or category value with its post count and newest post's date."""

    value: str
    count: int
    latest: dt.date | None

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "count": self.count,
            "latest": self.latest.isoformat() if self.latest else None,
        }


def facet_counts(
    posts: Iterable[PostMeta], field: Literal["tag", "category"], sort: FacetSort = "count"
) -> list[Facet]:
    """Every value of `field` with its post count and newest post's date, sorted by "count"
    (most first), "newest" (latest post first) or "name"."""
    if sort not in ("count", "newest", "name"):
        raise ValueError(f"unknown facet sort {sort!r} (use count, newest or name)")
    never = dt.date.min
    counts: dict[str, int] = {}
    latest: dict[str, dt.date] = {}
    for m in posts:
        for value in m.tags if field == "tag" else [m.category] if m.category else []:
            counts[value] = counts.get(value, 0) + 1
            latest[value] = max(latest.get(value, never), m.date or never)
    found = [Facet(v, n, latest[v] if latest[v] != never else None) for v, n in counts.items()]
    if sort == "count":
        return sorted(found, key=lambda f: (-f.count, f.value))
    if sort == "newest":
        return sorted(found, key=lambda f: (-(f.latest or never).toordinal(), f.value))
    return sorted(found, key=lambda f: f.value)


def check_filters(filters: Filters, *, tags: Iterable[str], categories: Iterable[str]) -> None:
    """A tag or category that no post has is an UnknownFilterError naming the nearest real
    ones, not a silent empty result."""
    for kind, wanted, known in (
        ("tag", filters.tags, list(tags)),
        ("category", filters.categories, list(categories)),
    ):
        have = {normalize(k) for k in known}
        for value in wanted:
            if normalize(value) in have:
                continue
            near = nearest(value, known)
            # Tags and categories are post data: shown as repr when not printable, so that an
            # escape sequence in one is text in the message wherever it is printed (CLI, TUI).
            near = [n if n.isprintable() else repr(n) for n in near]
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            shown = value if value.isprintable() else repr(value)  # one line, always
            raise UnknownFilterError(f"no {kind} {shown}{hint}")
