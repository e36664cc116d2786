"""JSON Lines in the shared corpus format (one post object a line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from corpus.post import Post, Problem


def read_jsonl(path: Path) -> Iterator[Post | Problem]:
    source = str(path)
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield Problem(source, f"malformed JSON ({exc.msg})", lineno)
                continue
            try:
                yield Post.from_dict(record)
            except ValueError as exc:
                yield Problem(source, str(exc), lineno)
