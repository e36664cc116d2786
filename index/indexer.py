"""Bring every store up to date with a set of posts, touching only what changed.

Order of work: posts go into the SQLite store first (committed in batches, so an interrupted run
keeps what it had read); then each derived index catches up with the store by content hash. A
crash between the two steps is repaired by the next run, which sees the stale hashes.

`update` is the one entry point of the write path: the CLI, the tests, the scripts and the
benchmarks all index through it.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from corpus.post import Post, Problem
from corpus.readers import read_source
from index.chunking import CHUNKER_VERSION, Passage, chunk_post
from index.errors import (
    CorruptIndexError,
    DataError,
    ModelMismatchError,
    ReadOnlyError,
    WriterBusyError,
)
from index.glossary import MINER_VERSION, pairs_in, vote
from index.lexical import LEXICAL_VERSION, LexicalIndex
from index.linkgraph import sync_links
from index.manifest import Manifest
from index.models import Embedder, ModelSpec
from index.models.spec import DEFAULT_EXTRA_MODELS
from index.paths import DataDir
from index.store import Store
from index.vectors import VectorIndex, VectorIndexKind, extra_path

# progress(stage, done, total): total is None while it is not known yet (a crawl, a stream).
Progress = Callable[[str, int, int | None], None]
Source = str | os.PathLike[str] | Post | Problem

BATCH = 64
PROBE_POSTS = 20  # titles queried as phrases to check an index's files before trusting it
# A post that took this long to come (a page fetched over the network; a file's posts come in
# microseconds) is committed at once: a crawl then loses at most the page in flight.
SLOW_POST_SECONDS = 0.05
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
    extra_vectors_updated: int = 0  # passages added to the extra models' indexes
    seconds: float = 0.0

    @property
    def did_work(self) -> bool:
        return bool(
            self.new
            or self.changed
            or self.lexical_updated
            or self.vectors_updated
            or self.extra_vectors_updated
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "problems": [str(p) for p in self.problems],
            "lexical_updated": self.lexical_updated,
            "vectors_updated": self.vectors_updated,
            "extra_vectors_updated": self.extra_vectors_updated,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class VectorPlan:
    """What a vector sync will do: which posts to (re-)index, their passages, into which index
    (None: a new one), with which model."""

    spec: ModelSpec
    kind: VectorIndexKind
    stale: list[int]
    passages: list[Passage]
    index: VectorIndex | None


@dataclass
class ExtraPlan:
    """What an extra ensemble model's sync will do: drop the vectors of passages that are gone
    and add those of new passages, under the ids the primary index gave them (the passage table
    is shared, so both indexes hold the same ids)."""

    spec: ModelSpec
    index: VectorIndex | None  # None: a new one
    remove: list[int]
    ids: list[int]
    passages: list[Passage]


def update(
    data_dir: str | os.PathLike[str] | DataDir | None,
    sources: Iterable[Source] = (),
    *,
    vectors: bool = True,
    strict: bool = False,
    rebuild: bool = False,
    spec: ModelSpec | None = None,
    vector_kind: VectorIndexKind | None = None,
    embedder: Embedder | None = None,
    extra_models: tuple[ModelSpec, ...] | None = None,
    extra_embedders: Mapping[str, Embedder] | None = None,
    progress: Progress | None = None,
    on_status: Callable[[str], None] | None = None,
) -> IndexReport:
    """Import `sources` into the data directory and bring its indexes up to date.

    A source is a path or URL (a JSON Lines, markdown or saved HTML file, a folder of them, a
    kexue.fm address) or a `Post` (or `Problem`) already read. With no sources only the indexes
    catch up with the store. `on_status` hears the crawler's notes. Raises WriterBusyError when
    another process is writing, DataError for a problem that stops the run.
    `extra_models`: the ensemble's other models (None: those the index already has; () none);
    `extra_embedders`: loaded models for them, by spec key.
    """
    data = data_dir if isinstance(data_dir, DataDir) else DataDir.resolve(data_dir)
    with Indexer(data) as indexer:

        def items() -> Iterator[Post | Problem]:
            for source in sources:
                if isinstance(source, Post | Problem):
                    yield source
                    continue
                yield from read_source(
                    source,
                    known_ids=indexer.store_ids(),
                    crawl_state=data.crawl_state,
                    on_status=on_status,
                )

        return indexer.run(
            items(),
            strict=strict,
            rebuild=rebuild,
            vectors=vectors,
            spec=spec,
            vector_kind=vector_kind,
            embedder=embedder,
            extra_models=extra_models,
            extra_embedders=extra_embedders,
            progress=progress or _quiet,
        )


class Indexer:
    """The single writer of a data directory. Use as a context manager: it holds the lock."""

    def __init__(self, data: DataDir) -> None:
        self.data = data
        self._lock = FileLock(str(data.lock), timeout=0)
        self.store: Store | None = None
        self._relexed: list[int] = []  # posts the last sync_lexical indexed

    def __enter__(self) -> Indexer:
        self.data.root.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise WriterBusyError(f"another process is writing to {self.data.root}") from None
        except OSError as exc:  # EROFS, EACCES: a data directory that may only be read
            if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise ReadOnlyError(
                    f"the data directory {self.data.root} is read-only ({exc.strerror}): "
                    "reading works, writing needs a writable one"
                ) from None
            raise
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

    def store_ids(self) -> set[int]:
        return self._store().ids()

    def add(
        self,
        items: Iterable[Post | Problem],
        report: IndexReport,
        *,
        strict: bool = False,
        progress: Progress = _quiet,
        total: int | None = None,
    ) -> None:
        """Store new and changed posts; problems are collected.

        Posts are committed in batches of BATCH, and one by one when they come slowly (a post
        that took SLOW_POST_SECONDS to arrive, as from a crawl), so an interrupted crawl loses
        at most the page in flight. With
        `strict`, the first problem stops the run before anything is written: every item is
        read first, and the store is left exactly as it was.
        """
        store = self._store()
        if strict:
            items = list(items)
            for item in items:
                if isinstance(item, Problem):
                    raise DataError(f"{item} (strict: nothing was stored)")
        batch: list[Post] = []

        def flush() -> None:
            counts = store.upsert(batch)
            report.new += counts.new
            report.changed += counts.changed
            report.unchanged += counts.unchanged
            batch.clear()

        asked = time.monotonic()
        try:
            for item in items:
                waited = time.monotonic() - asked
                if isinstance(item, Problem):
                    report.problems.append(item)
                else:
                    batch.append(item)
                    report.read += 1
                    progress("read", report.read, total)
                    if len(batch) >= BATCH or waited >= SLOW_POST_SECONDS:
                        flush()
                asked = time.monotonic()
        finally:
            if batch:
                flush()
        progress("read", report.read, report.read)

    def sync_lexical(self, *, rebuild: bool = False, progress: Progress = _quiet) -> int:
        """Re-index the posts whose lexical copy is stale.

        The index is rebuilt whole when asked, when the tokenizer changed, and when it is lost,
        unreadable (a probe reads every file it queries) or out of step with the store; a
        rebuild happens beside the live index, which keeps answering until it is replaced.
        """
        store = self._store()
        path = self.data.lexical
        manifest = Manifest.load(store, lenient=True)
        lexical = None
        if not rebuild and manifest.tokenizer == LEXICAL_VERSION and LexicalIndex.exists(path):
            try:
                lexical = LexicalIndex.open(path)
                lexical.probe(store.titles(PROBE_POSTS))
                if lexical.num_docs() != store.synced_count("lexical_hash"):
                    lexical = None
            except CorruptIndexError:
                lexical = None
        if lexical is None:
            return self._rebuild_lexical(manifest, progress)
        stale = store.stale("lexical_hash")
        if stale:
            lexical.update(self._posts(stale, "lexical", progress))
            store.mark_synced("lexical_hash", stale)
        self._relexed = stale
        return len(stale)

    def _rebuild_lexical(self, manifest: Manifest, progress: Progress) -> int:
        store = self._store()
        built = LexicalIndex.beside(self.data.lexical)
        every = sorted(store.ids())
        LexicalIndex.open(built, create=True).update(self._posts(every, "lexical", progress))
        store.reset_synced("lexical_hash")
        LexicalIndex.publish(built, self.data.lexical)
        store.mark_synced("lexical_hash", every)
        manifest.with_lexical(LEXICAL_VERSION).save(store)
        self._relexed = every
        return len(every)

    def sync_glossary(self, *, rebuild: bool = False) -> int:
        """Mine the posts indexed lexically in this run and vote again the names they propose
        (or proposed before); every post and every name when the rules changed or on a
        rebuild. Voting asks the BM25 index about each name (~1 ms a name), so a run that
        changed one post votes its few names, not the archive's hundreds. Returns how many
        posts were mined."""
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        whole = rebuild or manifest.glossary_miner != MINER_VERSION
        ids = sorted(store.ids()) if whole else list(self._relexed)
        if not ids:
            return 0
        before = {en for en, *_ in store.glossary_pairs(ids)} if not whole else set()
        mined = {p.id: pairs_in(p.body) for p in store.iter_posts(ids)}
        store.replace_glossary_pairs(mined)
        names = None if whole else before | {en for rows in mined.values() for en, _, _ in rows}
        lexical = LexicalIndex.open(self.data.lexical)
        proposals = [row for row in store.glossary_pairs() if names is None or row[0] in names]
        store.set_glossary(vote(proposals, lexical.count_with, lexical.num_docs()), names)
        manifest.with_glossary(MINER_VERSION).save(store)
        return len(ids)

    def _posts(self, ids: list[int], stage: str, progress: Progress) -> Iterator[Post]:
        for done, post in enumerate(self._store().iter_posts(ids), 1):
            yield post
            progress(stage, done, len(ids))

    # -- vectors: plan, embed, commit -------------------------------------------------------
    def sync_vectors(
        self,
        spec: ModelSpec | None = None,
        *,
        rebuild: bool = False,
        kind: VectorIndexKind | None = None,
        embedder: Embedder | None = None,
        progress: Progress = _quiet,
    ) -> int:
        """Chunk, embed (reusing cached vectors) and index the posts whose vectors are stale.

        `spec` defaults to the model the index was built with (or the default model for a new
        index); a different model is refused unless `rebuild` is set. `kind` picks the FAISS
        index ("flat", exact, the default; "hnsw" for archives too large to scan); switching
        kinds rebuilds from cached vectors.
        """
        plan = self.plan_vectors(spec, rebuild=rebuild, kind=kind)
        if plan is None:
            return 0
        embedder = embedder or Embedder(plan.spec, throughput=True)
        matrix = self.embed(plan, embedder, progress)
        self.commit_vectors(plan, matrix, embedder)
        return len(plan.stale)

    def plan_vectors(
        self,
        spec: ModelSpec | None = None,
        *,
        rebuild: bool = False,
        kind: VectorIndexKind | None = None,
    ) -> VectorPlan | None:
        """Decide what to re-index; None when the vector index is up to date.

        Rebuilds whole (from the vector cache) when asked, when the chunker or the index kind
        changed, when the index is lost, unreadable or out of step with the store, and for an
        HNSW index that would need deletions (HNSW cannot delete).
        """
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        current = manifest.model
        spec = spec or current or ModelSpec()
        if current is not None and current != spec and not rebuild:
            raise ModelMismatchError(
                f"the index at {self.data.root} was built with {current.key}, not {spec.key}"
            )
        kind = kind or manifest.vector_kind
        if manifest.chunker != CHUNKER_VERSION or kind != manifest.vector_kind:
            rebuild = True
        path = self.data.vectors
        index = None
        if not rebuild and current is not None and VectorIndex.exists(path):
            try:
                index = VectorIndex.open(path)
            except CorruptIndexError:
                index = None
        if index is None or set(index.ids().tolist()) != set(store.synced_chunk_ids()):
            store.reset_synced("vector_hash")
            index = None
        elif kind == "flat" and index.exact != VectorIndex.exact_for(len(store.chunk_table())):
            store.reset_synced("vector_hash")  # grown past the size of an approximate index
            index = None
        stale = store.stale("vector_hash")
        if not stale and index is not None:
            return None
        if kind == "hnsw" and index is not None and store.chunk_ids(stale):
            store.reset_synced("vector_hash")
            stale, index = store.stale("vector_hash"), None
        passages = [p for post in store.iter_posts(stale) for p in chunk_post(post)]
        return VectorPlan(spec, kind, stale, passages, index)

    def embed(
        self, plan: VectorPlan | ExtraPlan, embedder: Embedder, progress: Progress = _quiet
    ) -> np.ndarray:
        """One vector per planned passage: from the cache, or embedded (and cached in batches,
        so an interrupted run keeps what it had embedded)."""
        store = self._store()
        cached = store.cached_vectors(plan.spec.key, (p.hash for p in plan.passages))
        missing = list({p.hash: p.text for p in plan.passages if p.hash not in cached}.items())
        if missing:
            progress("model", 0, 1)
            embedder.load()
            progress("model", 1, 1)
            progress("embed", 0, len(missing))
            for i in range(0, len(missing), EMBED_BATCH):
                part = missing[i : i + EMBED_BATCH]
                vecs = embedder.encode([t for _, t in part], "passage")
                items = [(h, v.tobytes()) for (h, _), v in zip(part, vecs, strict=True)]
                store.cache_vectors(plan.spec.key, items)
                cached.update(items)
                progress("embed", min(i + EMBED_BATCH, len(missing)), len(missing))
        if not plan.passages:
            return np.zeros((0, 0), np.float32)
        return np.vstack([np.frombuffer(cached[p.hash], dtype=np.float32) for p in plan.passages])

    def commit_vectors(self, plan: VectorPlan, matrix: np.ndarray, embedder: Embedder) -> None:
        """Write the FAISS index, then swap the passages in the store and record the manifest."""
        store = self._store()
        index = plan.index
        if index is None:
            dim = matrix.shape[1] if len(plan.passages) else embedder.dim
            index = VectorIndex.create(self.data.vectors, dim, plan.kind, len(plan.passages))
        else:
            if len(plan.passages) and matrix.shape[1] != index.dim:
                raise ModelMismatchError(
                    f"vectors of {plan.spec.key} have {matrix.shape[1]} dimensions, "
                    f"the index {index.dim}"
                )
            index.remove(store.chunk_ids(plan.stale))  # a fresh index has nothing to remove
        first = max(store.max_chunk_id(), int(index.ids().max(initial=0))) + 1
        ids = np.arange(first, first + len(plan.passages), dtype=np.int64)
        index.add(ids, matrix)
        index.save()
        rows = [
            (int(i), p.post_id, p.ord, p.start, p.end, p.text, p.hash)
            for i, p in zip(ids, plan.passages, strict=True)
        ]
        store.replace_chunks(plan.stale, rows)
        manifest = Manifest.load(store, lenient=True)
        manifest.with_vectors(plan.spec, index.dim, CHUNKER_VERSION, plan.kind).save(store)

    # -- the ensemble's extra models: plan, embed, commit each ---------------------------------
    def sync_extra(
        self,
        models: tuple[ModelSpec, ...] | None = None,
        *,
        rebuild: bool = False,
        embedders: Mapping[str, Embedder] | None = None,
        progress: Progress = _quiet,
    ) -> int:
        """Bring each extra model's index in step with the primary's passages; returns how many
        passages were added over all models. `models` None keeps the manifest's list; a model
        dropped from it loses its entry, then its folder."""
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        if models is None:
            models = manifest.extra_models
        models = tuple(dict.fromkeys(m for m in models if m != manifest.model))
        dropped = [m for m in manifest.extra_models if m not in models]
        if dropped:
            kept = tuple(m for m in manifest.extra_models if m in models)
            manifest.with_extra_models(kept).save(store)
            for spec in dropped:
                shutil.rmtree(extra_path(self.data.vectors, spec.slug), ignore_errors=True)
        added = 0
        for spec in models:
            plan = self.plan_extra(spec, rebuild=rebuild)
            if plan is None:
                continue
            embedder = (embedders or {}).get(spec.key) or Embedder(spec, throughput=True)
            matrix = self.embed(plan, embedder, progress)
            self.commit_extra(plan, matrix, embedder)
            added += len(plan.ids)
        return added

    def plan_extra(self, spec: ModelSpec, *, rebuild: bool = False) -> ExtraPlan | None:
        """What `spec`'s index lacks and holds in excess against the primary index's passages;
        None when it is in step. Unreadable, unlisted in the manifest or `rebuild`: a new index
        (from the vector cache, so only passages never embedded by `spec` cost model time)."""
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        path = extra_path(self.data.vectors, spec.slug)
        index = None
        if not rebuild and spec in manifest.extra_models and VectorIndex.exists(path):
            try:
                index = VectorIndex.open(path)
            except CorruptIndexError:
                index = None
        target = set(store.synced_chunk_ids())
        if index is not None and index.exact != VectorIndex.exact_for(len(target)):
            index = None  # grown past (or shrunk below) the size of an approximate index
        have = set(index.ids().tolist()) if index is not None else set()
        remove, add = sorted(have - target), target - have
        if index is not None and not remove and not add:
            return None
        # The passages as stored (what the primary index embedded): chunking every post again
        # took 3.7 s of a 22 s vector build at 10x.
        ids: list[int] = []
        passages: list[Passage] = []
        for chunk, post, ord_, start, end, text in store.stored_passages(add):
            ids.append(chunk)
            passages.append(Passage(post, ord_, start, end, text))
        return ExtraPlan(spec, index, remove, ids, passages)

    def commit_extra(self, plan: ExtraPlan, matrix: np.ndarray, embedder: Embedder) -> None:
        """Write the extra index (atomically, like the primary's), then list it in the
        manifest: a reader only trusts an extra index the manifest names and whose ids match."""
        store = self._store()
        index = plan.index
        if index is None:
            dim = matrix.shape[1] if len(plan.passages) else embedder.dim
            path = extra_path(self.data.vectors, plan.spec.slug)
            index = VectorIndex.create(path, dim, size=len(plan.ids))
        elif len(plan.passages) and matrix.shape[1] != index.dim:
            raise ModelMismatchError(
                f"vectors of {plan.spec.key} have {matrix.shape[1]} dimensions, "
                f"the index {index.dim}"
            )
        index.remove(plan.remove)
        index.add(np.asarray(plan.ids, np.int64), matrix)
        index.save()
        manifest = Manifest.load(store, lenient=True)
        if plan.spec not in manifest.extra_models:
            manifest.with_extra_models((*manifest.extra_models, plan.spec)).save(store)

    def _new_vector_index(self) -> bool:
        return Manifest.load(self._store(), lenient=True).model is None

    def run(
        self,
        sources: Iterable[Post | Problem] = (),
        *,
        strict: bool = False,
        rebuild: bool = False,
        vectors: bool = True,
        spec: ModelSpec | None = None,
        vector_kind: VectorIndexKind | None = None,
        embedder: Embedder | None = None,
        extra_models: tuple[ModelSpec, ...] | None = None,
        extra_embedders: Mapping[str, Embedder] | None = None,
        progress: Progress = _quiet,
        total: int | None = None,
    ) -> IndexReport:
        """Store the posts, then bring the BM25 index and (with `vectors`) the FAISS index up
        to date."""
        started = time.perf_counter()
        report = IndexReport()
        self.add(sources, report, strict=strict, progress=progress, total=total)
        report.lexical_updated = self.sync_lexical(rebuild=rebuild, progress=progress)
        self.sync_glossary(rebuild=rebuild)
        sync_links(self._store(), rebuild=rebuild)  # what each post cites, and the series
        # A new vector index of the default model gets the default ensemble; an existing one
        # keeps what it was built with (`--models` changes that).
        default = spec is None or spec == ModelSpec()
        if vectors and extra_models is None and default and self._new_vector_index():
            extra_models = DEFAULT_EXTRA_MODELS
        if vectors:
            report.vectors_updated = self.sync_vectors(
                spec, rebuild=rebuild, kind=vector_kind, embedder=embedder, progress=progress
            )
            report.extra_vectors_updated = self.sync_extra(
                extra_models, rebuild=rebuild, embedders=extra_embedders, progress=progress
            )
        report.seconds = time.perf_counter() - started
        return report
