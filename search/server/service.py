"""What the HTTP API and the MCP server offer, with their limits and their errors, in one place.

Each operation leases the live generation of the index for its whole run, decides the mode the
model's readiness allows (never waiting for the model), and turns library errors into a
`ServiceError` with an HTTP status and one line of meaning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal

from search import (
    DataError,
    FacetSort,
    Mode,
    ModelSpec,
    Post,
    QuerySyntaxError,
    SearchRequest,
    Sort,
    graph_of,
)
from search.server.live import Generation, LiveIndex
from search.server.renderer import RenderCache, RenderPool, RenderTimeout

log = logging.getLogger("kexue_search.server")

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
# Before a commit is served, the answers the live generation was asked for most are computed on
# it (`_autowarm`), for at most AUTOWARM_SECONDS: that much later is the commit visible, against
# a burst of misses once it is. Under load a warmed answer takes 20-40 ms (the GIL is shared with
# the requests), so the time, not the count, is the bound. bench/bench_serve.py (16 clients, no
# pause), hybrid p99 in the 5 s windows around a commit: the 64 most recent answers, 1.5 s (a
# `similar` answer among them stopped the warming, a bug then): 529-551 ms; the 512 most asked,
# 2 s: 111-220 ms before the lexical feedback, 220-298 ms with it (three runs; 42-175 ms in the
# other windows, whole-run p99 80-164 ms), the commit visible 0.8-2.5 s after `search index`
# exits; in 3 s (before the lexical feedback): 93 / 150 ms, but visible only after 3.6 s.
AUTOWARM = 512
AUTOWARM_SECONDS = 2.0
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


def post_dict(post: Post) -> dict[str, Any]:
    return {
        "post_id": post.id,
        "title": post.title,
        "url": post.url,
        "date": post.date.isoformat() if post.date else None,
        "category": post.category,
        "tags": list(post.tags),
        "views": post.views,
        "body": post.body,
    }


class AnswerCache:
    """A thread-safe LRU of JSON-ready answers, counting how often each is used; size 0
    keeps nothing.

    Each is kept as its JSON text: reading one back is a copy the caller may change, in a
    third of the time `copy.deepcopy` takes (40 vs 136 us for ten hits)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._answers: OrderedDict[Hashable, str] = OrderedDict()
        self._uses: dict[Hashable, int] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> dict[str, Any] | None:
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                self.misses += 1
                return None
            self._answers.move_to_end(key)
            self._uses[key] += 1
            self.hits += 1
        return json.loads(answer)  # a copy: callers may change theirs

    def put(self, key: Hashable, answer: dict[str, Any]) -> None:
        if not self.size:
            return
        kept = json.dumps(answer, ensure_ascii=False)
        with self._lock:
            self._answers[key] = kept
            self._uses.setdefault(key, 0)
            while len(self._answers) > self.size:
                dropped, _ = self._answers.popitem(last=False)
                del self._uses[dropped]

    def popular(self, n: int) -> list[Hashable]:
        """The keys of the `n` answers used most often since they were kept; of those used
        as often, the most recent first."""
        with self._lock:
            keys = list(reversed(self._answers))
            uses = dict(self._uses)
        return sorted(keys, key=uses.__getitem__, reverse=True)[:n]

    def __len__(self) -> int:
        return len(self._answers)


class Service:
    """The operations, over a `LiveIndex`. Thread-safe: it keeps no per-call state."""

    def __init__(
        self, live: LiveIndex, *, cache: int = RESULT_CACHE, render_workers: int = 0
    ) -> None:
        """`cache`: search answers kept (0: none, and no readers kept either);
        `render_workers`: processes rendering readers (0: this one's threads)."""
        self.live = live
        self._slots = threading.BoundedSemaphore(CPU_SLOTS)
        self.answers = AnswerCache(cache)
        # Readers by what they are made of, so a commit changing other posts keeps them.
        self.renders = RenderCache() if cache else RenderCache(0)
        self.renderer = RenderPool(render_workers)
        live.add_warmer(self._autowarm)

    def close(self) -> None:
        self.renderer.close()

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

    def search(self, q: str, *, mode: Mode = "hybrid", **params: Any) -> dict[str, Any]:
        """The answer to a search; `params` are `Searcher.search`'s filters and paging
        (`limit`, `offset`, `tags`, `categories`, `since`, `until`, `sort`, `explain`)."""
        request = _request(q, **params)
        started = time.perf_counter()
        with self.live.lease() as gen:
            run_mode, warnings = self._mode(gen, mode)
            key = (gen.number, "search", replace(request, mode=run_mode))
            out = self._kept(key, started)
            if out is not None:
                return out
            with self._slots:
                out = self._run(gen, key[2])
        out["warnings"] = warnings + out["warnings"]
        self.answers.put(key, out)
        return out

    def kept_search(self, q: str, *, mode: Mode = "hybrid", **params: Any) -> dict[str, Any] | None:
        """The answer `search` would give if it is kept, else None: microseconds, so an event
        loop may ask before it hands a search to a worker thread."""
        request = _request(q, **params)
        started = time.perf_counter()
        with self.live.lease() as gen:
            run_mode, _ = self._mode(gen, mode)
            return self._kept((gen.number, "search", replace(request, mode=run_mode)), started)

    def _kept(self, key: Hashable, started: float) -> dict[str, Any] | None:
        out = self.answers.get(key)
        if out is not None:
            out["took_ms"] = (time.perf_counter() - started) * 1000
        return out

    def _run(self, gen: Generation, request: SearchRequest) -> dict[str, Any]:
        with _errors():
            return _with_mathml(gen.searcher.search(request).to_dict())

    def _autowarm(self, gen: Generation, current: Generation) -> None:
        """Answer the live generation's most asked searches (and `similar` lists) again on
        `gen` before it is swapped in, so that a commit does not turn every popular request
        into a miss at once (Solr autowarms its query cache so). Searches that ran degraded
        are left out."""
        started = time.monotonic()
        warmed = 0
        for number, kind, request in self.answers.popular(AUTOWARM):
            if time.monotonic() - started > AUTOWARM_SECONDS:
                break
            if number != current.number:
                continue
            try:
                if kind == "similar":
                    out = self._similar(gen, *request)
                else:
                    run_mode, warnings = self._mode(gen, request.mode)
                    if run_mode != request.mode or warnings:
                        continue
                    out = self._run(gen, request)
            except ServiceError:
                continue
            self.answers.put((gen.number, kind, request), out)
            warmed += 1
        log.info(
            "generation %d: %d answers computed before serving it, in %.2f s",
            gen.number,
            warmed,
            time.monotonic() - started,
        )

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
            try:
                if self.renderer.workers:  # another process: no CPU slot of ours to take
                    rendered = self.renderer.render(post.body, post.url)
                else:
                    with self._slots:
                        rendered = self.renderer.render(post.body, post.url)
            except RenderTimeout as exc:
                raise ServiceError(503, f"post {post_id} cannot be shown as HTML: {exc}") from None
            self.renders.put(key, rendered)
        return {**post_dict(post), "html": rendered}

    def similar(self, post_id: int, *, limit: int = 5) -> dict[str, Any]:
        _check_range("limit", limit, 1, MAX_SIMILAR)
        with self.live.lease() as gen:
            key = (gen.number, "similar", (post_id, limit))
            out = self.answers.get(key)
            if out is not None:
                return out
            with self._slots:
                out = self._similar(gen, post_id, limit)
        self.answers.put(key, out)
        return out

    def _similar(self, gen: Generation, post_id: int, limit: int) -> dict[str, Any]:
        with _errors():
            try:
                return _with_mathml(gen.searcher.similar(post_id, limit=limit).to_dict())
            except KeyError:
                raise ServiceError(404, f"no post {post_id}") from None

    # -- the archive as a graph (search/graph.py) -------------------------------------------
    def links(self, post_id: int) -> dict[str, Any]:
        """What the post cites and what cites it, with the citing sentences, and its series."""
        with self.live.lease() as gen, _errors():
            post = gen.searcher.get(post_id)
            if post is None:
                raise ServiceError(404, f"no post {post_id}")
            return {"title": post.title, **graph_of(gen.searcher).links(post_id).to_dict()}

    def series_list(self) -> dict[str, Any]:
        with self.live.lease() as gen, _errors():
            every = graph_of(gen.searcher).series_list()
        return {"series": [s.to_dict(posts=False) for s in every]}

    def series(self, name: str) -> dict[str, Any]:
        """One series in reading order, by name (folded, or a part only one name holds)."""
        with self.live.lease() as gen, _errors():
            found = graph_of(gen.searcher).find_series(name)
        if found is None:
            raise ServiceError(404, f"no series {name!r}")
        return found.to_dict()

    def graph_summary(self, post_id: int, cap: int = 20) -> dict[str, Any]:
        """For an agent: the post's cites and cited-by as ids and titles (at most `cap` of
        each, with the full counts) and its series."""
        with self.live.lease() as gen, _errors():
            found = graph_of(gen.searcher).links(post_id)

        def brief(entries: Sequence[Any]) -> list[dict[str, Any]]:
            return [{"post_id": e.post_id, "title": e.title} for e in entries[:cap]]

        return {
            "cites": brief(found.cites),
            "cites_count": len(found.cites),
            "cited_by": brief(found.cited_by),
            "cited_by_count": len(found.cited_by),
            "series": found.series.to_dict() if found.series else None,
        }

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


def _with_mathml(answer: dict[str, Any]) -> dict[str, Any]:
    """`answer` with each snippet's short formulas as MathML too (`math`: start, end and the
    sanitised MathML), for the page; the text stays for everyone else."""
    from search.server.render import snippet_mathml

    for hit in answer["hits"]:
        snippet = hit["snippet"]
        snippet["math"] = [
            [start, end, mathml]
            for start, end, source in snippet.get("formulas", ())
            if (mathml := snippet_mathml(source)) is not None
        ]
    return answer


def _request(
    q: str,
    *,
    limit: int = 10,
    offset: int = 0,
    tags: Sequence[str] = (),
    categories: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    sort: Sort = "relevance",
    explain: bool = False,
    series: Sequence[str] = (),
) -> SearchRequest:
    """The library's request for these parameters (its mode set when it runs)."""
    _check_range("limit", limit, 0, MAX_LIMIT)
    _check_range("offset", offset, 0, MAX_OFFSET)
    _check_values("tag", tags)
    _check_values("category", categories)
    _check_values("series", series)
    return SearchRequest(
        q,
        limit,
        offset,
        category=tuple(categories),
        tags=tuple(tags),
        since=since or None,
        until=until or None,
        sort=sort,
        explain=explain,
        series=tuple(series),
    )


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
