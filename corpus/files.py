"""Reading a source file within bounds: a path may name anything (a symlink to /dev/zero or
/dev/urandom, a FIFO, a huge file), and a reader must end with a post or a Problem, not hang
or run out of memory."""

from __future__ import annotations

import stat
from pathlib import Path

# A saved page or a markdown post is read whole. The crawler keeps at most 8 MB of a page and a
# post holds at most 1,000,000 characters (4 MB of UTF-8 at most), so 8 MB bounds both.
MAX_FILE_BYTES = 8 * 2**20


class SourceFileError(Exception):
    """Why a file cannot be read as a source (its message is a Problem's)."""


def regular_file(path: Path) -> None:
    """Raise SourceFileError unless `path` (symlinks followed) is a regular file: reading a
    device or a FIFO could block forever or never end."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SourceFileError(f"cannot read file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise SourceFileError("not a regular file")


def read_bounded(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, else SourceFileError."""
    regular_file(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SourceFileError(f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SourceFileError(f"file larger than {limit / 2**20:g} MB")
    return data
