"""The FAISS index over passage vectors, keyed by the store's passage (chunk) ids.

Exact inner product (flat) by default: below ~100k vectors a scan takes about a millisecond.
HNSW is available for archives large enough to need it. Saved atomically (temporary file, then
rename), so a crash never leaves a half-written index.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from index.errors import CorruptIndexError

if TYPE_CHECKING:
    import numpy as np

VectorIndexKind = Literal["flat", "hnsw"]
FILE = "passages.faiss"


def extra_path(vectors: Path, slug: str) -> Path:
    """Where an extra ensemble model keeps its index: a folder inside the primary's, so that
    everything derived from the passages lives (and is removed) together."""
    return vectors / slug


def _faiss():  # imported lazily: a lexical query has no use for it
    import faiss

    return faiss


class VectorIndex:
    def __init__(self, index, path: Path) -> None:  # index: faiss.IndexIDMap2
        self.index = index
        self.path = path

    @classmethod
    def create(cls, path: Path, dim: int, kind: VectorIndexKind = "flat") -> VectorIndex:
        faiss = _faiss()
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = 128
        else:
            base = faiss.IndexFlatIP(dim)
        return cls(faiss.IndexIDMap2(base), path)

    @classmethod
    def exists(cls, path: Path) -> bool:
        return (path / FILE).is_file()

    @classmethod
    def open(cls, path: Path) -> VectorIndex:
        faiss = _faiss()
        if not (path / FILE).is_file():
            raise CorruptIndexError(f"the vector index {path / FILE} is missing")
        try:
            index = faiss.read_index(str(path / FILE))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise CorruptIndexError(f"the vector index at {path} is unreadable ({first})") from None
        if not hasattr(index, "id_map"):  # a FAISS file, but not one this program writes
            raise CorruptIndexError(f"the vector index at {path} is not an id-mapped index")
        return cls(index, path)

    @property
    def exact(self) -> bool:
        """Whether this is a flat index (an exact scan), rather than an approximate one."""
        faiss = _faiss()
        return isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        import numpy as np

        return _faiss().vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import numpy as np

        if len(ids):
            self.index.add_with_ids(
                np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64)
            )

    def remove(self, ids: np.ndarray | list[int]) -> None:
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if len(ids):
            self.index.remove_ids(_faiss().IDSelectorBatch(ids))

    def search(
        self, query: np.ndarray, k: int, *, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) for one query vector; `allowed` restricts to these ids."""
        import numpy as np

        faiss = _faiss()
        k = min(k, len(self))
        if k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(
                sel=faiss.IDSelectorBatch(np.asarray(allowed, np.int64))
            )
        # One query on one OpenMP thread: the scan takes ~0.3 ms, and a thread team left
        # spinning afterwards slowed the rest of a semantic search from ~2 to ~8 ms (2 cores).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.index.search(q, k, params=params)
        finally:
            faiss.omp_set_num_threads(threads)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def reconstruct(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of these passage ids, one row each (one FAISS call)."""
        import numpy as np

        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        final = self.path / FILE
        tmp = self.path / f".{FILE}.{os.getpid()}.tmp"
        _faiss().write_index(self.index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        if final.is_dir() and not final.is_symlink():  # whatever stood there, it is not ours
            shutil.rmtree(final)
        os.replace(tmp, final)

    def disk_size(self) -> int:
        f = self.path / FILE
        return f.stat().st_size if f.exists() else 0
