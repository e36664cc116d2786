"""Pick a reader by what a source is: a URL, a JSON Lines, markdown or HTML file, or a folder."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from pathlib import Path

from corpus.post import Post, Problem

MARKDOWN_SUFFIXES = {".md", ".markdown"}
HTML_SUFFIXES = {".html", ".htm"}
JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def read_file(path: Path) -> Iterator[Post | Problem]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        from corpus.jsonl import read_jsonl

        yield from read_jsonl(path)
    elif suffix in MARKDOWN_SUFFIXES:
        from corpus.markdown import read_markdown_file

        yield from read_markdown_file(path)
    elif suffix in HTML_SUFFIXES:
        from corpus.html import read_html_file

        yield from read_html_file(path)
    else:
        yield Problem(str(path), f"unsupported file type {suffix or '(none)'!r}")


def read_source(
    source: str | Path,
    *,
    known_ids: Container[int] = (),
    crawl_state: Path | None = None,
    on_status: Callable[[str], None] | None = None,
) -> Iterator[Post | Problem]:
    """Yield posts (and problems) from a file, a folder (recursively) or a kexue.fm URL.

    `known_ids` and `crawl_state` only matter for URLs: the crawler skips posts already stored
    and keeps HTTP validators in `crawl_state` for conditional re-checks.
    """
    text = str(source)
    if is_url(text):
        from corpus.crawler import crawl

        yield from crawl(text, known_ids=known_ids, state_path=crawl_state, on_status=on_status)
        return
    path = Path(source).expanduser()
    if not path.exists():
        yield Problem(text, "no such file or folder")
    elif path.is_dir():
        suffixes = MARKDOWN_SUFFIXES | HTML_SUFFIXES | JSONL_SUFFIXES
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            yield Problem(text, "folder holds no .jsonl, .md or .html files")
        for file in files:
            yield from read_file(file)
    else:
        yield from read_file(path)
