"""The one normalized shape every reader produces."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

SITE = "https://kexue.fm"
# A post's address on the site: /archives/<id>, then a path, query, suffix or nothing.
_ARCHIVE_PATH = re.compile(r"/archives/(\d+)(?!\w)")


def post_url(post_id: int) -> str:
    return f"{SITE}/archives/{post_id}"


def archive_id(text: str) -> int | None:
    """The post id in a kexue.fm address (or a path like `saved/archives/8265.html`)."""
    m = _ARCHIVE_PATH.search(text)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Post:
    """A blog post. `id` is the archive number of https://kexue.fm/archives/<id>."""

    id: int
    title: str
    body: str
    date: dt.date | None = None
    category: str = ""
    tags: tuple[str, ...] = ()
    url: str = ""
    views: int | None = None

    def __post_init__(self) -> None:
        if not self.url:
            object.__setattr__(self, "url", post_url(self.id))
        object.__setattr__(self, "tags", tuple(self.tags))

    @property
    def content_hash(self) -> str:
        """Hash of everything that is indexed; `views` changes daily and is left out."""
        payload = json.dumps(
            [
                self.id,
                self.title,
                self.body,
                self.iso_date,
                self.category,
                list(self.tags),
                self.url,
            ],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]

    @property
    def iso_date(self) -> str | None:
        return self.date.isoformat() if self.date else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["date"] = self.iso_date
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Post:
        """Build from a JSON-like mapping; raises ValueError with a short reason when invalid."""
        if not isinstance(d, dict):
            raise ValueError("record is not a JSON object")
        try:
            post_id = int(d["id"])
        except KeyError:
            raise ValueError("missing 'id'") from None
        except (TypeError, ValueError):
            raise ValueError(f"'id' is not an integer: {d['id']!r}") from None
        if post_id <= 0:
            raise ValueError(f"'id' must be positive: {post_id}")
        title = d.get("title")
        if not isinstance(title, str) or not title.strip():
            raise ValueError("missing or empty 'title'")
        body = d.get("body", "")
        if not isinstance(body, str):
            raise ValueError("'body' is not a string")
        tags = d.get("tags") or []
        if isinstance(tags, str):
            tags = [t for t in (x.strip() for x in tags.replace("，", ",").split(",")) if t]
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise ValueError("'tags' is not a list of strings")
        views = d.get("views")
        if views is not None:
            try:
                views = int(views)
            except (TypeError, ValueError):
                raise ValueError(f"'views' is not an integer: {views!r}") from None
        category = d.get("category") or ""
        if not isinstance(category, str):
            raise ValueError("'category' is not a string")
        return cls(
            id=post_id,
            title=title.strip(),
            body=body,
            date=parse_date(d.get("date")),
            category=category.strip(),
            tags=tuple(t.strip() for t in tags if t.strip()),
            url=str(d.get("url") or "") or post_url(post_id),
            views=views,
        )


def parse_date(value: Any) -> dt.date | None:
    """Accept a date, a datetime, or an ISO-like string (`2020-07-04`, `2020-07-04 10:00`)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip().replace("/", "-")
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise ValueError(f"unreadable date: {value!r}")


@dataclass(frozen=True, slots=True)
class Problem:
    """A record a reader could not use: where it was and why. Readers yield these, never raise."""

    source: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"
