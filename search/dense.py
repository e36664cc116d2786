"""The index's embedding models as equal sides of the ranking: one `ModelSide` each.

Each side embeds the query with its own model and searches its own vector index over the same
passages, giving one named list (`e5`, `use`). One side is the primary: the relevance floor and
`similar` read its scores. Loading is per side, so a side that cannot load drops out of the
ensemble with a warning while the others answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from index.models import Embedder, ModelSpec

if TYPE_CHECKING:
    import numpy as np

    from index.vectors import VectorIndex
    from search.config import SemanticConfig
    from search.semantic import SemanticRetriever


T = TypeVar("T")

# The sides search on this many threads besides the caller's: 2 cores. FAISS, ONNX Runtime,
# numpy's products and the file reads release the GIL, so the sides overlap (bench_scale).
SIDE_WORKERS = 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def each_side(sides: Sequence[ModelSide], work: Callable[[ModelSide], T]) -> list[T]:
    """`work(side)` for every side, concurrently, the results in the sides' order (so every
    list is made and named as a sequential loop would). The caller's thread takes the first."""
    global _pool
    if len(sides) < 2:
        return [work(side) for side in sides]
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(SIDE_WORKERS, thread_name_prefix="side")
    futures = [_pool.submit(work, side) for side in sides[1:]]
    try:
        first = work(sides[0])
    finally:  # no side still searching once this returns or raises: its index may be closed
        wait(futures)
    return [first, *(f.result() for f in futures)]


class ModelSide:
    """One model of the index: its embedder and its vector index, both opened on first use."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        primary: bool,
        embedder: Embedder | None,
        vectors: Callable[[], VectorIndex],
        chunks: Callable[[], dict[int, tuple[int, int, int]]],
        config: SemanticConfig,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.primary = primary
        self.embedder = embedder or Embedder(spec)
        self._vectors = vectors
        self._chunks = chunks
        self._config = config
        self._retriever: SemanticRetriever | None = None
        self._lock = threading.Lock()
        self.error: str | None = None  # why it cannot be used, once it failed to load

    @property
    def loaded(self) -> bool:
        return self.embedder.loaded and self._retriever is not None

    @property
    def retriever(self) -> SemanticRetriever:
        """The side's vector search (no model needed); raises CorruptIndexError when its ids
        are not the store's passages."""
        with self._lock:
            if self._retriever is None:
                from search.semantic import SemanticRetriever

                self._retriever = SemanticRetriever(self._vectors(), self._chunks(), self._config)
            return self._retriever

    def load(self) -> None:
        """Load the model and open the vector index; raises DataError (kept in `error`)."""
        from index.errors import DataError

        if self.error:
            raise DataError(self.error)
        try:
            self.embedder.load()
            self.retriever  # noqa: B018 - opens and checks the vector index
        except DataError as exc:
            self.error = str(exc)
            raise
        except Exception as exc:  # a runtime's own, or a closed or damaged store's (sqlite3)
            self.error = f"{type(exc).__name__}: {exc}"
            raise DataError(self.error) from exc

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.encode([text], "query")[0]
