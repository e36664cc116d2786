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
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

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
from index.models.spec import DEFAULT_OTHER_MODELS
from index.paths import DataDir
from index.store import Store
from index.vectors import VectorIndex, VectorIndexKind, model_path

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
    vectors_updated: int = 0  # posts whose passages were cut and embedded again
    # passages added to each model's index, by ModelSpec.key, the primary first
    passages_added: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def did_work(self) -> bool:
        return bool(
            self.new
            or self.changed
            or self.lexical_updated
            or self.vectors_updated
            or any(self.passages_added.values())
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
            "passages_added": dict(self.passages_added),
            # the models after the primary, summed: the key `--json` had before the ensemble
            # was one list of models (scripts may read it)
            "extra_vectors_updated": sum(list(self.passages_added.values())[1:]),
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ModelPlan:
    """What one model's vector sync will do: drop the `remove` passage ids from its index at
    `path` (None: a new one) and add `passages` under `ids`. The primary's plan cuts the
    `stale` posts into passages and numbers them; the other models' plans follow those ids
    (the passage table is shared, so every index holds the same ids)."""

    spec: ModelSpec
    primary: bool
    path: Path
    kind: VectorIndexKind
    index: VectorIndex | None
    remove: list[int]
    ids: list[int]
    passages: list[Passage]
    stale: list[int] = field(default_factory=list)  # the primary's: posts cut again


class VectorSync(NamedTuple):
    posts: int  # posts whose passages were cut and embedded again
    added: dict[str, int]  # passages added to each model's index, by ModelSpec.key


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
    models: tuple[ModelSpec, ...] | None = None,
    embedders: Mapping[str, Embedder] | None = None,
    progress: Progress | None = None,
    on_status: Callable[[str], None] | None = None,
) -> IndexReport:
    """Import `sources` into the data directory and bring its indexes up to date.

    A source is a path or URL (a JSON Lines, markdown or saved HTML file, a folder of them, a
    kexue.fm address) or a `Post` (or `Problem`) already read. With no sources only the indexes
    catch up with the store. `on_status` hears the crawler's notes. Raises WriterBusyError when
    another process is writing, DataError for a problem that stops the run.
    `spec`: the primary model (None: the index's; a different one needs `rebuild`);
    `models`: the whole ensemble, the primary first (None: `spec` and the index's other
    models; a new index of the default model gets the default ensemble); `embedder`: the
    primary's loaded model, `embedders`: loaded models by spec key.
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
            models=models,
            embedders=embedders,
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

    # -- vectors: every model of the ensemble through one plan, embed, commit ---------------
    def ensemble(
        self,
        spec: ModelSpec | None = None,
        models: tuple[ModelSpec, ...] | None = None,
        *,
        rebuild: bool = False,
    ) -> tuple[ModelSpec, ...]:
        """The models to keep vectors for, the primary first: `models` when given, else `spec`
        (or the index's primary, or the default model) followed by the index's other models.
        A new index of the default model gets the default ensemble. A primary other than the
        one the index was built with is refused unless `rebuild` is set."""
        manifest = Manifest.load(self._store(), lenient=True)
        current = manifest.model
        if models is None:
            primary = spec or current or ModelSpec()
            if current is not None:
                others = manifest.models[1:]
            else:
                others = DEFAULT_OTHER_MODELS if primary == ModelSpec() else ()
            models = (primary, *others)
        elif not models or (spec is not None and spec != models[0]):
            raise ValueError("`models` names the ensemble, its primary first (and `spec` is it)")
        if current is not None and current != models[0] and not rebuild:
            raise ModelMismatchError(
                f"the index at {self.data.root} was built with {current.key}, not {models[0].key}"
            )
        return tuple(dict.fromkeys(models))

    def sync_vectors(
        self,
        spec: ModelSpec | None = None,
        *,
        models: tuple[ModelSpec, ...] | None = None,
        rebuild: bool = False,
        kind: VectorIndexKind | None = None,
        embedder: Embedder | None = None,
        embedders: Mapping[str, Embedder] | None = None,
        progress: Progress = _quiet,
    ) -> VectorSync:
        """Bring every model's index in step with the store, the primary first: its plan cuts
        the stale posts into passages and its commit gives them their ids; each other model
        then embeds the passages its index lacks under those ids and drops the ones gone.
        Vectors come from the store's cache when it has them.

        `spec`, `models`: as in `ensemble`; a model no longer in the ensemble loses its entry
        in the manifest, then its folder. `kind` picks the primary's FAISS index ("flat",
        exact, the default; "hnsw" for archives too large to scan); switching kinds rebuilds
        from cached vectors. `embedder`: the primary's loaded model; `embedders`: loaded
        models by spec key (the rest load when there is something to embed).
        """
        ensemble = self.ensemble(spec, models, rebuild=rebuild)
        loaded = dict(embedders or {})
        if embedder is not None:
            loaded[ensemble[0].key] = embedder
        self._drop_others(ensemble[1:])
        posts, added = 0, {}
        for i, model in enumerate(ensemble):
            if i == 0:
                plan = self.plan_primary(model, rebuild=rebuild, kind=kind)
            else:
                plan = self.plan_other(model, rebuild=rebuild)
            added[model.key] = 0
            if plan is None:
                continue
            model_embedder = loaded.get(model.key) or Embedder(model, throughput=True)
            self.commit(plan, self.embed(plan, model_embedder, progress), model_embedder)
            added[model.key] = len(plan.ids)
            posts += len(plan.stale)
        return VectorSync(posts, added)

    def _drop_others(self, others: tuple[ModelSpec, ...]) -> None:
        """Unlist the other models not in `others`, then remove their folders (a reader only
        trusts an index the manifest lists)."""
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        dropped = [m for m in manifest.models[1:] if m not in others]
        if not dropped:
            return
        kept = tuple(m for m in manifest.models[1:] if m in others)
        manifest.with_models((*manifest.models[:1], *kept)).save(store)
        for spec in dropped:
            shutil.rmtree(model_path(self.data.vectors, spec.slug, primary=False), True)

    def _open_trusted(self, path: Path, listed: bool, rebuild: bool) -> VectorIndex | None:
        """The index at `path` when the manifest lists its model and it opens, else None."""
        if rebuild or not listed or not VectorIndex.exists(path):
            return None
        try:
            return VectorIndex.open(path)
        except CorruptIndexError:
            return None

    def plan_primary(
        self,
        spec: ModelSpec,
        *,
        rebuild: bool = False,
        kind: VectorIndexKind | None = None,
    ) -> ModelPlan | None:
        """What the primary's index needs; None when it is up to date.

        Rebuilds whole (from the vector cache) when asked, when the chunker or the index kind
        changed, when the index is lost, unreadable or out of step with the store, and for an
        HNSW index that would need deletions (HNSW cannot delete).
        """
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        kind = kind or manifest.vector_kind
        if manifest.chunker != CHUNKER_VERSION or kind != manifest.vector_kind:
            rebuild = True
        path = model_path(self.data.vectors, spec.slug, primary=True)
        index = self._open_trusted(path, manifest.model == spec, rebuild)
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
        remove, held = [], 0
        if index is not None:
            remove, held = store.chunk_ids(stale), int(index.ids().max(initial=0))
        first = max(store.max_chunk_id(), held) + 1
        ids = list(range(first, first + len(passages)))
        return ModelPlan(spec, True, path, kind, index, remove, ids, passages, stale)

    def plan_other(self, spec: ModelSpec, *, rebuild: bool = False) -> ModelPlan | None:
        """What another model's index lacks and holds in excess against the primary's
        passages; None when it is in step. Unreadable, unlisted in the manifest or `rebuild`:
        a new index (from the vector cache, so only passages never embedded by `spec` cost
        model time)."""
        store = self._store()
        manifest = Manifest.load(store, lenient=True)
        path = model_path(self.data.vectors, spec.slug, primary=False)
        index = self._open_trusted(path, spec in manifest.models[1:], rebuild)
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
        return ModelPlan(spec, False, path, "flat", index, remove, ids, passages)

    def embed(self, plan: ModelPlan, embedder: Embedder, progress: Progress = _quiet) -> np.ndarray:
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

    def commit(self, plan: ModelPlan, matrix: np.ndarray, embedder: Embedder) -> None:
        """Write the model's FAISS index (atomically), then record it: the primary swaps its
        posts' passages in the store and describes its vectors in the manifest; another model
        is listed there. A reader trusts only an index the manifest lists and whose ids
        match the store's passages."""
        store = self._store()
        index = plan.index
        if index is None:
            dim = matrix.shape[1] if plan.passages else embedder.dim
            index = VectorIndex.create(plan.path, dim, plan.kind, len(plan.ids))
        elif plan.passages and matrix.shape[1] != index.dim:
            raise ModelMismatchError(
                f"vectors of {plan.spec.key} have {matrix.shape[1]} dimensions, "
                f"the index {index.dim}"
            )
        index.remove(plan.remove)
        index.add(np.asarray(plan.ids, np.int64), matrix)
        index.save()
        manifest = Manifest.load(store, lenient=True)
        if plan.primary:
            rows = [
                (i, p.post_id, p.ord, p.start, p.end, p.text, p.hash)
                for i, p in zip(plan.ids, plan.passages, strict=True)
            ]
            store.replace_chunks(plan.stale, rows)
            manifest.with_primary(plan.spec, index.dim, CHUNKER_VERSION, plan.kind).save(store)
        elif plan.spec not in manifest.models[1:]:
            manifest.with_models((*manifest.models, plan.spec)).save(store)

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
        models: tuple[ModelSpec, ...] | None = None,
        embedders: Mapping[str, Embedder] | None = None,
        progress: Progress = _quiet,
        total: int | None = None,
    ) -> IndexReport:
        """Store the posts, then bring the BM25 index and (with `vectors`) every model's FAISS
        index up to date."""
        started = time.perf_counter()
        report = IndexReport()
        self.add(sources, report, strict=strict, progress=progress, total=total)
        report.lexical_updated = self.sync_lexical(rebuild=rebuild, progress=progress)
        self.sync_glossary(rebuild=rebuild)
        sync_links(self._store(), rebuild=rebuild)  # what each post cites, and the series
        if vectors:
            synced = self.sync_vectors(
                spec,
                models=models,
                rebuild=rebuild,
                kind=vector_kind,
                embedder=embedder,
                embedders=embedders,
                progress=progress,
            )
            report.vectors_updated, report.passages_added = synced
        report.seconds = time.perf_counter() - started
        return report
