"""What the HTTP API and the MCP server offer, with their limits and their errors, in one place.

Each operation leases the live generation of the index for its whole run, decides the mode the
model's readiness allows (never waiting for the model), and turns library errors into a
`ServiceError` with an HTTP status and one line of meaning.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from search import DataError, FacetSort, Mode, ModelSpec, Post, QuerySyntaxError, Sort
from search.server.live import Generation, LiveIndex
from search.server.render import render_post

# Limits on one request. 100 hits a page is more than the page or an agent reads at once
# (Typesense stops at 250); paging stops at 1,000 hits, since a search ranks offset + limit
# candidates and the offset so bounds its work (Meilisearch's default cap is 1,000 too).
MAX_LIMIT = 100
MAX_OFFSET = 1000
MAX_SIMILAR = 50
MAX_FILTER_VALUES = 20  # tags or categories in one request: more than any post has
# /embed: 64 texts of up to 2,000 characters each, about 64 x 512 tokens, e5's window, ~1.5 s
# of CPU at most; the request body is capped at 1 MB before any parsing (see guard.py).
MAX_TEXTS = 64
MAX_TEXT_CHARS = 2000
# Searches, embeddings and renderings run at most this many at a time; the rest queue. The
# library holds the GIL for most of a search and ONNX already uses every core for one query:
# on 2 cores, hybrid searches ran at 75/s from one thread, 71/s from 2 and 53/s from 16.
CPU_SLOTS = max(1, (os.cpu_count() or 2) // 2)
# Search answers kept, by index generation and every parameter: an API's clients and the
# page's search-as-you-type ask the same questions again (the page re-asks a query at each
# keystroke back), and a hybrid answer costs 13-30 ms of a core while a kept one costs
# microseconds. A commit starts a new generation, so a kept answer is never stale. 1,024
# answers: ~10 MB at 10 hits each, ~100 MB at the 100-hit limit. `search serve --cache 0`
# turns it off.
RESULT_CACHE = 1024
# A rendered reader is kept only up to this many characters (the archive's longest post renders
# to ~200k): a post may hold a million characters, and 128 of those would take gigabytes.
MAX_KEPT_RENDER = 256_000
# Before a commit is served, its most recent searches are answered again (`_autowarm`): 64 of
# them, 5-15 ms each with their query vectors kept by the model, for never more than
# AUTOWARM_SECONDS: that long a delay before a commit is visible, against a burst of misses
# after it. bench/bench_serve.py (16 clients, no pause), hybrid p99 in the 5 s after the
# commit and in the 5 s after those: without 454 / 151 ms; with 64: 227..292 / 60..83 ms
# (three runs); with 256 in 2 s: 244..334 / 63..100 (two), and the commit visible later.
AUTOWARM = 64
AUTOWARM_SECONDS = 1.5
LOADING = "the embedding model is still loading: searching lexically"
UNAVAILABLE = "semantic search is unavailable ({}); searching lexically"  # the library's words


class ServiceError(Exception):
    """A request that cannot be answered: `status` for HTTP, the message for people."""

    def __init__(self, status: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Embedding:
    model: str
    vectors: Any  # numpy float32 rows, L2-normalized

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])


def post_dict(post: Post, *, html: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {
        "post_id": post.id,
        "title": post.title,
        "url": post.url,
        "date": post.date.isoformat() if post.date else None,
        "category": post.category,
        "tags": list(post.tags),
        "views": post.views,
        "body": post.body,
    }
    if html:
        d["html"] = render_post(post.body, post.url)
    return d


@dataclass(frozen=True, slots=True)
class _Search:
    """A search request's parameters but its mode: hashable, so it keys the answer cache."""

    q: str
    limit: int
    offset: int
    tags: tuple[str, ...]
    categories: tuple[str, ...]
    since: str | None
    until: str | None
    sort: Sort
    explain: bool


class AnswerCache:
    """A thread-safe LRU of JSON-ready answers; size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> dict[str, Any] | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self.hits += 1
        return copy.deepcopy(answer)  # callers may change theirs

    def put(self, key: Hashable, answer: dict[str, Any]) -> None:
        if not self.size:
            return
        kept = copy.deepcopy(answer)
        with self._lock:
            self._answers[key] = kept
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def recent(self, n: int) -> list[Hashable]:
        """The keys of the `n` answers used last, most recent first."""
        with self._lock:
            keys = list(self._answers)
        return keys[-n:][::-1]

    def __len__(self) -> int:
        return len(self._answers)


class Service:
    """The operations, over a `LiveIndex`. Thread-safe: it keeps no per-call state."""

    def __init__(self, live: LiveIndex, *, cache: int = RESULT_CACHE) -> None:
        self.live = live
        self._slots = threading.BoundedSemaphore(CPU_SLOTS)
        self.answers = AnswerCache(cache)
        # Rendered readers (MathML and sanitising: up to ~100 ms for a long post), by what
        # they are made of, so a commit changing other posts keeps them; an eighth as many,
        # since each is a whole post (~50-200 kB, never over MAX_KEPT_RENDER).
        self.renders = AnswerCache(cache // 8)
        live.add_warmer(self._autowarm)

    # -- search ---------------------------------------------------------------------------
    def _mode(self, gen: Generation, mode: Mode) -> tuple[Mode, list[str]]:
        """The mode to run now: the model is never waited for."""
        if mode == "lexical" or not gen.searcher.has_vectors:
            return mode, []  # without vectors the library answers lexically and says why
        if self.live.model == "failed":
            return "lexical", [UNAVAILABLE.format(self.live.model_error)]
        if self.live.model != "ready" or gen.semantic is None:
            return "lexical", [LOADING]
        if gen.semantic is not True:
            return "lexical", [UNAVAILABLE.format(gen.semantic)]
        return mode, []

    def search(
        self,
        q: str,
        *,
        mode: Mode = "hybrid",
        limit: int = 10,
        offset: int = 0,
        tags: Sequence[str] = (),
        categories: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        sort: Sort = "relevance",
        explain: bool = False,
    ) -> dict[str, Any]:
        _check_range("limit", limit, 0, MAX_LIMIT)
        _check_range("offset", offset, 0, MAX_OFFSET)
        _check_values("tag", tags)
        _check_values("category", categories)
        request = _Search(
            q, limit, offset, tuple(tags), tuple(categories), since, until, sort, explain
        )
        started = time.perf_counter()
        with self.live.lease() as gen:
            run_mode, warnings = self._mode(gen, mode)
            key = (gen.number, run_mode, request)
            out = self.answers.get(key)
            if out is not None:
                out["took_ms"] = (time.perf_counter() - started) * 1000
                return out
            with self._slots:
                out = self._run(gen, run_mode, request)
        out["warnings"] = warnings + out["warnings"]
        self.answers.put(key, out)
        return out

    def _run(self, gen: Generation, mode: Mode, r: _Search) -> dict[str, Any]:
        with _errors():
            return gen.searcher.search(
                r.q,
                limit=r.limit,
                mode=mode,
                offset=r.offset,
                tags=list(r.tags) or None,
                category=list(r.categories) or None,
                since=r.since or None,
                until=r.until or None,
                sort=r.sort,
                explain=r.explain,
            ).to_dict()

    def _autowarm(self, gen: Generation, current: Generation) -> None:
        """Answer the live generation's most recent searches again on `gen` before it is
        swapped in, so that a commit does not turn every popular query into a miss at once
        (Solr autowarms its query cache so). Searches that ran degraded are left out."""
        deadline = time.monotonic() + AUTOWARM_SECONDS
        for key in self.answers.recent(AUTOWARM):
            number, mode, request = key
            if number != current.number or time.monotonic() > deadline:
                continue
            run_mode, warnings = self._mode(gen, mode)
            if run_mode != mode or warnings:
                continue
            try:
                out = self._run(gen, mode, request)
            except ServiceError:
                continue
            self.answers.put((gen.number, mode, request), out)

    # -- posts ----------------------------------------------------------------------------
    def post(self, post_id: int, *, html: bool = False) -> dict[str, Any]:
        with self.live.lease() as gen, _errors():
            post = gen.searcher.get(post_id)
        if post is None:
            raise ServiceError(404, f"no post {post_id}")
        if not html:
            return post_dict(post)
        # What the rendering is made of; the body by its digest, not a second copy.
        key = (post.url, hashlib.blake2b(post.body.encode("utf-8"), digest_size=16).digest())
        rendered = self.renders.get(key)
        if rendered is None:
            with self._slots, _errors():
                rendered = {"html": render_post(post.body, post.url)}
            if len(rendered["html"]) <= MAX_KEPT_RENDER:
                self.renders.put(key, rendered)
        return {**post_dict(post), **rendered}

    def similar(self, post_id: int, *, limit: int = 5) -> dict[str, Any]:
        _check_range("limit", limit, 1, MAX_SIMILAR)
        with self.live.lease() as gen:
            key = (gen.number, "similar", post_id, limit)
            out = self.answers.get(key)
            if out is not None:
                return out
            with self._slots, _errors():
                try:
                    result = gen.searcher.similar(post_id, limit=limit)
                except KeyError:
                    raise ServiceError(404, f"no post {post_id}") from None
        out = result.to_dict()
        self.answers.put(key, out)
        return out

    # -- the model ------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], kind: str = "query") -> Embedding:
        if kind not in ("query", "passage"):
            raise ServiceError(422, f"kind must be 'query' or 'passage', not {kind!r}")
        if len(texts) > MAX_TEXTS:
            raise ServiceError(413, f"{len(texts)} texts; the limit is {MAX_TEXTS} per request")
        long = [i for i, t in enumerate(texts) if len(t) > MAX_TEXT_CHARS]
        if long:
            raise ServiceError(
                413,
                f"text {long[0]} has {len(texts[long[0]]):,} characters; "
                f"the limit is {MAX_TEXT_CHARS:,}",
                {"texts": long},
            )
        self._model_ready()
        with self.live.lease() as gen, self._slots, _errors():
            vectors = gen.searcher.embed(list(texts), kind)  # type: ignore[arg-type]
            spec = gen.searcher.spec
        model = spec.model_id if spec is not None else ModelSpec().model_id
        return Embedding(model, vectors)

    def _model_ready(self) -> None:
        live = self.live
        if live.model == "ready":
            return
        if live.model == "failed":
            raise ServiceError(503, f"the embedding model is unavailable: {live.model_error}")
        live.start_loading()
        raise ServiceError(503, "the embedding model is loading; try again in a few seconds")

    # -- about the index --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.live.lease() as gen, _errors():
            info = gen.searcher.stats()
        info.pop("data_dir", None)  # where files live is nothing a client needs to know
        return {**info, **self._status(gen)}

    def tags(self, sort: FacetSort = "count") -> dict[str, Any]:
        return {"tags": self._facets("tag", sort)}

    def categories(self, sort: FacetSort = "count") -> dict[str, Any]:
        return {"categories": self._facets("category", sort)}

    def _facets(self, field: Literal["tag", "category"], sort: FacetSort) -> list[dict[str, Any]]:
        """Every tag (or category) with its post count and newest post's date."""
        with self.live.lease() as gen, _errors():
            return [f.to_dict() for f in gen.searcher.facets(field, sort)]

    def health(self) -> dict[str, Any]:
        with self.live.lease() as gen, _errors():
            posts = len(gen.searcher.meta)
        return {"status": "ok", "posts": posts, **self._status(gen)}

    def _status(self, gen: Generation) -> dict[str, Any]:
        semantic = gen.searcher.has_vectors and self.live.model == "ready" and gen.semantic
        return {
            "model_state": self.live.model,
            "semantic": semantic is True,
            "generation": gen.number,
            "opened_at": dt.datetime.fromtimestamp(gen.opened_at, dt.UTC).isoformat(),
        }


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ServiceError(422, f"{name} must be between {low} and {high}, not {value}")


def _check_values(name: str, values: Sequence[str]) -> None:
    if len(values) > MAX_FILTER_VALUES:
        raise ServiceError(422, f"{len(values)} {name} filters; the limit is {MAX_FILTER_VALUES}")


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors as ServiceErrors: a query's syntax is the client's (400), the data
    directory's state the server's (503), an argument out of range the client's (422)."""
    try:
        yield
    except ServiceError:
        raise
    except QuerySyntaxError as exc:
        raise ServiceError(400, str(exc)) from None
    except DataError as exc:
        raise ServiceError(503, str(exc)) from None
    except ValueError as exc:
        raise ServiceError(422, str(exc)) from None
