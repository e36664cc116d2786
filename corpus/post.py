"""The one normalized shape every reader produces."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

SITE = "https://kexue.fm"
# What a post may hold. Ids and view counts are stored as 64-bit integers (SQLite, Tantivy);
# dates must fit the indexes' date fields (Tantivy: nanoseconds since 1970 in an i64, so
# 1677-09-21..2262-04-11, with a day to spare on each side); the longest post of the shared
# corpus has 34k characters, so a million is ample and keeps one post's indexing bounded
# (tokenizing, snippets and chunking are linear in it, but a 16 MB body took 2 GB to index).
MAX_INT = 2**63 - 1
FIRST_DATE = dt.date(1677, 9, 22)
LAST_DATE = dt.date(2262, 4, 10)
MAX_BODY_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000
# Lone surrogates (from JSON's "\ud800" escapes) are not text: no UTF-8 encoder takes them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD, so that it can be stored and encoded."""
    return _SURROGATE.sub("\ufffd", text)


# A post's address on the site: /archives/<id>, then a path, query, suffix or nothing.
_ARCHIVE_PATH = re.compile(r"/archives/([0-9]+)(?!\w)")


def post_url(post_id: int) -> str:
    return f"{SITE}/archives/{post_id}"


def archive_id(text: str) -> int | None:
    """The post id in a kexue.fm address (or a path like `saved/archives/8265.html`)."""
    m = _ARCHIVE_PATH.search(text)
    return parse_post_id(m.group(1)) if m else None


def parse_post_id(text: str) -> int | None:
    """`text` as a post id: ASCII digits naming a positive 64-bit integer, else None.

    `str.isdigit` also takes `²` and `①`, which `int` refuses, and `int` refuses more than
    4,300 digits with a ValueError: untrusted ids (an argument, a link on a page) come here."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > len(str(MAX_INT)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_INT else None


# The archive's hosts as a user pastes them: with or without a scheme, `//` or `www.`.
_SITE_ADDRESS = re.compile(
    r"(?:https?:)?(?://)?(?:www\.)?(?:kexue\.fm|spaces\.ac\.cn)(?:[:/?#]|$)", re.IGNORECASE
)


def post_ref(text: str) -> int | None:
    """The post a user names: its archive number, or its address as pasted (kexue.fm or
    spaces.ac.cn, with or without the scheme or `www.`; with a scheme, any address of an
    /archives/ID page). None when `text` names no post an index could hold."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return parse_post_id(text)
    if _SITE_ADDRESS.match(text):
        text = "https://" + re.sub(r"^(?:https?:)?//", "", text, flags=re.IGNORECASE)
    m = _ARCHIVE_PATH.search(text) if text.lower().startswith(("http://", "https://")) else None
    return parse_post_id(m.group(1)) if m else None


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
        """Refuse (ValueError) what no index could hold, so a bad record is reported by the
        reader and never poisons the data directory."""
        if isinstance(self.id, bool) or not isinstance(self.id, int) or not 0 < self.id <= MAX_INT:
            raise ValueError(f"'id' must be a positive 64-bit integer: {self.id!r}")
        if self.views is not None and (
            isinstance(self.views, bool)
            or not isinstance(self.views, int)
            or not 0 <= self.views <= MAX_INT
        ):
            raise ValueError(f"'views' must be a non-negative 64-bit integer: {self.views!r}")
        if self.date is not None and not FIRST_DATE <= self.date <= LAST_DATE:
            raise ValueError(f"date {self.date.isoformat()} is outside {FIRST_DATE}..{LAST_DATE}")
        if len(self.body) > MAX_BODY_CHARS:
            raise ValueError(f"body of {len(self.body):,} characters (limit {MAX_BODY_CHARS:,})")
        if len(self.title) > MAX_TITLE_CHARS:
            raise ValueError(f"title of {len(self.title):,} characters (limit {MAX_TITLE_CHARS:,})")
        for name in ("title", "body", "category", "url"):
            object.__setattr__(self, name, scrub(getattr(self, name)))
        if not self.url:
            object.__setattr__(self, "url", post_url(self.id))
        object.__setattr__(self, "tags", tuple(scrub(t) for t in self.tags))

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
        if "id" not in d and "post_id" in d:  # as `search show --json` prints it
            d = {**d, "id": d["post_id"]}
        if "id" not in d:
            raise ValueError("missing 'id'")
        post_id = _integer(d["id"], "id")
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
            views = _integer(views, "views")
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


def _integer(value: Any, name: str) -> int:
    """An integer from JSON or YAML: an int, an integral float, or a string of digits; never a
    boolean (`true` would become 1) and never a fraction."""
    if isinstance(value, bool):
        raise ValueError(f"'{name}' is not an integer: {value!r}")
    if isinstance(value, float):
        if not value.is_integer():  # also inf and nan
            raise ValueError(f"'{name}' is not an integer: {value!r}")
        value = int(value)
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ValueError(f"'{name}' is not an integer: {value!r}")
    if abs(value) > MAX_INT:
        raise ValueError(f"'{name}' does not fit in 64 bits: {value}")
    return value


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
