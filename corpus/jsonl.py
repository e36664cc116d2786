"""JSON Lines in the shared corpus format (one post object a line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from corpus.files import MAX_FILE_BYTES, SourceFileError, regular_file
from corpus.post import Post, Problem

SNIFF_BYTES = 8192  # a NUL byte in the first 8 KiB means a binary file, as git and grep decide


def _lines(fh: BinaryIO) -> Iterator[bytes | None]:
    """The file's lines, each read within MAX_FILE_BYTES; None for a longer one (skipped to its
    end without holding it: a file with no newline in a gigabyte is read in bounded memory)."""
    while True:
        line = fh.readline(MAX_FILE_BYTES + 1)
        if not line:
            return
        if len(line) <= MAX_FILE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while line and not line.endswith(b"\n"):
            line = fh.readline(MAX_FILE_BYTES)
        yield None


def read_jsonl(path: Path) -> Iterator[Post | Problem]:
    """Posts in file order; each bad line is a Problem naming its line, and so is a second
    record with an id already read from this file (the first copy is kept)."""
    source = str(path)
    try:
        regular_file(path)  # a FIFO or a device would block or never end
        fh = path.open("rb")
    except SourceFileError as exc:
        yield Problem(source, str(exc))
        return
    except OSError as exc:
        yield Problem(source, f"cannot read file ({exc.strerror or exc})")
        return
    seen: dict[int, int] = {}
    with fh:
        if b"\0" in fh.read(SNIFF_BYTES):
            yield Problem(source, "not a text file")
            return
        fh.seek(0)
        first = fh.readline(MAX_FILE_BYTES + 1).removeprefix(b"\xef\xbb\xbf").strip()
        fh.seek(0)
        if first == b"{" or first.startswith(b"["):  # one JSON document, not a line per post
            data = fh.read(MAX_FILE_BYTES + 1)
            if len(data) > MAX_FILE_BYTES:
                yield Problem(source, f"a JSON document over {MAX_FILE_BYTES / 2**20:g} MB")
                return
            yield from _read_document(data, source)
            return
        for lineno, raw in enumerate(_lines(fh), 1):
            if raw is None:  # a post holds at most a million characters: 4 MB of UTF-8
                yield Problem(source, f"line longer than {MAX_FILE_BYTES / 2**20:g} MB", lineno)
                continue
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield Problem(source, f"not valid UTF-8 (byte {exc.start + 1} of the line)", lineno)
                continue
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Problem(source, f"malformed JSON ({exc.msg})", lineno)
                continue
            except RecursionError:
                yield Problem(source, "malformed JSON (nested too deeply)", lineno)
                continue
            except ValueError as exc:  # a number of over 4,300 digits: int() refuses it
                yield Problem(source, f"malformed JSON ({str(exc).split(':')[0]})", lineno)
                continue
            try:
                post = Post.from_dict(record)
            except ValueError as exc:
                yield Problem(source, str(exc), lineno)
                continue
            if post.id in seen:
                note = f"duplicate id {post.id} (first at line {seen[post.id]}; skipped)"
                yield Problem(source, note, lineno)
                continue
            seen[post.id] = lineno
            yield post


def _read_document(data: bytes, source: str) -> Iterator[Post | Problem]:
    """A file of whole JSON documents rather than a line per post: a post as `search show
    --json` prints it, an array of posts, or several of either one after the other (`for i in
    1 2; do search show $i --json; done > posts.json`). Problems name the record (its place
    in the file, counting posts) and, for malformed JSON, the line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Problem(source, f"not valid UTF-8 (byte {exc.start + 1})")
        return
    decoder = json.JSONDecoder()
    records: list[object] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            break
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            yield Problem(source, f"malformed JSON ({exc.msg})", exc.lineno)
            break  # the posts before it are read
        except RecursionError:
            yield Problem(source, "malformed JSON (nested too deeply)")
            break
        records.extend(document if isinstance(document, list) else [document])
    seen: set[int] = set()
    for number, record in enumerate(records, 1):
        where = f" (record {number})" if len(records) > 1 else ""
        try:
            post = Post.from_dict(record)  # type: ignore[arg-type]
        except ValueError as exc:
            yield Problem(source, f"{exc}{where}")
            continue
        if post.id in seen:
            yield Problem(source, f"duplicate id {post.id}{where}; skipped")
            continue
        seen.add(post.id)
        yield post
