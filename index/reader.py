"""Opening a data directory for reading: the store, the BM25 index, the manifest, and the vector
index when there is one, with the checks that make a stale or half-built directory an error
that says so instead of wrong answers."""

from __future__ import annotations

import threading
from pathlib import Path

from index.errors import MissingIndexError, ModelMismatchError, StaleIndexError
from index.lexical import LEXICAL_VERSION, LexicalIndex
from index.manifest import Manifest
from index.models import ModelSpec
from index.paths import DataDir
from index.store import Store
from index.vectors import VectorIndex, model_path


class IndexReader:
    """What a search needs from disk. The FAISS index opens on first use (a lexical query never
    imports FAISS); everything else opens in `open`."""

    def __init__(self, data: DataDir, store: Store, lexical: LexicalIndex, manifest: Manifest):
        self.data = data
        self.store = store
        self.lexical = lexical
        self.manifest = manifest
        # The index's embedding models whose vector index exists, the primary first (the one
        # the relevance floor and `similar` read); none when the primary's is missing.
        self.models: tuple[ModelSpec, ...] = ()
        if manifest.models and VectorIndex.exists(self._path(manifest.models[0])):
            self.models = tuple(m for m in manifest.models if VectorIndex.exists(self._path(m)))
        self._vectors: dict[str, VectorIndex] = {}
        self._lock = threading.Lock()

    @property
    def model(self) -> ModelSpec | None:
        """The primary model, or None when there is no vector index to search."""
        return self.models[0] if self.models else None

    @classmethod
    def open(
        cls, path: str | Path | DataDir | None = None, *, model: str | None = None
    ) -> IndexReader:
        """Open a data directory. `model`, if given, must be the one the vectors were built
        with (another is a ModelMismatchError)."""
        data = path if isinstance(path, DataDir) else DataDir.resolve(path)
        store = Store.open(data.store)
        try:
            if store.count() == 0:
                raise MissingIndexError(f"the index at {data.root} is empty")
            manifest = Manifest.load(store)
            if manifest.tokenizer is None:
                raise StaleIndexError(
                    f"the lexical index at {data.lexical} was never completed "
                    "(an index run was interrupted before it)"
                )
            if manifest.tokenizer != LEXICAL_VERSION:
                raise StaleIndexError(
                    f"the lexical index at {data.lexical} was built by another version"
                )
            try:
                lexical = LexicalIndex.open(data.lexical)
            except MissingIndexError:
                raise StaleIndexError(f"the lexical index at {data.lexical} is missing") from None
            if lexical.num_docs() == 0:
                raise StaleIndexError(
                    f"the lexical index at {data.lexical} is empty but the store holds "
                    f"{store.count()} posts (an index run was interrupted)"
                )
            spec = manifest.model
            if model is not None and spec is not None and model != spec.model_id:
                raise ModelMismatchError(
                    f"the index at {data.root} was built with {spec.model_id}, not {model}"
                )
        except BaseException:
            store.close()
            raise
        return cls(data, store, lexical, manifest)

    def _path(self, spec: ModelSpec) -> Path:
        primary = spec == self.manifest.model
        return model_path(self.data.vectors, spec.slug, primary=primary)

    def vector_index(self, spec: ModelSpec) -> VectorIndex:
        """The FAISS index of one of `models` (opened once); raises CorruptIndexError when
        unreadable."""
        with self._lock:
            if spec.key not in self._vectors:
                self._vectors[spec.key] = VectorIndex.open(self._path(spec))
            return self._vectors[spec.key]

    def close(self) -> None:
        self.store.close()
