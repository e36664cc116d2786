"""The FAISS index over passage vectors, keyed by the store's passage (chunk) ids, and the
vectors themselves in a memory-mapped file beside it.

Exact inner product (flat) by default: the search scans the memory-mapped matrix (a few
milliseconds at 10k passages). Past APPROXIMATE_FROM passages a default ("flat") index is built
as an inverted file (IVF, 8-bit codes) instead, which FAISS searches over a few lists; the
candidates it finds are rescored exactly from the matrix. HNSW is available on request. Every
file is saved atomically (temporary file, then rename), so a crash never leaves a half-written
one, and the ids of both files are compared on opening, so a crash between the two renames is a
CorruptIndexError (which `search index` and `search check --repair` rebuild from the cache).
"""

from __future__ import annotations

import math
import mmap
import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Literal

from index.errors import CorruptIndexError

if TYPE_CHECKING:
    import numpy as np

VectorIndexKind = Literal["flat", "hnsw"]
FILE = "passages.faiss"
MATRIX = "passages.vectors.npy"  # (id, vector) rows sorted by id, memory-mapped by readers

# A default index holding this many passages or more is an IVF, not a flat scan. The exact scan
# costs ~0.2 us a passage a search (100x, 840k passages: 171 ms) and a hybrid query makes four.
# At 10x (84k passages), one retriever search on a quiet machine: exact 8 ms, IVF 4 ms (64 lists
# probed of 292); the 1x archive (8.4k) stays well below, exact and unchanged (eval identical).
APPROXIMATE_FROM = 50_000
# IVF lists: about sqrt(n) (the usual rule: 917 at 840k passages, ~900 a list). Lists probed a
# search: a tenth of them, at least 64. At 10x (292 lists), semantic recall@100 of the exact
# scan's top posts (bench/bench_scale.py, tie-aware; twice the passages asked, SemanticConfig):
# e5 / USE 0.895 / 0.963 probing 32, 0.983 / 0.992 probing 64, 0.998 / 0.997 probing 128.
# 100x's recall is no measure (every text a hundred times: any probe finds a copy), so the 10x
# vectors were put in 917 lists, 100x's partition of the same texts: e5 / USE 0.957 / 0.977
# probing 64, 0.983 / 0.982 probing 80, 0.985 / 0.985 probing 91 (a tenth), 0.993 / 0.990
# probing 114 (an eighth, before). At 100x, 114 -> 91 probes: a search 9.5 -> 7.4 ms (e5), 16.6
# -> 13.4 ms (USE).
IVF_MIN_PROBE = 64
IVF_PROBE_SHARE = 10
ID_BLOCK_BYTES = 64 << 20  # matrix read this much at a time for its ids (then dropped)
IVF_TRAIN_PER_LIST = 64  # k-means sample: FAISS warns below 39 a list
# `block_scores` reads candidate posts' rows into a buffer of this size, reused by its thread
# (at least one post: the largest block): 1,300 rows of e5, 1,000 of USE.
READ_BUFFER_BYTES = 2 << 20


def model_path(vectors: Path, slug: str, *, primary: bool) -> Path:
    """Where a model of the ensemble keeps its index: the primary in `vectors` itself, every
    other model in a folder inside it named by its slug, so that everything derived from the
    passages lives (and is removed) together."""
    return vectors if primary else vectors / slug


def _faiss():  # imported lazily: a lexical query has no use for it
    import faiss

    return faiss


def _probes(lists: int) -> int:
    return min(lists, max(IVF_MIN_PROBE, lists // IVF_PROBE_SHARE))


def _rows_dtype(dim: int):
    import numpy as np

    return np.dtype([("id", "<i8"), ("vector", "<f4", (dim,))])


class VectorIndex:
    """A FAISS index (searched when approximate) and the passage vectors (`ids`, `matrix`: rows
    sorted by id; memory-mapped once saved, so readers hold only the pages they touch)."""

    def __init__(
        self, index, path: Path, rows: np.ndarray | None = None, file: BinaryIO | None = None
    ) -> None:
        import numpy as np

        self._file = file  # the mapped matrix file, open: `read_rows` reads it
        self._buffers = threading.local()  # `block_scores`' read buffer, one a thread

        # index: faiss.IndexIDMap2 over a flat or HNSW index, or a faiss.IndexIVF (own ids)
        self.index = index
        self.path = path
        self._rows = rows if rows is not None else np.zeros(0, _rows_dtype(int(index.d)))
        self._ids = _column_ids(self._rows)  # in memory: looked up on every search

    @classmethod
    def create(
        cls, path: Path, dim: int, kind: VectorIndexKind = "flat", size: int = 0
    ) -> VectorIndex:
        """A new empty index for `size` passages: a default ("flat") one of APPROXIMATE_FROM
        passages or more is an IVF, trained on its first `add`."""
        faiss = _faiss()
        if kind == "hnsw":
            base = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = 128
        elif not cls.exact_for(size):
            lists = max(1, round(math.sqrt(size)))
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, lists, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
            )
            ivf.own_fields = True
            quantizer.this.disown()
            ivf.nprobe = _probes(lists)
            return cls(ivf, path)
        else:
            base = faiss.IndexFlatIP(dim)
        return cls(faiss.IndexIDMap2(base), path)

    @staticmethod
    def exact_for(passages: int) -> bool:
        """Whether a default index of this many passages is a flat scan (else an IVF)."""
        return passages < APPROXIMATE_FROM

    @classmethod
    def exists(cls, path: Path) -> bool:
        return (path / FILE).is_file()

    @classmethod
    def open(cls, path: Path) -> VectorIndex:
        import numpy as np

        faiss = _faiss()
        if not (path / FILE).is_file():
            raise CorruptIndexError(f"the vector index {path / FILE} is missing")
        try:
            index = faiss.read_index(str(path / FILE))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "unreadable"
            raise CorruptIndexError(f"the vector index at {path} is unreadable ({first})") from None
        if not hasattr(index, "id_map") and not isinstance(index, faiss.IndexIVF):
            raise CorruptIndexError(f"the vector index at {path} is not an id-mapped index")
        if isinstance(index, faiss.IndexIVF):
            index.nprobe = _probes(index.nlist)
        matrix = path / MATRIX
        if not matrix.is_file():
            return cls._from_older_version(index, path)
        try:
            file, rows = _mapped(matrix)
        except (ValueError, OSError, EOFError) as exc:
            raise CorruptIndexError(
                f"the passage vectors {matrix} are unreadable ({exc})"
            ) from None
        if rows.dtype != _rows_dtype(int(index.d)) or rows.ndim != 1:
            raise CorruptIndexError(f"the passage vectors {matrix} are not this index's")
        vectors = cls(index, path, rows, file)
        if not np.array_equal(np.sort(vectors._faiss_ids()), vectors.ids()):
            raise CorruptIndexError(
                f"the passage vectors {matrix} are out of step with {path / FILE}"
            )
        return vectors

    @classmethod
    def _from_older_version(cls, index, path: Path) -> VectorIndex:
        """An index written before the matrix file existed: FAISS's own copy of the vectors,
        read into memory as every search did then, so an upgrade keeps semantic search working
        until `search index` or `check --repair` writes the matrix (`missing_matrix` says so).
        An IVF keeps only lossy codes: without its matrix it is damaged."""
        import numpy as np

        matrix = path / MATRIX
        if not hasattr(index, "id_map"):
            raise CorruptIndexError(f"the passage vectors {matrix} are missing")
        ids = np.sort(_faiss().vector_to_array(index.id_map).astype(np.int64))
        rows = np.zeros(len(ids), _rows_dtype(int(index.d)))
        rows["id"] = ids
        if len(ids):
            rows["vector"] = index.reconstruct_batch(ids)
        return cls(index, path, rows)

    @property
    def missing_matrix(self) -> bool:
        """Whether the matrix file is absent (an index from before it existed)."""
        return not (self.path / MATRIX).is_file()

    def _faiss_ids(self) -> np.ndarray:
        import numpy as np

        faiss = _faiss()
        if hasattr(self.index, "id_map"):
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    @property
    def exact(self) -> bool:
        """Whether this is a flat index (an exact scan), rather than an approximate one."""
        faiss = _faiss()
        if not hasattr(self.index, "id_map"):
            return False
        return isinstance(faiss.downcast_index(self.index.index), faiss.IndexFlat)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        """Every passage id held, ascending."""
        return self._ids

    @property
    def matrix(self) -> np.ndarray:
        """One row per passage, in the order of `ids` (a view of the memory-mapped file)."""
        import numpy as np

        return self._rows["vector"].view(np.ndarray)  # no np.memmap overhead on indexing

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        import numpy as np

        if not len(ids):
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, np.int64)
        if not self.index.is_trained:  # an IVF: its lists from a sample of the first vectors
            lists = self.index.nlist
            sample = min(len(vectors), lists * IVF_TRAIN_PER_LIST)
            pick = np.random.default_rng(0).choice(len(vectors), sample, replace=False)
            self.index.train(vectors[np.sort(pick)])
        self.index.add_with_ids(vectors, ids)
        new = np.zeros(len(ids), self._rows.dtype)
        new["id"], new["vector"] = ids, vectors
        if len(self._rows) == 0 and bool(np.all(ids[1:] > ids[:-1])):
            self._rows = new  # a build: ids come ascending; no concatenation, no reordering
        else:
            rows = np.concatenate([np.asarray(self._rows), new])
            self._rows = rows[np.argsort(rows["id"], kind="stable")]
        self._ids = np.array(self._rows["id"])

    def remove(self, ids: np.ndarray | list[int]) -> None:
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        if len(ids):
            self.index.remove_ids(_faiss().IDSelectorBatch(ids))
            self._rows = np.asarray(self._rows)[~np.isin(self._ids, ids)]
            self._ids = np.array(self._rows["id"])

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
        sel = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, np.int64))
        if isinstance(self.index, faiss.IndexIVF):
            params = faiss.SearchParametersIVF(sel=sel, nprobe=self.index.nprobe)
        else:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
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

    def read_rows(self, start: int, count: int) -> np.ndarray:
        """`matrix[start : start + count]`, read from the file rather than through the map. A
        mapped read maps the page cache's folios whole: 2 MB each with transparent huge pages,
        so at 100x one hybrid query's 500 candidate posts mapped 657 MB of e5's matrix into
        the process (the search's peak RSS 4.98 GB); a read maps nothing."""
        import numpy as np

        rows = self._rows
        if self._file is None or not isinstance(rows, np.memmap) or not hasattr(os, "pread"):
            return np.asarray(rows["vector"][start : start + count])
        size = rows.dtype.itemsize
        data = os.pread(self._file.fileno(), count * size, rows.offset + start * size)
        return np.frombuffer(data, rows.dtype)["vector"]

    def block_scores(self, starts: list[int], counts: list[int], query: np.ndarray) -> np.ndarray:
        """The products with `query` of the `matrix` rows of the blocks `starts[i] :
        starts[i] + counts[i]`, one block after another, read from the file (as `read_rows`)
        into a buffer this thread reuses: at 10x a read of its own for each candidate post
        cost ~12 us (a bytes object, an array, a product), a buffer of the search's size
        (29 MB for USE) ~110 us a read in page faults. einsum, not BLAS: OpenBLAS's two
        threads made a 14k-row product 0.7 -> 23 ms on the loaded 2 cores."""
        import numpy as np

        rows, query = self._rows, np.asarray(query, np.float32)
        if self._file is None or not isinstance(rows, np.memmap) or not hasattr(os, "preadv"):
            parts = [rows["vector"][s : s + n] for s, n in zip(starts, counts, strict=True)]
            matrix = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
            return np.einsum("ij,j->i", matrix, query)
        size = rows.dtype.itemsize
        buffer = getattr(self._buffers, "rows", None)
        if buffer is None or len(buffer) < max(counts, default=0):
            need = max(READ_BUFFER_BYTES // size, max(counts, default=0))
            buffer = self._buffers.rows = np.empty(need, rows.dtype)
        view, fd = memoryview(buffer).cast("B"), self._file.fileno()
        out = np.empty(sum(counts), np.float32)
        done = filled = 0
        for start, count in zip(starts, counts, strict=True):
            if filled + count > len(buffer):
                np.einsum(
                    "ij,j->i", buffer["vector"][:filled], query, out=out[done : done + filled]
                )
                done, filled = done + filled, 0
            want = count * size
            got = os.preadv(
                fd, [view[filled * size : filled * size + want]], rows.offset + start * size
            )
            if got != want:
                raise CorruptIndexError(f"the passage vectors in {self.path} are truncated")
            filled += count
        np.einsum("ij,j->i", buffer["vector"][:filled], query, out=out[done : done + filled])
        return out

    def rows_of(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The `matrix` rows of these passage ids; raises KeyError for one it does not hold."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        held = self.ids()
        rows = np.searchsorted(held, ids)
        if len(ids) and (rows.max() >= len(held) or not np.array_equal(held[rows], ids)):
            raise KeyError("passage ids not in the vector index")
        return rows

    def reconstruct(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of these passage ids, one row each."""
        import numpy as np

        return np.asarray(self.matrix[self.rows_of(ids)], dtype=np.float32)

    def held_by_faiss(self, ids: list[int] | np.ndarray) -> np.ndarray | None:
        """FAISS's own copy of these passages' vectors (flat, HNSW), for `search check`; None
        for an IVF, which keeps lossy codes."""
        import numpy as np

        if not hasattr(self.index, "id_map"):
            return None
        return self.index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def save(self) -> None:
        """The matrix first, then the FAISS file: a crash between leaves ids that differ,
        which `open` refuses."""
        import numpy as np

        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{MATRIX}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, np.asarray(self._rows), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        _replace(tmp, self.path / MATRIX)
        tmp = self.path / f".{FILE}.{os.getpid()}.tmp"
        _faiss().write_index(self.index, str(tmp))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _replace(tmp, self.path / FILE)
        self._file, self._rows = _mapped(self.path / MATRIX)

    def disk_size(self) -> int:
        return sum(
            (self.path / f).stat().st_size for f in (FILE, MATRIX) if (self.path / f).exists()
        )


def _mapped(path: Path) -> tuple[BinaryIO, np.memmap]:
    """The .npy file open and its rows mapped from that same open file (a rename by a writer
    in between cannot make the two differ)."""
    import numpy as np

    fh = open(path, "rb")  # noqa: SIM115 - kept open: the index reads it
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if fortran or len(shape) != 1:
            raise ValueError("not one row of (id, vector) per passage")
        rows = np.memmap(fh, dtype=dtype, mode="r", shape=shape, offset=fh.tell())
    except BaseException:
        fh.close()
        raise
    return fh, rows


def _column_ids(rows: np.ndarray) -> np.ndarray:
    """The id column of the rows, copied. An id every row touches every page of the file: a
    mapped file's pages are read a block at a time and dropped from this process after (they
    stay in the page cache), so opening an index does not make the whole matrix resident
    (100x: 1.3 GB for e5, 1.7 GB for USE)."""
    import numpy as np

    mapped = getattr(rows, "_mmap", None)
    if mapped is None or not hasattr(mmap, "MADV_DONTNEED"):
        return np.array(rows["id"])
    ids = np.empty(len(rows), np.int64)
    block = max(1, ID_BLOCK_BYTES // rows.dtype.itemsize)
    for start in range(0, len(rows), block):
        ids[start : start + block] = rows["id"][start : start + block]
        mapped.madvise(mmap.MADV_DONTNEED)
    return ids


def _replace(tmp: Path, final: Path) -> None:
    if final.is_dir() and not final.is_symlink():  # whatever stood there, it is not ours
        shutil.rmtree(final)
    os.replace(tmp, final)
