"""The public API: `Searcher` opens a data directory and answers queries with `SearchResult`s.

The front ends only call this. Lexical paths never import torch or FAISS: the embedding model
is loaded the first time a semantic answer is needed (or by `warm_up`). A search keeps its state
in locals and hands it back in its result, so one `Searcher` serves many threads at once.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from corpus.post import MAX_INT, Post, scrub
from index.errors import DataError
from index.lexical import BODY, TITLE
from index.models import Embedder, ModelSpec, TextKind
from index.paths import DataDir
from index.reader import IndexReader
from index.store import PostMeta
from index.tokenize import index_tokens, query_terms
from search.expand import Entry as GlossaryEntry
from search.expand import Glossary, chinese_for, entries_in
from search.facets import Facet, FacetSort, check_filters, facet_counts
from search.fusion import DEFAULT_FUSION, Candidates, FusionPolicy
from search.hits import Explanation, Hit, SearchResult
from search.lexical import LexicalRetriever, contains_phrases
from search.query import Filters, ParsedQuery, parse_date_bound, parse_query
from search.relevance import DEFAULT_FLOOR, Floor
from search.snippets import make_snippet
from search.spelling import correct

if TYPE_CHECKING:
    import numpy as np

    from search.semantic import SemanticHit, SemanticRetriever

Mode = Literal["hybrid", "lexical", "semantic"]
Sort = Literal["relevance", "date"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "semantic")
SORTS: tuple[Sort, ...] = ("relevance", "date")

DEPTH = 100  # candidates taken from each list before fusing (and sorted by date for `date`)
# Exact matches go first whatever fusion says: the query as a phrase in a title, or a long query
# (a sentence, a paper title, a formula) verbatim in the bodies of a handful of posts.
EXACT_BODY_MIN_TOKENS = 4
EXACT_BODY_MAX_POSTS = 3
_CJK = re.compile(r"[\u3400-\u9fff]")  # `gloss`: Chinese text is looked up the other way


def _as_date(value: dt.date | str | None, *, end: bool) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return parse_date_bound(str(value), end=end)


@dataclass(slots=True)
class _Dense:
    """One query's semantic side: the primary model's hits and count, each extra model's
    list, and what a feedback round searches again (each model's retriever and query)."""

    hits: list[SemanticHit]
    total: int
    allowed: set[int] | None
    retrievers: list[SemanticRetriever]
    vectors: list[np.ndarray]
    extra: tuple[list[tuple[int, float]], ...] = ()


class Searcher:
    """Read-only access to one data directory. Safe to share between threads."""

    def __init__(
        self,
        reader: IndexReader,
        *,
        embedder: Embedder | None = None,
        extra_embedders: Mapping[str, Embedder] | None = None,
        fusion: FusionPolicy = DEFAULT_FUSION,
        floor: Floor | None = DEFAULT_FLOOR,
    ) -> None:
        """`embedder`: the model to embed queries with (default: the index's own, loaded on
        first use); it must be the model the vectors were made with. `extra_embedders`: the
        ensemble's other models to reuse, by `ModelSpec.key` (the rest are opened on first
        use). `floor`: the evidence a semantic or hybrid hit needs (None: every candidate is
        a hit)."""
        self.reader = reader
        self.data: DataDir = reader.data
        self.store = reader.store
        self.spec: ModelSpec | None = reader.model
        self.fusion = fusion
        self.floor = floor
        self._lock = threading.RLock()  # the SQLite connection and lazily built parts
        self._meta: dict[int, PostMeta] | None = None
        self._retriever: LexicalRetriever | None = None
        self._vectors: SemanticRetriever | None = None
        if embedder is None and self.spec is not None:
            embedder = Embedder(self.spec)
        self._embedder = embedder
        # The ensemble's other models (none for an index built with e5 alone): each embeds
        # the query for its own list; the floor and `similar` read the primary's only.
        self._extra_specs: tuple[ModelSpec, ...] = reader.extra_models
        given = extra_embedders or {}
        self._extra_embedders = {m.key: given.get(m.key) or Embedder(m) for m in self._extra_specs}
        self._extra_retrievers: dict[str, SemanticRetriever] = {}
        self._model_error: str | None = None
        self._extra_error: str | None = None

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        model: str | None = None,
        embedder: Embedder | None = None,
        extra_embedders: Mapping[str, Embedder] | None = None,
        fusion: FusionPolicy = DEFAULT_FUSION,
        floor: Floor | None = DEFAULT_FLOOR,
    ) -> Searcher:
        """Open a data directory. `model`, if given, must be the one the vectors were built
        with (a different one is a ModelMismatchError)."""
        reader = IndexReader.open(path, model=model)
        return cls(
            reader, embedder=embedder, extra_embedders=extra_embedders, fusion=fusion, floor=floor
        )

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
        if _CJK.search(text):
            return self.glossary.english_for(text.strip())
        return entries_in(text, self.glossary)

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
            "extra_models": [m.key for m in self.reader.extra_models],
            "passages": 0,
            "vector_bytes": 0,
        }
        if self.spec is not None:
            semantic = self._semantic_retriever()
            info["passages"] = len(semantic.vectors)
            info["vector_bytes"] = semantic.vectors.disk_size()
            info["dimension"] = semantic.vectors.dim
        return info

    # -- the embedding model --------------------------------------------------------------
    @property
    def has_vectors(self) -> bool:
        """Whether this data directory has a vector index (semantic and hybrid modes)."""
        return self.spec is not None

    @property
    def embedder(self) -> Embedder | None:
        """The model queries are embedded with (None without vectors): pass it to another
        Searcher of the same index to share one loaded model."""
        return self._embedder

    @property
    def extra_embedders(self) -> dict[str, Embedder]:
        """The ensemble's other models, by `ModelSpec.key`: to share like `embedder`."""
        return dict(self._extra_embedders)

    @property
    def model_loaded(self) -> bool:
        return self._embedder is not None and self._embedder.loaded

    def warm_up(self) -> None:
        """Load the embedding model now (slow: call it from a worker thread); raises DataError."""
        if self._embedder is None or self.spec is None:
            raise DataError("this index has no vectors")
        if self._model_error:
            raise DataError(self._model_error)
        # The extra models load beside e5 (USE spends ~0.5 s parsing its tokenizer in Python
        # while ONNX Runtime builds e5's session in C++): a cold hybrid query then pays for the
        # slower of the two, not their sum.
        extras = None
        if any(spec.key not in self._extra_retrievers for spec in self._extra_specs):
            extras = threading.Thread(target=self._load_extra_models, daemon=True)
            extras.start()
        try:
            self._embedder.load()
            self._semantic_retriever()
        except DataError as exc:
            self._model_error = str(exc)
            raise
        finally:
            if extras is not None:
                extras.join()

    def _load_extra_models(self) -> None:
        """Open each extra model and its index; one that cannot be used is dropped (with the
        warning hybrid results then carry), so the ensemble degrades to e5 and BM25."""
        for spec in self._extra_specs:
            try:
                self._extra_embedders[spec.key].load()
                self._extra_retriever(spec)
            except DataError as exc:  # the ensemble loses a list; e5 and BM25 still answer
                with self._lock:
                    self._extra_specs = tuple(m for m in self._extra_specs if m != spec)
                    self._extra_error = (
                        f"{spec.model_id} is unavailable ({exc}); ranking without it "
                        "(repair with: search index)"
                    )

    def embed(self, texts: Sequence[str], kind: TextKind = "query") -> np.ndarray:
        """Embeddings from the index's own model: float32 rows, L2-normalized."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        with self._lock:
            if self._embedder is None:  # no vectors yet: the model they would be made with
                self._embedder = Embedder(ModelSpec())
            embedder = self._embedder
        return embedder.encode([scrub(t) for t in texts], kind)

    def _semantic_retriever(self) -> SemanticRetriever:
        with self._lock:
            if self._vectors is None:
                from search.semantic import SemanticRetriever

                self._vectors = SemanticRetriever(self.reader.vectors(), self.store.chunk_table())
            return self._vectors

    def _extra_retriever(self, spec: ModelSpec) -> SemanticRetriever:
        with self._lock:
            retriever = self._extra_retrievers.get(spec.key)
            if retriever is None:
                from search.semantic import SemanticRetriever

                # Raises CorruptIndexError when its ids are not the store's passages.
                retriever = SemanticRetriever(
                    self.reader.extra_vectors(spec), self.store.chunk_table()
                )
                self._extra_retrievers[spec.key] = retriever
            return retriever

    def _lexical_retriever(self) -> LexicalRetriever:
        with self._lock:
            if self._retriever is None:
                self._retriever = LexicalRetriever(self.reader.lexical, self.glossary)
            return self._retriever

    def _semantic_unavailable(self) -> str | None:
        """Why semantic retrieval cannot run now, or None when it can."""
        if not self.has_vectors:
            return "no vector index: searching lexically"
        try:
            self.warm_up()
        except DataError as exc:
            return f"semantic search is unavailable ({exc}); searching lexically"
        return None

    def similar(self, post_id: int, limit: int = 5) -> SearchResult:
        """Posts related to `post_id`, best first, without the post itself: by its stored
        passage vectors (no model needed), else by its title and tags as a lexical query."""
        started = time.perf_counter()
        post = self.get(post_id)
        if post is None:
            raise KeyError(post_id)
        warnings: tuple[str, ...] = ()
        if self.has_vectors:
            try:
                semantic = self._semantic_retriever()
            except DataError as exc:
                warnings = (f"the vector index cannot be used ({exc}); relating by words",)
            else:
                vector = semantic.post_vector(post_id)
                if vector is not None:
                    found = semantic.search(vector, limit + 1)
                    ranked = [(h.post_id, h.score) for h in found if h.post_id != post_id]
                    passages = {h.post_id: h.passage for h in found}
                    hits = self._hits(parse_query(""), ranked[:limit], passages, None)
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
    ) -> ParsedQuery:
        """Parse query text and merge keyword filters into it; raises QuerySyntaxError."""
        parsed = parse_query(query)
        extra = Filters(
            tags=tuple(map(scrub, (tags,) if isinstance(tags, str) else tags or ())),
            categories=tuple(
                map(scrub, (category,) if isinstance(category, str) else category or ())
            ),
            since=_as_date(since, end=False),
            until=_as_date(until, end=True),
        )
        return parsed.with_filters(extra) if extra else parsed

    def search(
        self,
        query: str,
        limit: int = 10,
        mode: Mode = "hybrid",
        *,
        offset: int = 0,
        category: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        sort: Sort = "relevance",
        explain: bool = False,
        typing: bool = False,
    ) -> SearchResult:
        """Posts best first, each once: items `offset` to `offset + limit` of one ranking.

        A Latin word no post holds is corrected to the nearest one the archive has; with
        `typing` (search as you type) an unknown last word is completed instead. The
        warnings say so. Raises QuerySyntaxError for a filter that means nothing, ValueError
        for a bad mode, sort, limit or offset.
        """
        started = time.perf_counter()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
        if sort not in SORTS:
            raise ValueError(f"unknown sort {sort!r} (use one of {', '.join(SORTS)})")
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must not be negative")
        parsed = self.parse(query, category=category, tags=tags, since=since, until=until)
        if parsed.filters.tags or parsed.filters.categories:
            check_filters(parsed.filters, tags=self.tags(), categories=self.categories())
        # Corrections serve the lexical side; the model embeds what was typed (e5 reads an
        # inflection or a typo well: embedding the corrections instead lowered dev semantic
        # nDCG@10 from 0.809 to 0.808 when they were also applied to glossary words).
        typed = parsed
        parsed, notes = correct(parsed, self._lexical_retriever(), self._texts, prefix=typing)
        warnings: list[str] = list(notes)
        if mode != "lexical" and parsed.has_text:
            problem = self._semantic_unavailable()
            if problem:
                warnings.append(problem)
                mode = "lexical"
            elif mode == "hybrid" and self._extra_error:
                warnings.append(self._extra_error)
        # Every page of a query is cut from the same ranking, at least DEPTH deep.
        depth = max(offset + limit, DEPTH)
        found = self._candidates(parsed, mode, depth, typed)
        if mode == "hybrid" and found.semantic:
            ranked = self.fusion.rank(found)
        elif found.semantic:
            ranked = found.semantic_ranked
        else:
            ranked = found.lexical
        if mode != "lexical" and parsed.has_text and self.floor is not None:
            # Semantic similarity is never zero: only posts with evidence are hits, and the
            # total counts those among the candidates.
            ranked = self.floor.apply(ranked, found, parsed.text)
            total = len(ranked)
        else:
            total = max(len(ranked), found.lexical_total)
        if sort == "date":
            never = dt.date.min
            ranked = sorted(ranked, key=lambda r: self.meta[r[0]].date or never, reverse=True)
        page = ranked[offset : offset + limit]
        passages = {h.post_id: h.passage for h in found.semantic}
        hits = self._hits(parsed, page, passages, found if explain else None)
        unknown: list[str] = []
        if not ranked and parsed.has_text:
            unknown = self._lexical_retriever().unseen(query_terms(parsed.text))
        took = (time.perf_counter() - started) * 1000
        return SearchResult(hits, total, offset, mode, tuple(warnings), took, tuple(unknown))

    def candidates(self, query: str, depth: int = DEPTH) -> Candidates:
        """The lexical and semantic lists (and exact matches) a hybrid search of `query` fuses:
        what `bench/tune_fusion.py` re-ranks with other policies."""
        typed = self.parse(query)
        parsed, _ = correct(typed, self._lexical_retriever(), self._texts)
        mode: Mode = "lexical" if self._semantic_unavailable() else "hybrid"
        return self._candidates(parsed, mode, depth, typed)

    def _candidates(
        self, parsed: ParsedQuery, mode: Mode, depth: int, typed: ParsedQuery
    ) -> Candidates:
        """The lists for `parsed`; the semantic side embeds the text as `typed`."""
        lexical: list[tuple[int, float]] = []
        lexical_total = 0
        coverage: dict[int, float] = {}
        if mode != "semantic" or not parsed.has_text:
            lexical, lexical_total, coverage = self._lexical(parsed, depth)
        if mode == "lexical" or not parsed.has_text:
            return Candidates(lexical, lexical_total, [], 0, frozenset(), coverage)
        dense = self._semantic(parsed, depth, typed.text, mode)
        if mode == "semantic":  # the floor weighs lexical evidence in every mode
            ids = [h.post_id for h in dense.hits]
            coverage = self._lexical_retriever().coverage(parsed, ids)
        exact = self._exact(parsed, lexical) if mode == "hybrid" and dense.hits else frozenset()
        found = Candidates(
            lexical, lexical_total, dense.hits, dense.total, exact, coverage, dense.extra
        )
        if mode == "hybrid" and dense.hits and self.fusion.feedback:
            found = self._with_feedback(found, dense, depth, parsed.text)
        if mode == "hybrid" and dense.hits and self.fusion.lexical_feedback:
            found = self._with_lexical_feedback(found, parsed, depth, dense.allowed)
        return found

    def _with_lexical_feedback(
        self, found: Candidates, parsed: ParsedQuery, depth: int, allowed: set[int] | None
    ) -> Candidates:
        """`found` with one more list: BM25 of the terms that mark its top posts, ranked as
        they stand now (FusionPolicy.lexical_feedback)."""
        ranked = self.fusion.rank(found)
        if self.floor is not None:
            ranked = self.floor.apply(ranked, found, parsed.text)
        top = ranked[: self.fusion.lexical_feedback_posts]
        if not top:
            return found
        best = max(score for _, score in top)
        # Each post counts by its fused score, as a relevance model weighs its documents: a
        # weak third post must not outweigh a clear first.
        top = [(pid, score / best if best > 0 else 1.0) for pid, score in top]
        words = " ".join(parsed.words)
        hits = self._lexical_retriever().feedback(
            top,
            self._texts,
            exclude=set(query_terms(words, drop_stopwords=False)) if words.strip() else set(),
            terms=self.fusion.lexical_feedback_terms,
            limit=depth,
            allowed=allowed,
        )
        return replace(found, lexical_feedback=[(h.post_id, h.score) for h in hits])

    def _with_feedback(self, found: Candidates, dense: _Dense, depth: int, text: str) -> Candidates:
        """`found` with every model's list searched again for its query moved towards the
        first fusion's top hit (FusionPolicy.feedback)."""
        first = self.fusion.fuse(found.lexical, found.semantic_ranked, found.exact, found.extra)
        if self.floor is not None:
            first = self.floor.apply(first, found, text)
        if not first:
            return found
        top = first[0][0]
        lists = []
        for retriever, vector in zip(dense.retrievers, dense.vectors, strict=True):
            moved = retriever.feedback(
                vector, top, self.fusion.feedback, self.fusion.feedback_passages
            )
            hits = retriever.search(moved, depth, allowed=dense.allowed)
            lists.append([(h.post_id, h.score) for h in hits])
        return replace(found, feedback=tuple(lists), feedback_post=top)

    def _lexical(
        self, parsed: ParsedQuery, depth: int
    ) -> tuple[list[tuple[int, float]], int, dict[int, float]]:
        fetch = depth if not parsed.phrases else max(depth * 4, 100)
        found = self._lexical_retriever().search(parsed, fetch)
        hits, total = found.hits, found.total
        if parsed.phrases:
            keep = self._with_phrases(parsed, [h.post_id for h in hits])
            hits = [h for h in hits if h.post_id in keep]
            # Phrases are verified on the text of the fetched posts only; past those, BM25's
            # count (which requires the phrase's words, not their order) is the best estimate.
            total = len(hits) if total <= fetch else total
        hits = hits[:depth]
        return [(h.post_id, h.score) for h in hits], total, {h.post_id: h.coverage for h in hits}

    def _texts(self, ids: Iterable[int]) -> list[str]:
        """Title and body of these posts (where spelling corrections look for words)."""
        ids = list(ids)
        with self._lock:
            bodies = self.store.bodies(ids)
        return [self.meta[pid].title + "\n" + bodies.get(pid, "") for pid in ids]

    def _with_phrases(self, parsed: ParsedQuery, ids: Iterable[int]) -> set[int]:
        """The posts among `ids` whose original text holds every quoted phrase verbatim."""
        ids = list(ids)
        with self._lock:
            bodies = self.store.bodies(ids)
        return {
            pid
            for pid in ids
            if contains_phrases(self.meta[pid].title + "\n" + bodies.get(pid, ""), parsed.phrases)
        }

    def _semantic(self, parsed: ParsedQuery, depth: int, typed: str, mode: Mode) -> _Dense:
        """The primary model's hits and count, and (hybrid only) each extra model's list."""
        assert self._embedder is not None
        allowed: set[int] | None = None
        constrained = self._lexical_retriever().constrained(parsed)
        if constrained is not None:
            allowed = self._with_phrases(parsed, constrained) if parsed.phrases else constrained
        if parsed.filters:
            passing = {pid for pid, m in self.meta.items() if parsed.filters.matches(m)}
            allowed = passing if allowed is None else allowed & passing
        # An English query also carries the glossary's Chinese words: the model matches a
        # bilingual query to Chinese passages far better (dev english nDCG@10 0.43 -> 0.66).
        text = " ".join([typed, *chinese_for(typed, self.glossary)])
        vector = self._embedder.encode([text], "query")[0]
        retriever = self._semantic_retriever()
        hits = retriever.search(vector, depth, allowed=allowed)
        dense = _Dense(hits, retriever.count(allowed), allowed, [retriever], [vector])
        if mode == "hybrid":
            # Each extra model embeds the same text, glossary words included (USE: dev hybrid
            # nDCG@10 0.886 with them, 0.878 without).
            extra = []
            for spec in self._extra_specs:
                query = self._extra_embedders[spec.key].encode([text], "query")[0]
                other = self._extra_retriever(spec)
                found = other.search(query, depth, allowed=allowed)
                extra.append([(h.post_id, h.score) for h in found])
                dense.retrievers.append(other)
                dense.vectors.append(query)
            dense.extra = tuple(extra)
        return dense

    def _exact(self, parsed: ParsedQuery, lexical: list[tuple[int, float]]) -> frozenset[int]:
        """Posts among the lexical hits that hold the typed words verbatim (in a title; or in
        a body, for long queries)."""
        text = " ".join(parsed.words)
        if not text.strip():
            return frozenset()
        retriever = self._lexical_retriever()
        found = set(retriever.exact(text, TITLE, limit=5))
        positions = {t.position for t in index_tokens(text)}
        if len(positions) >= EXACT_BODY_MIN_TOKENS:
            body = retriever.exact(text, BODY, limit=EXACT_BODY_MAX_POSTS + 1)
            if len(body) <= EXACT_BODY_MAX_POSTS:
                found.update(body)
        return frozenset(d for d, _ in lexical if d in found)

    def _hits(
        self,
        parsed: ParsedQuery,
        ranked: list[tuple[int, float]],
        passages: dict[int, tuple[int, int]],
        explain: Candidates | None,
    ) -> tuple[Hit, ...]:
        terms = [*query_terms(parsed.text), *parsed.phrases] if parsed.has_text else []
        with self._lock:
            bodies = self.store.bodies(pid for pid, _ in ranked)
        lex_pos: dict[int, tuple[int, float]] = {}
        sem_pos: dict[int, tuple[int, float]] = {}
        if explain is not None:
            lex_pos = {pid: (i, s) for i, (pid, s) in enumerate(explain.lexical, 1)}
            sem_pos = {h.post_id: (i, h.score) for i, h in enumerate(explain.semantic, 1)}
        hits = []
        for post_id, score in ranked:
            meta = self.meta[post_id]
            explanation = None
            if explain is not None:
                lex = lex_pos.get(post_id)
                sem = sem_pos.get(post_id)
                explanation = Explanation(
                    lexical_rank=lex[0] if lex else None,
                    lexical_score=lex[1] if lex else None,
                    semantic_rank=sem[0] if sem else None,
                    semantic_score=sem[1] if sem else None,
                    fused_score=score,
                )
            hits.append(
                Hit(
                    post_id=post_id,
                    title=meta.title,
                    url=meta.url,
                    date=meta.date,
                    category=meta.category,
                    tags=meta.tags,
                    score=score,
                    snippet=make_snippet(
                        bodies.get(post_id, ""), terms, within=passages.get(post_id)
                    ),
                    explain=explanation,
                )
            )
        return tuple(hits)
