"""Serving the newest committed state of a data directory, without a restart.

`search index` writes in place: the store (SQLite in WAL mode), the BM25 index (commits in place;
a rebuild is swapped in by renaming a symlink) and the FAISS file (replaced by a rename). A
`Searcher` answers from what it opened, so a watcher thread stats those files and, once they
stop changing, opens a new Searcher beside the live one, warms it and swaps it in. Each request
holds a lease on the generation it started with; a retired generation is closed when its last
lease ends, so no request fails across a swap.

The embedding models load in a background thread (until they are ready, searches are lexical
and say so) and every generation shares them: loading them again would cost seconds of CPU
per commit (and the query vectors they keep). Their state is the library's
(`Searcher.model_state` of the generation served): nothing here keeps a copy of it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from search import DataDir, DataError, Searcher

log = logging.getLogger("kexue_search.server")

# The watcher stats five files per check (~20 µs): checking twice a second costs nothing, and
# a commit is served within 0.5-1 s (a state must look the same on two checks in a row).
CHECK_EVERY = 0.5
# A new state that would serve worse than the live one (its vectors missing or out of step
# with the store: a commit still under way) waits this long without further change before it
# is served anyway: a writer's steps follow each other within milliseconds to a few seconds
# (the model load of `search index`), so a state this stable is what the writer left.
SETTLE = 3.0
WARM_QUERY = "warm up"  # builds what a first query would build (metadata, BM25, FAISS layout)

ModelState = Literal["idle", "loading", "ready", "failed"]  # the library's, less "none"


def fingerprint(data: DataDir) -> tuple[object, ...]:
    """What changes when `search index` commits: identity, size and mtime of the store and
    its write-ahead log (an empty one counts as none), of the lexical symlink and the folder
    it points to, of the vectors folder (FAISS files are renamed into it)."""
    wal = data.store.with_name(data.store.name + "-wal")
    parts: list[object] = []
    for path, follow in (
        (data.store, True),
        (wal, True),
        (data.lexical, False),
        (data.lexical, True),
        (data.vectors, True),
    ):
        try:
            st = os.stat(path, follow_symlinks=follow)
        except OSError:
            parts.append(None)
            continue
        if path == wal and st.st_size == 0:  # opening the store creates an empty log
            parts.append(None)
            continue
        parts.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(parts)


@dataclass(eq=False)
class Generation:
    """One opened state of the data directory.

    `semantic` is True once its vector side is warm (hybrid and semantic answer without
    waiting), an error message when it cannot be used, None before it was tried.
    """

    searcher: Searcher
    number: int
    stamp: tuple[object, ...]
    semantic: bool | str | None = None
    opened_at: float = field(default_factory=time.time)
    leases: int = 0
    retired: bool = False

    def warm_semantic(self) -> None:
        """Build the vector side (the model must be loaded: this is then ~0.1 s)."""
        try:
            self.searcher.warm_up()
            self.searcher.search(WARM_QUERY, limit=1, mode="hybrid")
        except Exception as exc:  # DataError, or FAISS's own: this generation is lexical
            self.semantic = str(exc) if isinstance(exc, DataError) else repr(exc)
        else:
            self.semantic = True


class LiveIndex:
    """The current `Generation` of a data directory, kept up to date by a watcher thread."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | DataDir | None,
        *,
        embedder: Any = None,
        check_every: float = CHECK_EVERY,
        load_model: bool = True,
    ) -> None:
        """Open the data directory (raises DataError) and start watching it.

        `embedder`: a model to use (tests share one loaded model; it must be the index's);
        `load_model`: start loading the model at once when the index has vectors.
        """
        self.data = data_dir if isinstance(data_dir, DataDir) else DataDir.resolve(data_dir)
        self.check_every = check_every
        self._embedder = embedder
        self._embedders: dict[str, Any] = {}  # every model by spec key, shared by generations
        self._loader: threading.Thread | None = None
        self._warmers: list[Callable[[Generation, Generation], None]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        stamp = fingerprint(self.data)
        searcher = self._open()
        self._current = Generation(searcher, 0, stamp)
        self._seen = stamp
        self._seen_since = time.monotonic()
        self._last_note: str | None = None
        preloaded = getattr(self._embedder, "loaded", False)
        if load_model and searcher.has_vectors and not preloaded:
            self.start_loading()  # first: the lexical warm-up below overlaps it
        try:
            searcher.search(WARM_QUERY, limit=1, mode="lexical")
        except BaseException:
            self._stop.set()
            searcher.close()
            raise
        if preloaded and searcher.has_vectors:
            self._current.warm_semantic()
        self._watcher = threading.Thread(target=self._watch, name="index-watcher", daemon=True)
        self._watcher.start()

    # -- requests -------------------------------------------------------------------------
    @property
    def current(self) -> Generation:
        return self._current

    @contextmanager
    def lease(self) -> Iterator[Generation]:
        """The current generation, kept open until the block ends."""
        with self._lock:
            gen = self._current
            gen.leases += 1
        try:
            yield gen
        finally:
            with self._lock:
                gen.leases -= 1
                close = gen.retired and gen.leases == 0
            if close:
                gen.searcher.close()

    def add_warmer(self, warm: Callable[[Generation, Generation], None]) -> None:
        """Call `warm(new, live)` on each new generation before it is swapped in (a cache
        answering the live one's popular requests on the new one, say)."""
        self._warmers.append(warm)

    @property
    def model(self) -> ModelState:
        """The served generation's models, as the library says (`Searcher.model_state`);
        "loading" too while the loader brings a newly served generation up to them."""
        searcher = self._current.searcher
        state = searcher.model_state
        if state == "none":  # no vectors: the model /embed would use
            if searcher.embed_model_loaded:
                return "ready"
            state = "failed" if searcher.embed_model_error else "idle"
        loader = self._loader
        if state == "idle" and loader is not None and loader.is_alive():
            return "loading"
        return state

    @property
    def model_error(self) -> str | None:
        return self._current.searcher.embed_model_error

    def start_loading(self) -> None:
        """Load the embedding models in a background thread, if nobody is."""
        with self._lock:
            if self._loader is not None and self._loader.is_alive():
                return
            if self.model in ("ready", "failed"):
                return
            self._loader = threading.Thread(target=self._load_model, name="model", daemon=True)
            self._loader.start()

    def close(self) -> None:
        self._stop.set()
        self._watcher.join(timeout=5)
        with self._lock:
            gen = self._current
            gen.retired = True
            close = gen.leases == 0
        if close:
            gen.searcher.close()

    # -- the model ------------------------------------------------------------------------
    def _load_model(self) -> None:
        """Load the models with the library (both at once: Searcher.load_models) on whatever
        generation is served, then warm it; again while a newer one is swapped in meanwhile."""
        while True:
            with self.lease() as gen:  # kept open while it loads, even if swapped out
                searcher = gen.searcher
                if not searcher.has_vectors:  # /embed's model, through the library
                    try:
                        searcher.embed([WARM_QUERY], "query")
                    except Exception:  # DataError, or a runtime's own: the library keeps why
                        why = searcher.embed_model_error
                        log.warning("the embedding model cannot be used: %s", why)
                    return
                if gen.semantic is not None:
                    return
                try:
                    searcher.load_models()
                except DataError:  # the library keeps why (model_state "failed", model_error)
                    log.warning("the embedding model cannot be used: %s", searcher.model_error)
                    return
                if gen.number == 0 or gen is self._current:
                    log.info("the embedding models are ready")
                gen.warm_semantic()

    # -- the watcher ----------------------------------------------------------------------
    def _open(self) -> Searcher:
        searcher = Searcher.open(self.data.root, embedder=self._embedder, embedders=self._embedders)
        shared = self._embedder
        if shared is not None and searcher.spec not in (None, getattr(shared, "spec", None)):
            # Rebuilt with another model: that one loads afresh and is shared from then on.
            searcher.close()
            searcher = Searcher.open(self.data.root)
            self._embedder = None
            self._embedders = {}
        if self._embedder is None:  # from now on every generation uses this one's model
            self._embedder = searcher.embedder
        self._embedders.update(searcher.embedders)
        return searcher

    def _watch(self) -> None:
        while not self._stop.wait(self.check_every):
            try:
                self.refresh()
            except Exception:  # the watcher must outlive any one bad state of the disk
                log.exception("checking the data directory for changes failed")

    def refresh(self) -> bool:
        """Swap in the data directory's current state if it changed and has stopped changing;
        True when a new generation was swapped in."""
        stamp = fingerprint(self.data)
        now = time.monotonic()
        if stamp != self._seen:  # still being written: look again at the next check
            self._seen, self._seen_since = stamp, now
            return False
        current = self._current
        if stamp == current.stamp:
            return False
        try:
            searcher = self._open()
        except DataError as exc:  # a rebuild's first steps, or a broken directory: keep serving
            self._note(f"keeping the index opened before: {exc}")
            return False
        gen = Generation(searcher, current.number + 1, stamp)
        try:
            problem = self._prepare(gen, current)
        except BaseException:
            searcher.close()
            raise
        if problem and now - self._seen_since < SETTLE:
            searcher.close()
            return False
        if problem:
            self._note(f"serving the index as it is: {problem}")
        for warm in self._warmers:
            try:
                warm(gen, current)
            except Exception:  # a cold cache is slower, never wrong: swap all the same
                log.exception("warming index generation %d failed", gen.number)
        self._swap(gen)
        if searcher.has_vectors and gen.semantic is None:
            # The loader warms the generation served when it finishes; one swapped in after
            # that (the models became ready between `_prepare` and the swap) is warmed by a
            # new run of it, which finds the models loaded (a tenth of a second).
            self.start_loading()
        return True

    def _prepare(self, gen: Generation, current: Generation) -> str | None:
        """Warm `gen`; what would make it serve worse than `current`, or None."""
        gen.searcher.search(WARM_QUERY, limit=1, mode="lexical")
        if not gen.searcher.has_vectors:
            return "the vector index is missing" if current.searcher.has_vectors else None
        if not self._models_loaded():
            return None  # the loader warms it when the models are ready
        gen.warm_semantic()
        if gen.semantic is not True and current.semantic is True:
            return str(gen.semantic)
        return None

    def _models_loaded(self) -> bool:
        """Whether the shared models are loaded (a new generation then opens its side in a
        tenth of a second)."""
        return self._current.searcher.model_state == "ready"

    def _swap(self, gen: Generation) -> None:
        with self._lock:
            old, self._current = self._current, gen
            old.retired = True
            close = old.leases == 0
        if close:
            old.searcher.close()
        self._last_note = None
        log.info("serving index generation %d", gen.number)

    def _note(self, message: str) -> None:
        if message != self._last_note:
            log.warning("%s", message)
            self._last_note = message
