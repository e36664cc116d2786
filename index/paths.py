"""Where the data directory is and what lives in it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index.errors import DataError

ENV_VAR = "KEXUE_SEARCH_DATA"


def default_data_dir() -> Path:
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("kexue-search", appauthor=False))


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @classmethod
    def resolve(cls, path: str | Path | None = None) -> DataDir:
        """The data directory at `path` (`~` expanded), or the default one."""
        try:
            return cls(Path(path).expanduser() if path else default_data_dir())
        except RuntimeError as exc:  # `~nouser/…`: no such user, no home to expand
            raise DataError(f"cannot use the data directory {str(path)!r} ({exc})") from None

    @property
    def store(self) -> Path:
        return self.root / "store.sqlite"

    @property
    def lexical(self) -> Path:
        return self.root / "lexical"

    @property
    def vectors(self) -> Path:
        return self.root / "vectors"

    @property
    def lock(self) -> Path:
        return self.root / "write.lock"

    @property
    def crawl_state(self) -> Path:
        return self.root / "crawl-state.json"
