"""JSON Lines in the shared corpus format (one post object a line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from corpus.post import Post, Problem

SNIFF_BYTES = 8192  # a NUL byte in the first 8 KiB means a binary file, as git and grep decide


def read_jsonl(path: Path) -> Iterator[Post | Problem]:
    """Posts in file order; each bad line is a Problem naming its line, and so is a second
    record with an id already read from this file (the first copy is kept)."""
    source = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        yield Problem(source, f"cannot read file ({exc.strerror or exc})")
        return
    seen: dict[int, int] = {}
    with fh:
        if b"\0" in fh.read(SNIFF_BYTES):
            yield Problem(source, "not a text file")
            return
        fh.seek(0)
        for lineno, raw in enumerate(fh, 1):
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
