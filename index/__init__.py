"""Everything on disk: the store, the BM25 and vector indexes, the models, and the write path.

`index.update(data_dir, sources)` is the write path's one entry point; it loads on first use so
that importing a part of `index` (the lexical query path does) costs nothing more.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from index.indexer import IndexReport, update


def __getattr__(name: str) -> Any:
    if name in ("update", "IndexReport"):
        from index import indexer

        return getattr(indexer, name)
    raise AttributeError(f"module 'index' has no attribute {name!r}")


__all__ = ["IndexReport", "update"]
