"""Post readers rendered in a worker process, and kept by what they are made of.

Rendering is pure Python (markdown-it, latex2mathml, nh3's wrapper): 15 ms for the median post
of the shared corpus, 105 ms for the longest, all of it holding the GIL. In the server's own
process a reader therefore stalled every search running beside it: under bench/bench_serve.py
renders held the GIL for a quarter of the time, for 5% of the requests. In a worker process
they hold only that process's. The worker is also a fence: a post whose formulas send the
converter into a very long run is stopped after RENDER_TIMEOUT, the worker replaced, and the
server goes on.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from multiprocessing.pool import Pool

from search.server.render import render_post

log = logging.getLogger("kexue_search.server")

# The longest post of the shared corpus renders in ~0.1 s; a hundred times that is no post
# anyone can read, and a reader waiting that long has given up.
RENDER_TIMEOUT = 10.0
# Rendered readers kept, in characters of HTML: the 342 posts of the shared corpus render to
# 9 M characters, so 64 M keep an archive of ~2,000 posts whole, each rendered once.
RENDER_CACHE_CHARS = 64_000_000
# A reader over this is rendered each time, never kept (the archive's longest is ~135k): a
# post may hold a million characters, and a few of those would fill the cache alone.
MAX_KEPT_RENDER = 256_000


class RenderTimeout(Exception):
    """A post took longer than RENDER_TIMEOUT to render."""


class RenderCache:
    """A thread-safe LRU of rendered readers bounded by their total length; budget 0 keeps
    nothing. The strings are immutable: callers get the kept one itself."""

    def __init__(self, budget: int = RENDER_CACHE_CHARS, *, largest: int = MAX_KEPT_RENDER):
        self.budget = budget
        self.largest = min(largest, budget)
        self.chars = 0
        self.hits = self.misses = 0
        self._kept: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                self.misses += 1
                return None
            self._kept.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, rendered: str) -> None:
        if len(rendered) > self.largest:
            return
        with self._lock:
            old = self._kept.pop(key, None)
            self.chars -= len(old) if old is not None else 0
            self._kept[key] = rendered
            self.chars += len(rendered)
            while self.chars > self.budget:
                _, dropped = self._kept.popitem(last=False)
                self.chars -= len(dropped)

    def __len__(self) -> int:
        return len(self._kept)


class RenderPool:
    """`render_post` in a worker process (or, with `workers=0`, in this one).

    Thread-safe. The worker is spawned, not forked: the server has threads (and their locks)
    a fork would copy mid-use. It starts in the background, so the first reader waits at most
    for its start (~0.3 s).
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        timeout: float = RENDER_TIMEOUT,
        render: Callable[[str, str], str] = render_post,
    ) -> None:
        """`render`: a module-level function (the worker imports it by name)."""
        self.workers = workers
        self.timeout = timeout
        self._render = render
        self._lock = threading.Lock()
        self._pool: Pool | None = None
        if workers:
            threading.Thread(target=self._started, name="render-pool", daemon=True).start()

    def render(self, body: str, url: str) -> str:
        """The reader's HTML; RenderTimeout when the post takes too long."""
        if not self.workers:
            return self._render(body, url)
        pool = self._started()
        if pool is None:  # no worker could start (a sandbox without semaphores, say)
            return self._render(body, url)
        pending = pool.apply_async(self._render, (body, url))
        pending.wait(self.timeout)
        if not pending.ready():
            self._replace(pool)
            raise RenderTimeout(f"rendering took over {self.timeout:g} s")
        return pending.get()  # a worker's exception is raised here, as it would be in-process

    def close(self) -> None:
        with self._lock:
            pool, self._pool, self.workers = self._pool, None, 0
        if pool is not None:
            pool.terminate()
            pool.join()

    def _started(self) -> Pool | None:
        with self._lock:
            if self._pool is None and self.workers:
                try:
                    context = multiprocessing.get_context("spawn")
                    self._pool = context.Pool(self.workers, _warm)
                except OSError as exc:
                    log.warning("rendering in the server's own process: %s", exc)
                    self.workers = 0
            return self._pool

    def _replace(self, pool: Pool) -> None:
        """Stop a worker stuck in a render; the next render starts a fresh one. Renders
        queued behind it are lost with it and time out in their turn."""
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.terminate()
        log.warning("a post took over %g s to render: its worker was replaced", self.timeout)


def _warm() -> None:
    """Each worker imports and builds the renderer before its first reader."""
    render_post("$x$", "")
