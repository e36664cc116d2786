"""The query history, kept across runs in the platform's state directory.

One query a line, oldest first, deduplicated and capped. The file is ours but not trusted: a
line with control characters (or a file that is too big or not UTF-8) is dropped rather than
echoed into the query box, and no read or write error ever stops the UI; writes go to a
temporary file renamed over the old one, so a crash leaves the old history or the new one.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

import platformdirs

STATE_ENV = "KEXUE_SEARCH_STATE"  # a directory to keep the state in instead (tests)
LIMIT = 500
MAX_QUERY = 1000  # characters; a longer line is not a query anyone typed
MAX_FILE = 1 << 20  # bytes; a larger file is not our history
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def state_dir() -> Path:
    """Where the UI keeps its state: `$KEXUE_SEARCH_STATE`, else the platform's state dir."""
    return Path(os.environ.get(STATE_ENV) or platformdirs.user_state_dir("kexue-search"))


def clean(query: str) -> str | None:
    """`query` as an entry (stripped), or None when it is empty or not something typed."""
    query = query.strip()
    if not query or len(query) > MAX_QUERY or _CONTROL.search(query):
        return None
    return query


def read_entries(path: Path) -> list[str]:
    """The entries in `path`, oldest first; nothing for a missing, unreadable or corrupt file."""
    try:
        if path.stat().st_size > MAX_FILE:
            return []
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    entries: dict[str, None] = {}
    for line in text.split("\n"):
        entry = clean(line)
        if entry is not None:
            entries.pop(entry, None)  # a repeat counts where it was last used
            entries[entry] = None
    return list(entries)[-LIMIT:]


class History:
    """Queries, oldest first. `add` moves a query to the newest place and saves at once.

    Saving re-reads the file and puts this session's queries after what is there, so two UIs
    open at once both keep theirs (and the other's order is not disturbed).
    """

    def __init__(self, path: Path | None, limit: int = LIMIT) -> None:
        """`path=None` keeps the history in memory only."""
        self.path = path
        self.limit = limit
        self.entries: list[str] = read_entries(path)[-limit:] if path is not None else []
        self._added: list[str] = []  # by this session, oldest first
        self._removed: set[str] = set()  # replaced by this session: not merged back
        self.error: str | None = None  # why the last save failed

    @classmethod
    def default(cls) -> History:
        return cls(state_dir() / "history")

    def add(self, query: str, *, replace_last: bool = False) -> bool:
        """Make `query` the newest entry (`replace_last`: instead of the newest one); saved.
        False when it is not a query to keep."""
        entry = clean(query)
        if entry is None:
            return False
        if replace_last and self.entries and self.entries[-1] != entry:
            replaced = self.entries.pop()
            self._removed.add(replaced)
            if replaced in self._added:
                self._added.remove(replaced)
        for entries in (self.entries, self._added):
            if entry in entries:
                entries.remove(entry)
            entries.append(entry)
        self._removed.discard(entry)
        del self.entries[: -self.limit]
        del self._added[: -self.limit]
        self.save()
        return True

    def save(self) -> None:
        if self.path is None:
            return
        added = set(self._added)
        disk = read_entries(self.path)
        kept = [e for e in disk if e not in added and e not in self._removed]
        merged = (kept + self._added)[-self.limit :]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".history-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                    f.write("".join(f"{e}\n" for e in merged))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            self.error = str(exc)
        else:
            self.error = None
            self.entries = merged
