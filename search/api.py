"""The public API: `Searcher` opens a data directory and answers queries with `SearchResult`s.

The front ends only call this. Lexical paths never import torch or FAISS: the embedding model
is loaded the first time a semantic answer is needed (or by `warm_up`). A search keeps its state
in locals and hands it back in its result, so one `Searcher` serves many threads at once.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import math
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from corpus.post import MAX_INT, Post, scrub
from index.errors import DataError, NoSuchPostError
from index.models import Embedder, ModelSpec, TextKind
from index.paths import DataDir
from index.reader import IndexReader
from index.store import PostMeta
from index.tokenize import has_cjk
from search.analysis import AnalyzedQuery, analyse
from search.config import DEFAULT_CONFIG, RankingConfig
from search.dense import ModelSide
from search.expand import Entry as GlossaryEntry
from search.expand import Glossary, entries_in
from search.facets import Facet, FacetSort, check_filters, facet_counts, nearest
from search.formula import FormulaRetriever, best_formula
from search.hits import Explanation, Hit, ListPart, SearchResult
from search.lexical import LexicalRetriever
from search.pipeline import Mode, Pipeline, Ranking
from search.query import (
    Filters,
    ParsedQuery,
    UnknownFilterError,
    parse_date_bound,
    parse_query,
    parse_years,
)
from search.request import MODES, SORTS, SearchRequest, Sort

__all__ = ["MODES", "SORTS", "ModelState", "Searcher"]
from search.snippets import WIDTH as SNIPPET_WIDTH
from search.snippets import make_snippet

if TYPE_CHECKING:
    import numpy as np

    from search.graph import ArchiveGraph, PostLinks, Series

ModelState = Literal["none", "idle", "loading", "ready", "failed"]
# A formula longer than this (a page-long table of derivations) is not shown as a snippet: the
# best matching formula that is shorter is. The archive's aligned blocks run to 400-1,000
# characters of LaTeX (Adam's update in 7302: 454), about half that once rendered.
FORMULA_SNIPPET_MAX = 1000
#: The warning of a search answered lexically because it did not wait for the models.
MODELS_LOADING = "the embedding models are still loading; searching lexically"


def _as_date(value: dt.date | str | None, *, end: bool) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return parse_date_bound(str(value), end=end)


def _tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    return tuple(map(scrub, (value,) if isinstance(value, str) else value or ()))


# Model loaders running in the background. A process that ends while one is inside ONNX
# Runtime's session creation aborts (SIGABRT, "terminate called ..."): a query refused after
# its models began loading exited with -6 instead of its error's 2. Exit waits for them.
_LOADERS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


@atexit.register
def _join_loaders() -> None:
    for thread in list(_LOADERS):
        thread.join()


class Searcher:
    """Read-only access to one data directory. Safe to share between threads."""

    def __init__(
        self,
        reader: IndexReader,
        *,
        embedder: Embedder | None = None,
        embedders: Mapping[str, Embedder] | None = None,
        config: RankingConfig = DEFAULT_CONFIG,
    ) -> None:
        """`embedders`: loaded models to reuse, by `ModelSpec.key` (the rest load on first
        use); `embedder`: the primary model's, the same way. Each must be the model its
        vectors were made with. `config`: every tuned value of the ranking."""
        self.reader = reader
        self.data: DataDir = reader.data
        self.store = reader.store
        self.spec: ModelSpec | None = reader.model
        self.config = config
        self._lock = threading.RLock()  # the SQLite connection and lazily built parts
        self._meta: dict[int, PostMeta] | None = None
        self._retriever: LexicalRetriever | None = None
        self._formula: FormulaRetriever | None = None
        given = dict(embedders or {})
        if embedder is not None and self.spec is not None:
            given[self.spec.key] = embedder
        # The index's models as equal sides, the primary first (search/dense.py).
        self.sides: tuple[ModelSide, ...] = tuple(
            ModelSide(
                spec,
                primary=i == 0,
                embedder=given.get(spec.key),
                vectors=functools.partial(reader.vector_index, spec),
                chunks=self.store.chunk_table,
                config=config.semantic,
            )
            for i, spec in enumerate(reader.models)
        )
        self._loading = 0  # loads under way (model_state "loading")
        self._loader: threading.Thread | None = None
        self._query_embedder: Embedder | None = None  # `embed` without a vector index
        self._query_error: str | None = None  # why that model could not load

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        model: str | None = None,
        embedder: Embedder | None = None,
        embedders: Mapping[str, Embedder] | None = None,
        config: RankingConfig = DEFAULT_CONFIG,
    ) -> Searcher:
        """Open a data directory. `model`, if given, must be the one the vectors were built
        with (a different one is a ModelMismatchError)."""
        reader = IndexReader.open(path, model=model)
        return cls(reader, embedder=embedder, embedders=embedders, config=config)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- look-ups --------------------------------------------------------------------------
    @property
    def meta(self) -> dict[int, PostMeta]:
        if self._meta is None:
            with self._lock:
                if self._meta is None:
                    self._meta = self.store.metadata()
        return self._meta

    def get(self, post_id: int) -> Post | None:
        """The post, or None (also for an id no post can have, such as one past 64 bits)."""
        if not 0 < post_id <= MAX_INT:
            return None
        with self._lock:
            return self.store.get(post_id)

    @cached_property
    def glossary(self) -> Glossary:
        """The written glossary and the one mined from this archive (search.expand)."""
        with self._lock:
            return Glossary(mined=self.store.glossary())

    def gloss(self, text: str) -> list[GlossaryEntry]:
        """What the glossaries make of `text`: the entries of its English phrases (what an
        English query is expanded with), or for Chinese text the entries naming it."""
        if has_cjk(text):
            return self.glossary.english_for(text.strip())
        return entries_in(text, self.glossary)

    @cached_property
    def graph(self) -> ArchiveGraph:
        """The archive's links and series (search.graph), read from the store once."""
        from search.graph import ArchiveGraph

        meta = self.meta
        with self._lock:
            return ArchiveGraph.load(self.store, meta)

    def links(self, post_id: int) -> PostLinks:
        """What a post cites and what cites it, with the citing sentences, and its series."""
        from search.graph import links_of

        return links_of(self, post_id)

    def series(self, name: str | None = None) -> list[Series] | Series | None:
        """Every series (None), or the one `name` names (None when none does)."""
        return self.graph.series_list() if name is None else self.graph.find_series(name)

    def categories(self) -> list[str]:
        return sorted({m.category for m in self.meta.values() if m.category})

    def tags(self) -> list[str]:
        return sorted({t for m in self.meta.values() for t in m.tags})

    def facets(self, field: Literal["tag", "category"], sort: FacetSort = "count") -> list[Facet]:
        """Every tag (or category) with how many posts have it and its newest post's date;
        `sort` by "count" (most first), "newest" (latest post first) or "name"."""
        return facet_counts(self.meta.values(), field, sort)

    def stats(self) -> dict[str, object]:
        with self._lock:
            first, last = self.store.date_range()
            posts = self.store.count()
        info: dict[str, object] = {
            "data_dir": str(self.data.root),
            "posts": posts,
            "first_post": first,
            "last_post": last,
            "categories": len(self.categories()),
            "tags": len(self.tags()),
            "glossary_written": self.glossary.sizes()["written"],
            "glossary_mined": self.glossary.sizes()["mined"],
            "store_bytes": self.data.store.stat().st_size,
            "lexical_docs": self.reader.lexical.num_docs(),
            "lexical_bytes": self.reader.lexical.disk_size(),
            "tokenizer": self.reader.manifest.tokenizer,
            "model": self.spec.key if self.spec else None,
            "models": [side.spec.key for side in self.sides],  # the primary first
            "passages": 0,
            "vector_bytes": 0,
        }
        if self.sides:
            vectors = self.sides[0].retriever.vectors
            info["passages"] = len(vectors)
            info["dimension"] = vectors.dim
            sizes = []
            for side in self.sides:
                with contextlib.suppress(DataError):  # a broken other model: `check` says so
                    sizes.append(side.retriever.vectors.disk_size())
            info["vector_bytes"] = sum(sizes)
        return info

    # -- the embedding models -------------------------------------------------------------
    @property
    def has_vectors(self) -> bool:
        """Whether this data directory has a vector index (semantic and hybrid modes)."""
        return bool(self.sides)

    @property
    def embedder(self) -> Embedder | None:
        """The primary model (None without vectors): pass it to another Searcher of the same
        index to share one loaded model."""
        return self.sides[0].embedder if self.sides else None

    @property
    def embedders(self) -> dict[str, Embedder]:
        """Every model of the index by `ModelSpec.key`: to share like `embedder`."""
        return {side.spec.key: side.embedder for side in self.sides}

    @property
    def model_state(self) -> ModelState:
        """ "none" without vectors; "idle" before loading, "loading", "ready" (the primary
        answers; a failed other model only drops its list) or "failed" (`model_error` says
        why; searches answer lexically)."""
        if not self.sides:
            return "none"
        primary = self.sides[0]
        if primary.error:
            return "failed"
        if primary.loaded and not self._loading:
            return "ready"
        return "loading" if self._loading else "idle"

    @property
    def model_error(self) -> str | None:
        return self.sides[0].error if self.sides else None

    @property
    def model_loaded(self) -> bool:
        return self.model_state == "ready"

    @property
    def embed_model_loaded(self) -> bool:
        """Whether `embed` answers without loading a model first (without vectors it uses the
        model they would be made with, loaded on first use; `model_state` is then "none")."""
        if self.sides:
            return self.sides[0].embedder.loaded
        return self._query_embedder is not None and self._query_embedder.loaded

    @property
    def embed_model_error(self) -> str | None:
        """Why `embed` cannot answer: `model_error`, or without vectors why the model they
        would be made with failed to load (None: it did, or was not tried yet)."""
        return self.model_error if self.sides else self._query_error

    def load_models(self, background: bool = False) -> None:
        """Load every model of the index and open its vectors. In the calling thread (slow:
        ~1-2 s; raises DataError when the primary cannot load), or with `background` in a
        daemon thread, once: `model_state` follows it, and searches that do not wait answer
        lexically meanwhile."""
        if not self.sides:
            raise DataError("this index has no vectors")
        if not background:
            self._load_sides()
            return
        with self._lock:
            if self._loader is None or not (self._loader.is_alive() or self.model_loaded):
                self._loading += 1  # "loading" from now, not from when the thread runs
                self._loader = threading.Thread(
                    target=self._load_sides, kwargs={"counted": True}, daemon=True, name="models"
                )
                self._loader.start()
                _LOADERS.add(self._loader)

    def warm_up(self) -> None:
        """Load the models now (as `load_models()`); raises DataError."""
        self.load_models()

    def _load_sides(self, counted: bool = False) -> None:
        """Load each side; the others beside the primary (USE spends ~0.5 s parsing its
        tokenizer in Python while ONNX Runtime builds e5's session in C++, so a cold hybrid
        query pays for the slower of the two, not their sum). A failed other side drops out
        with the warning hybrid results then carry."""
        if not counted:
            with self._lock:
                self._loading += 1

        def load_others() -> None:
            for side in self.sides[1:]:
                with contextlib.suppress(DataError):  # kept in side.error
                    side.load()

        others = threading.Thread(target=load_others, daemon=True)
        others.start()
        try:
            self.sides[0].load()
        except DataError:
            if not counted:
                raise
        finally:
            others.join()
            with self._lock:
                self._loading -= 1

    def _ready_sides(self, mode: Mode, wait: bool, warnings: list[str]) -> tuple[ModelSide, ...]:
        """The sides that answer a `mode` search now (none: answer lexically), with warnings
        for what is left out."""
        if mode == "lexical":
            return ()
        if not self.sides:
            warnings.append("no vector index: searching lexically")
            return ()
        if not wait and not self.model_loaded:
            if self.model_state == "idle":
                self.load_models(background=True)
            if self.model_state != "failed":
                warnings.append(MODELS_LOADING)
                return ()
        try:
            if not self.model_loaded:
                self.load_models()
        except DataError as exc:
            warnings.append(f"semantic search is unavailable ({exc}); searching lexically")
            return ()
        ready = tuple(side for side in self.sides if not side.error)
        if mode == "hybrid":
            for side in self.sides:
                if side.error:
                    warnings.append(
                        f"{side.spec.model_id} is unavailable ({side.error}); ranking without "
                        "it (repair with: search index)"
                    )
        return ready

    def embed(self, texts: Sequence[str], kind: TextKind = "query") -> np.ndarray:
        """Embeddings from the index's own (primary) model: float32 rows, L2-normalized."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        embedder = self.embedder
        if embedder is None:  # no vectors yet: the model they would be made with
            with self._lock:
                if self._query_embedder is None:
                    self._query_embedder = Embedder(ModelSpec())
                embedder = self._query_embedder
            try:
                embedder.load()
            except Exception as exc:  # DataError, or a runtime's own: kept for `model_state`
                self._query_error = str(exc) if isinstance(exc, DataError) else repr(exc)
                raise
        return embedder.encode([scrub(t) for t in texts], kind)

    def _lexical_retriever(self) -> LexicalRetriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = LexicalRetriever(
                    self.reader.lexical, self.glossary, self.config.lexical
                )
            return self._retriever

    def similar(self, post_id: int, limit: int = 5) -> SearchResult:
        """Posts related to `post_id`, best first, without the post itself: by its stored
        passage vectors (no model needed), else by its title and tags as a lexical query.
        Raises NoSuchPostError for an id the index does not hold, ValueError for a bad limit."""
        started = time.perf_counter()
        SearchRequest("", limit=limit).checked()
        post = self.get(post_id)
        if post is None:
            raise NoSuchPostError(f"no post {post_id} in the index")
        warnings: tuple[str, ...] = ()
        if self.sides:
            try:
                semantic = self.sides[0].retriever
            except DataError as exc:
                warnings = (f"the vector index cannot be used ({exc}); relating by words",)
            else:
                vector = semantic.post_vector(post_id)
                if vector is not None:
                    found = semantic.search(vector, limit + 1)
                    ranked = [(h.post_id, h.score) for h in found if h.post_id != post_id]
                    passages = {h.post_id: h.passage for h in found}
                    hits = self._hits((), Ranking(ranked[:limit], 0, {}, passages=passages))
                    took = (time.perf_counter() - started) * 1000
                    return SearchResult(hits, len(hits), 0, "semantic", (), took)
        text = " ".join([post.title, *post.tags])
        found = self.search(text, limit=limit + 1, mode="lexical")
        hits = tuple(h for h in found if h.post_id != post_id)[:limit]
        took = (time.perf_counter() - started) * 1000
        return SearchResult(hits, len(hits), 0, "lexical", warnings, took)

    # -- search ----------------------------------------------------------------------------
    def parse(
        self,
        query: str,
        *,
        category: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        year: str | None = None,
        series: str | Iterable[str] | None = None,
    ) -> ParsedQuery:
        """Parse query text and merge keyword filters into it (`year` as `year:` in the text:
        the ranges intersect); raises QuerySyntaxError."""
        parsed = parse_query(query)
        first, last = parse_years(year) if year else (None, None)
        extra = Filters(
            tags=_tuple(tags),
            categories=_tuple(category),
            since=_as_date(since, end=False),
            until=_as_date(until, end=True),
            series=_tuple(series),
        )
        if first is not None:
            extra = extra.merged(Filters(since=first, until=last))
        merged = parsed.with_filters(extra) if extra else parsed
        merged.filters.checked()
        return merged

    def analyse(self, request: SearchRequest | str) -> AnalyzedQuery:
        """The query as every stage of a search reads it (corrected, folded, segmented once):
        what front ends highlight with. Raises QuerySyntaxError."""
        if isinstance(request, str):
            request = SearchRequest(request)
        parsed = self.parse(
            request.query,
            category=request.category,
            tags=request.tags,
            since=request.since,
            until=request.until,
            year=request.year,
            series=request.series,
        )
        if parsed.filters.tags or parsed.filters.categories:
            check_filters(parsed.filters, tags=self.tags(), categories=self.categories())
        if parsed.filters.series:
            parsed = replace(parsed, filters=self._named_series(parsed.filters))
        return analyse(
            parsed,
            vocabulary=self._lexical_retriever(),
            texts=self._texts,
            glossary=self.glossary,
            typing=request.typing,
            part_weight=self.config.lexical.part_weight,
        )

    def search(
        self,
        query: str | SearchRequest,
        limit: int = 10,
        mode: Mode = "hybrid",
        *,
        offset: int = 0,
        category: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        year: str | None = None,
        sort: Sort = "relevance",
        explain: bool = False,
        typing: bool = False,
        wait: bool = True,
        series: str | Iterable[str] | None = None,
    ) -> SearchResult:
        """Posts best first, each once: items `offset` to `offset + limit` of one ranking.

        `query` is the text, or a whole `SearchRequest` (the other arguments then unused).
        A Latin word no post holds is corrected to the nearest one the archive has; with
        `typing` (search as you type) an unknown last word is completed instead. Without
        `wait`, a search before the models are loaded answers lexically (and starts loading
        them). The warnings say so. Raises QuerySyntaxError for a filter that means nothing,
        ValueError for a bad mode, sort, limit or offset.
        """
        started = time.perf_counter()
        request = (
            query
            if isinstance(query, SearchRequest)
            else SearchRequest(
                query,
                limit,
                offset,
                mode,
                category=_tuple(category),
                tags=_tuple(tags),
                since=since,
                until=until,
                year=year,
                sort=sort,
                explain=explain,
                typing=typing,
                wait=wait,
                series=_tuple(series),
            )
        ).checked()
        if request.mode != "lexical" and self.model_state == "idle":
            # The models load (C++ and numpy: 0.3-0.6 s) while this thread analyses the query
            # and opens the BM25 side: a cold hybrid query pays the longer, not the sum.
            self.load_models(background=True)
        # 1. analyse the query once; 2. choose the sides that answer
        q = self.analyse(request)
        warnings = list(q.corrections)
        mode = request.mode
        sides = self._ready_sides(mode, request.wait, warnings) if q.has_text else self.sides
        if mode != "lexical" and q.has_text and not sides:
            mode = "lexical"
        # 3. rank: every page of a query is cut from the same ranking, at least `depth` deep
        depth = min(max(request.offset + request.limit, self.config.depth), self._posts())
        ranking = self._pipeline(sides).run(q, mode, depth)
        ranked = ranking.ranked
        if request.sort == "date":
            never = dt.date.min
            ranked = sorted(ranked, key=lambda r: self.meta[r[0]].date or never, reverse=True)
        # 4. the page's hits
        page = ranked[request.offset : request.offset + request.limit]
        hits = self._hits(q.highlight, replace(ranking, ranked=page), explain=request.explain)
        unknown: list[str] = []
        if not ranked and q.has_text:
            unknown = self._lexical_retriever().unseen(list(q.text_terms))
        took = (time.perf_counter() - started) * 1000
        return SearchResult(
            hits,
            ranking.total,
            request.offset,
            mode,
            tuple(warnings),
            took,
            tuple(unknown),
            floor=ranking.floor,
            request=request,
            filters=q.filters,
        )

    def ranking(
        self, query: str, mode: Mode = "hybrid", config: RankingConfig | None = None
    ) -> tuple[AnalyzedQuery, Ranking]:
        """A search's whole ranking (every list by name, the floor's report), waiting for the
        models: what bench/tune_fusion.py and bench/calibrate_floor.py vary `config` on."""
        q = self.analyse(query)
        sides = self._ready_sides(mode, True, []) if q.has_text else self.sides
        config = config or self.config
        mode = mode if sides or not q.has_text else "lexical"
        return q, self._pipeline(sides).run(q, mode, min(config.depth, self._posts()), config)

    def _pipeline(self, sides: Sequence[ModelSide]) -> Pipeline:
        return Pipeline(
            self._lexical_retriever(),
            sides,
            texts=self._texts,
            passing=self._passing,
            config=self.config,
            cited=self._citation_prior,
            formula=self._formula_retriever(),
        )

    def _formula_retriever(self) -> FormulaRetriever:
        lexical = self._lexical_retriever()
        with self._lock:
            if self._formula is None or self._formula.lexical is not lexical:
                self._formula = FormulaRetriever(lexical)
            return self._formula

    @cached_property
    def _prior(self) -> dict[int, float]:
        """log(1 + in-degree) / log(1 + the largest in-degree): how much the archive cites a
        post, in [0, 1] (bench/graph_prior.py: the log keeps the RoPE post's 26 citations
        from outweighing everything)."""
        cited = self.graph.in_degree()
        most = math.log1p(max(cited.values(), default=0))
        return {p: math.log1p(n) / most for p, n in cited.items() if n} if most else {}

    def _citation_prior(self) -> dict[int, float]:
        return self._prior

    def _posts(self) -> int:
        return max(len(self.meta), 1)

    def _passing(self, q: AnalyzedQuery) -> set[int] | None:
        filters = q.filters
        if not filters:
            return None
        passing = {pid for pid, m in self.meta.items() if filters.matches(m)}
        for name in filters.series:
            passing &= self.graph.series_members(name)
        return passing

    def _named_series(self, filters: Filters) -> Filters:
        """`filters` with each series as the archive names it (`扩散` -> 生成扩散模型漫谈);
        UnknownFilterError for a name no series has, with the nearest names."""
        named = []
        for name in filters.series:
            found = self.graph.find_series(name)
            if found is None:
                near = nearest(name, [s.name for s in self.graph.series_list()])
                hint = f"; did you mean {', '.join(near)}?" if near else ""
                shown = name if name.isprintable() else repr(name)
                raise UnknownFilterError(f"no series {shown}{hint}")
            named.append(found.name)
        return replace(filters, series=tuple(dict.fromkeys(named)))

    def _texts(self, ids: Iterable[int]) -> list[str]:
        """Title and body of these posts (phrases are checked and corrections found there)."""
        ids = list(ids)
        with self._lock:
            bodies = self.store.bodies(ids)
        return [self.meta[pid].title + "\n" + bodies.get(pid, "") for pid in ids]

    def _hits(
        self, terms: Sequence[str], ranking: Ranking, *, explain: bool = False
    ) -> tuple[Hit, ...]:
        ranked = ranking.ranked
        with self._lock:
            bodies = self.store.bodies(pid for pid, _ in ranked)
        hits = []
        for post_id, score in ranked:
            meta = self.meta[post_id]
            body = bodies.get(post_id, "")
            within = ranking.passages.get(post_id)
            marks = list(terms)
            width = SNIPPET_WIDTH
            shown = (
                best_formula(post_id, body, ranking.formula, FORMULA_SNIPPET_MAX)
                if ranking.formula
                else None
            )
            if shown is not None:
                # Found by its formula: the snippet is that formula, whole (a cut formula
                # cannot be rendered, so the window widens to hold it).
                within, marks = (shown[0], shown[1]), []
                width = max(width, shown[1] - shown[0])
            hits.append(
                Hit(
                    post_id=post_id,
                    title=meta.title,
                    url=meta.url,
                    date=meta.date,
                    category=meta.category,
                    tags=meta.tags,
                    score=score,
                    snippet=make_snippet(body, marks, within=within, width=width),
                    explain=(
                        self._explain(post_id, score, ranking, shown[2] if shown else ())
                        if explain
                        else None
                    ),
                    formula_offset=shown[0] if shown else None,
                )
            )
        return tuple(hits)

    def _explain(
        self, post_id: int, score: float, ranking: Ranking, formula: Sequence[str] = ()
    ) -> Explanation:
        """Where `post_id` stood in every list, what each of the final fusion's lists added to
        its score, and why the floor kept it."""
        final = [ranking.lists[name] for name in ranking.final]
        fusion = ranking.policy or self.config.fusion
        added = fusion.contributions(final, ranking.primary) if len(final) > 1 else {}
        parts = {}
        for name, lst in ranking.lists.items():
            at = lst.ranks().get(post_id)
            if at is not None:
                part = added.get(name, {}).get(post_id)
                if part is None and len(final) == 1 and final[0].name == name:
                    part = score
                parts[name] = ListPart(at[0], at[1], part)
        floor = self.config.floor
        reason = None
        if ranking.floor is not None and floor is not None:
            reason = floor.reason(post_id, ranking.evidence, ranking.floor.best)
        return Explanation(
            lists=parts,
            fused_score=score,
            floor=reason,
            exact=post_id in ranking.exact,
            primary=ranking.primary,
            formula=tuple(formula),
        )
