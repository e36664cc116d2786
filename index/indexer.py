"""Bring every store up to date with a set of posts, touching only what changed.

Order of work: posts go into the SQLite store first (committed in batches, so an interrupted run
keeps what it had read); then each derived index catches up with the store by content hash. A
crash between the two steps is repaired by the next run, which sees the stale hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
from filelock import FileLock, Timeout

from corpus.post import Post, Problem
from index.chunking import CHUNKER_VERSION, Passage, chunk_post
from index.embedder import Embedder, ModelSpec
from index.errors import CorruptIndexError, DataError, ModelMismatchError, WriterBusyError
from index.lexical import LexicalIndex
from index.paths import DataDir
from index.store import Store
from index.tokenize import TOKENIZER_VERSION
from index.vectors import Kind as VectorKind
from index.vectors import VectorIndex

# progress(stage, done, total): total is None while it is not known yet (a crawl, a stream).
Progress = Callable[[str, int, int | None], None]

BATCH = 64
EMBED_BATCH = 256  # passages embedded (and cached) between commits: a crash loses at most these


def _quiet(stage: str, done: int, total: int | None) -> None:
    pass


@dataclass
class IndexReport:
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    lexical_updated: int = 0
    vectors_updated: int = 0
    seconds: float = 0.0

    @property
    def did_work(self) -> bool:
        return bool(self.new or self.changed or self.lexical_updated or self.vectors_updated)


class Indexer:
    """The single writer of a data directory. Use as a context manager: it holds the lock."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._lock = FileLock(str(data.lock), timeout=0)
        self.store: Store | None = None

    def __enter__(self) -> Indexer:
        self.data.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise WriterBusyError(
                f"another `search index` is writing to {self.data.root}; wait for it to finish"
            ) from None
        try:
            self.store = Store.open(self.data.store, create=True)
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
        self._lock.release()

    def _store(self) -> Store:
        if self.store is None:
            raise RuntimeError("Indexer must be used as a context manager")
        return self.store

    def add(
        self,
        items: Iterable[Post | Problem],
        report: IndexReport,
        *,
        strict: bool = False,
        progress: Progress = _quiet,
        total: int | None = None,
    ) -> None:
        """Store new and changed posts; problems are collected (or fatal with `strict`)."""
        store = self._store()
        batch: list[Post] = []

        def flush() -> None:
            counts = store.upsert(batch)
            report.new += counts.new
            report.changed += counts.changed
            report.unchanged += counts.unchanged
            batch.clear()

        try:
            for item in items:
                if isinstance(item, Problem):
                    if strict:
                        raise DataError(
                            f"{item} (--strict: stopping; posts read before it are kept)"
                        )
                    report.problems.append(item)
                    continue
                batch.append(item)
                report.read += 1
                progress("read", report.read, total)
                if len(batch) >= BATCH:
                    flush()
        finally:
            if batch:
                flush()
        progress("read", report.read, report.read)

    def sync_lexical(self, *, rebuild: bool = False, progress: Progress = _quiet) -> int:
        """Re-index the posts whose lexical copy is stale; rebuild when the tokenizer changed."""
        store = self._store()
        path = self.data.lexical
        if store.get_meta("lexical.tokenizer") != TOKENIZER_VERSION:
            rebuild = True
        lexical = None
        if not rebuild and LexicalIndex.exists(path):
            try:
                lexical = LexicalIndex.open(path)
            except CorruptIndexError:
                lexical = None
        # A lost, unreadable or inconsistent index is rebuilt from the store, never trusted.
        if lexical is None or lexical.num_docs() != store.synced_count("lexical_hash"):
            LexicalIndex.wipe(path)
            store.reset_synced("lexical_hash")
            lexical = LexicalIndex.open(path, create=True)
            store.set_meta("lexical.tokenizer", TOKENIZER_VERSION)
        stale = store.stale("lexical_hash")
        if not stale:
            return 0
        done = 0

        def posts() -> Iterable[Post]:
            nonlocal done
            for post in store.iter_posts(stale):
                yield post
                done += 1
                progress("lexical", done, len(stale))

        lexical.update(posts())
        store.mark_synced("lexical_hash", stale)
        return len(stale)

    def sync_vectors(
        self,
        spec: ModelSpec | None = None,
        *,
        rebuild: bool = False,
        kind: VectorKind | None = None,
        embedder: Embedder | None = None,
        progress: Progress = _quiet,
    ) -> int:
        """Chunk, embed (reusing cached vectors) and index the posts whose vectors are stale.

        `spec` defaults to the model the index was built with (or the default model for a new
        index); a different model is refused unless `rebuild` is set. `kind` picks the FAISS
        index ("flat", exact, the default; "hnsw" for archives too large to scan); switching
        kinds rebuilds from cached vectors.
        """
        store = self._store()
        recorded = store.get_meta("vectors.model")
        current = ModelSpec.from_manifest(json.loads(recorded)) if recorded else None
        spec = spec or current or ModelSpec()
        if current is not None and current != spec and not rebuild:
            raise ModelMismatchError(
                f"the index at {self.data.root} was built with {current.key}, not {spec.key}; "
                "to switch models run: search index --rebuild --model ..."
            )
        if store.get_meta("vectors.chunker") != CHUNKER_VERSION:
            rebuild = True
        recorded_kind = store.get_meta("vectors.kind") or "flat"
        kind = kind or recorded_kind  # type: ignore[assignment]
        if kind != recorded_kind:
            rebuild = True
        embedder = embedder or Embedder(spec, throughput=True)
        path = self.data.vectors
        vectors = None
        if not rebuild and current is not None and VectorIndex.exists(path):
            try:
                vectors = VectorIndex.open(path)
            except CorruptIndexError:
                vectors = None
        if vectors is None or set(vectors.ids().tolist()) != set(store.synced_chunk_ids()):
            # Lost, unreadable or out of step with the store: rebuild (vectors come from cache).
            store.reset_synced("vector_hash")
            vectors = None
        stale = store.stale("vector_hash")
        if not stale and vectors is not None:
            return 0
        if kind == "hnsw" and vectors is not None and store.chunk_ids(stale):
            # HNSW cannot delete: rebuild it whole (vectors come from the cache).
            store.reset_synced("vector_hash")
            stale, vectors = store.stale("vector_hash"), None

        passages: list[Passage] = []
        for post in store.iter_posts(stale):
            passages.extend(chunk_post(post))
        cached = store.cached_vectors(spec.key, (p.hash for p in passages))
        missing = list({p.hash: p.text for p in passages if p.hash not in cached}.items())
        if missing:
            progress("model", 0, 1)
            embedder.load()
            progress("model", 1, 1)
            progress("embed", 0, len(missing))
            for i in range(0, len(missing), EMBED_BATCH):
                part = missing[i : i + EMBED_BATCH]
                vecs = embedder.encode([t for _, t in part], "passage")
                items = [(h, v.tobytes()) for (h, _), v in zip(part, vecs, strict=True)]
                store.cache_vectors(spec.key, items)
                cached.update(items)
                progress("embed", min(i + EMBED_BATCH, len(missing)), len(missing))
        matrix = (
            np.vstack([np.frombuffer(cached[p.hash], dtype=np.float32) for p in passages])
            if passages
            else np.zeros((0, 0), np.float32)
        )
        if vectors is None:
            dim = matrix.shape[1] if len(passages) else embedder.dim
            vectors = VectorIndex.create(path, dim, kind)
        else:
            if len(passages) and matrix.shape[1] != vectors.dim:
                raise ModelMismatchError(
                    f"vectors of {spec.key} have {matrix.shape[1]} dimensions, "
                    f"the index {vectors.dim}; run: search index --rebuild"
                )
            vectors.remove(store.chunk_ids(stale))  # a fresh index has nothing to remove
        first = max(store.max_chunk_id(), int(vectors.ids().max(initial=0))) + 1
        ids = np.arange(first, first + len(passages), dtype=np.int64)
        vectors.add(ids, matrix)
        vectors.save()
        rows = [
            (int(i), p.post_id, p.ord, p.start, p.end, p.text, p.hash)
            for i, p in zip(ids, passages, strict=True)
        ]
        store.replace_chunks(stale, rows)
        store.set_meta("vectors.model", json.dumps(spec.to_manifest()))
        store.set_meta("vectors.dim", str(vectors.dim))
        store.set_meta("vectors.chunker", CHUNKER_VERSION)
        store.set_meta("vectors.kind", kind)
        return len(stale)

    def run(
        self,
        sources: Iterable[Post | Problem] = (),
        *,
        strict: bool = False,
        rebuild: bool = False,
        vectors: bool = True,
        spec: ModelSpec | None = None,
        vector_kind: VectorKind | None = None,
        embedder: Embedder | None = None,
        progress: Progress = _quiet,
        total: int | None = None,
    ) -> IndexReport:
        """Store the posts, then bring the BM25 index and (with `vectors`) the FAISS index up
        to date."""
        started = time.perf_counter()
        report = IndexReport()
        self.add(sources, report, strict=strict, progress=progress, total=total)
        report.lexical_updated = self.sync_lexical(rebuild=rebuild, progress=progress)
        if vectors:
            report.vectors_updated = self.sync_vectors(
                spec, rebuild=rebuild, kind=vector_kind, embedder=embedder, progress=progress
            )
        report.seconds = time.perf_counter() - started
        return report
