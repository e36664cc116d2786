"""Markdown posts with YAML front matter, the form public mirrors of the blog use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from corpus.files import SourceFileError, read_bounded
from corpus.post import Post, Problem, archive_id, parse_post_id, post_url

_LEADING_ID = re.compile(r"^([0-9]+)(?:[-_ .\s]|$)")
_URL_KEYS = ("url", "link", "permalink", "source", "original_url")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors' aliases: front matter never needs them, and a few lines of nested
    aliases (a "billion laughs") expand to billions of strings once a field is read."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in front matter", event.start_mark
            )
        return super().compose_node(parent, index)


class _FrontMatter(YAMLHandler):
    def load(self, fm: str, **kwargs: object) -> Any:
        return yaml.load(fm, Loader=_NoAliasLoader)  # a SafeLoader


def read_markdown_file(path: Path) -> Iterator[Post | Problem]:
    """One file → one post, or a Problem naming the file; never raises: a folder import goes on."""
    source = str(path)
    try:
        text = read_bounded(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        yield Problem(source, "not UTF-8 text")
        return
    except SourceFileError as exc:
        yield Problem(source, str(exc))
        return
    try:
        meta, body = frontmatter.parse(text, handler=_FrontMatter())
    except Exception as exc:  # YAML errors come in several classes; all mean the same here
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        # Marks count from 0 within the front matter, which starts below the opening `---`.
        line = mark.line + 2 if mark is not None else None
        yield Problem(source, f"malformed front matter ({reason})", line)
        return
    if not isinstance(meta, dict):
        yield Problem(source, "front matter is not a mapping")
        return
    try:
        yield _to_post(meta, body, path)
    except ValueError as exc:
        yield Problem(source, str(exc), _field_line(text, str(exc)))


def _field_line(text: str, message: str) -> int | None:
    """The front-matter line of the field a problem names (`'id' is not…`, `date …`)."""
    m = re.match(r"(?:missing (?:or empty )?)?'?(\w+)'?", message)
    if not m:
        return None
    key = re.compile(rf"{re.escape(m.group(1))}\s*:", re.I)
    lines = text.splitlines()
    for lineno, line in enumerate(lines[1:], 2):
        if line.strip() == "---":
            break
        if key.match(line):
            return lineno
    return None


def _url(meta: dict[str, Any], path: Path) -> str:
    """The post's own address; for a note named only by its file (no `id`, no url in its
    front matter) the file itself, never a made-up kexue.fm address."""
    for key in _URL_KEYS:
        value = meta.get(key)
        if not isinstance(value, str):
            continue
        if (found := archive_id(value)) is not None:
            return post_url(found)  # a mirror's address becomes the archive's own
        if value.strip().startswith(("http://", "https://")):
            return value.strip()
    raw = meta.get("id")
    if raw is not None and (found := parse_post_id(str(raw))) is not None:
        return post_url(found)
    return path.resolve().as_uri()


def _to_post(meta: dict[str, Any], body: str, path: Path) -> Post:
    meta = {str(k).lower(): v for k, v in meta.items()}
    post_id = _post_id(meta, path)
    if post_id is None:
        raise ValueError("no post id (front matter 'id', an /archives/<id> url, or <id>-….md)")
    title = meta.get("title")
    if title is not None and not isinstance(title, str):
        title = str(title)  # YAML reads a title such as `2048` as a number
    category = meta.get("category", meta.get("categories"))
    if isinstance(category, list):
        category = category[0] if category else ""
    tags = meta.get("tags", meta.get("tag"))
    if isinstance(tags, list):
        tags = [str(t) for t in tags if t is not None]
    record = {
        "id": post_id,
        "title": title,
        "body": body.strip("\n") if isinstance(body, str) else body,
        "date": meta.get("date"),
        "category": "" if category is None else str(category),
        "tags": tags,
        "url": _url(meta, path),
        "views": meta.get("views"),
    }
    return Post.from_dict(record)


def _post_id(meta: dict[str, Any], path: Path) -> int | None:
    """Explicit `id` first, then a post URL, then the `8747-标题.md` filename convention."""
    raw = meta.get("id")
    if raw is not None and str(raw).strip():
        text = str(raw).strip()
        if (found := parse_post_id(text)) is not None:
            return found
        if (found := archive_id(text)) is not None:
            return found
        raise ValueError(f"'id' is not an integer: {raw!r}")
    for key in _URL_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and (found := archive_id(value)) is not None:
            return found
    if m := _LEADING_ID.match(path.stem):
        return parse_post_id(m.group(1))
    return None
