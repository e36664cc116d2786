"""The public API: `Searcher` opens a data directory and answers queries with `Hit`s.

The CLI and the TUI only call this. Lexical paths never import torch or sentence-transformers:
the embedding model is loaded the first time a semantic answer is needed (or by `warm_up`).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from corpus.post import Post
from index.embedder import Embedder, Kind, ModelSpec
from index.errors import DataError, MissingIndexError, ModelMismatchError
from index.lexical import LexicalIndex
from index.paths import DataDir
from index.store import PostMeta, Store
from index.tokenize import TOKENIZER_VERSION, index_tokens, query_terms
from index.vectors import VectorIndex
from search.expand import chinese_for
from search.fusion import fuse_convex, fuse_rrf
from search.hits import Explanation, Hit
from search.lexical import LexicalRetriever, contains_phrases
from search.query import Filters, ParsedQuery, QuerySyntaxError, parse_date_bound, parse_query
from search.snippets import make_snippet

if TYPE_CHECKING:
    import numpy as np

    from search.semantic import SemanticHit, SemanticRetriever

Mode = Literal["hybrid", "lexical", "semantic"]
Sort = Literal["relevance", "date"]
MODES: tuple[str, ...] = ("hybrid", "lexical", "semantic")

# Hybrid fusion, chosen on the 60 dev queries with bench/tune_fusion.py. nDCG@10 with posts
# scored by their best passage only (lexical 0.826, semantic 0.780 alone): convex
# α=0.4/0.5/0.6 -> 0.859/0.861/0.858, RRF k=10/30/60 -> 0.859/0.865/0.860; z-score or 3σ
# normalization instead of min-max moved it by under 0.005. With the best few passages
# (search/semantic.py; semantic 0.809 alone) convex α=0.4/0.5/0.6 -> 0.854/0.864/0.854.
# Convex α=0.5 is in the flat middle of its range, keeps score gaps (a clear lexical winner
# stays first) where RRF sees only ranks, and does best on English queries (0.74 vs 0.71).
FUSION = "convex"  # "convex" | "rrf"
CONVEX_ALPHA = 0.5  # weight of the semantic list
RRF_K = 60
DEPTH = 100  # candidates taken from each list before fusing
# Exact matches go first whatever fusion says: the query as a phrase in a title, or a long query
# (a sentence, a paper title, a formula) verbatim in the bodies of a handful of posts.
EXACT_BODY_MIN_TOKENS = 4
EXACT_BODY_MAX_POSTS = 3


def _as_date(value: dt.date | str | None, *, end: bool) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return parse_date_bound(str(value), end=end)


class Searcher:
    """Read-only access to one data directory. Safe to share between threads."""

    def __init__(
        self,
        data: DataDir,
        store: Store,
        lexical: LexicalIndex,
        spec: ModelSpec | None = None,
    ) -> None:
        self.data = data
        self.store = store
        self.lexical = lexical
        self.spec = spec
        self._lock = threading.RLock()
        self._meta: dict[int, PostMeta] | None = None
        self._retriever: LexicalRetriever | None = None
        self._vectors: SemanticRetriever | None = None
        self._embedder = Embedder(spec, threads=None) if spec else None
        self._model_error: str | None = None
        # Notes about the last search (a mode that fell back, say), for front ends to show.
        self.warnings: list[str] = []

    @classmethod
    def open(cls, path: str | Path | None = None, *, model: str | None = None) -> Searcher:
        """Open a data directory. `model`, if given, must be the one the vectors were built
        with (a different one is a ModelMismatchError that says to re-index)."""
        data = DataDir.resolve(path)
        store = Store.open(data.store)
        try:
            if store.count() == 0:
                raise MissingIndexError(
                    f"the index at {data.root} is empty (add posts with: search index SOURCE)"
                )
            if store.get_meta("lexical.tokenizer") != TOKENIZER_VERSION:
                raise DataError(
                    f"the lexical index at {data.root} was built by another version; "
                    "run: search index --rebuild"
                )
            lexical = LexicalIndex.open(data.lexical)
            recorded = store.get_meta("vectors.model")
            spec = ModelSpec.from_manifest(json.loads(recorded)) if recorded else None
            if spec is not None and not VectorIndex.exists(data.vectors):
                spec = None
            if model is not None and spec is not None and model != spec.model_id:
                raise ModelMismatchError(
                    f"the index at {data.root} was built with {spec.model_id}, not {model}; "
                    f"re-index with: search index --rebuild --model {model}"
                )
        except BaseException:
            store.close()
            raise
        return cls(data, store, lexical, spec)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- look-ups --------------------------------------------------------------------------
    @property
    def meta(self) -> dict[int, PostMeta]:
        if self._meta is None:
            with self._lock:
                self._meta = self.store.metadata()
        return self._meta

    def get(self, post_id: int) -> Post | None:
        with self._lock:
            return self.store.get(post_id)

    def categories(self) -> list[str]:
        return sorted({m.category for m in self.meta.values() if m.category})

    def tags(self) -> list[str]:
        return sorted({t for m in self.meta.values() for t in m.tags})

    def stats(self) -> dict[str, object]:
        first, last = self.store.date_range()
        info: dict[str, object] = {
            "data_dir": str(self.data.root),
            "posts": self.store.count(),
            "first_post": first,
            "last_post": last,
            "categories": len(self.categories()),
            "tags": len(self.tags()),
            "store_bytes": self.data.store.stat().st_size,
            "lexical_docs": self.lexical.num_docs(),
            "lexical_bytes": self.lexical.disk_size(),
            "tokenizer": self.store.get_meta("lexical.tokenizer"),
            "model": self.spec.key if self.spec else None,
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
    def model_loaded(self) -> bool:
        return self._embedder is not None and self._embedder.loaded

    def warm_up(self) -> None:
        """Load the embedding model now (slow: call it from a worker thread); raises DataError."""
        if self._embedder is None:
            raise DataError("this index has no vectors; semantic search needs: search index")
        if self._model_error:
            raise DataError(self._model_error)
        try:
            self._embedder.load()
        except DataError as exc:
            self._model_error = str(exc)
            raise
        self._semantic_retriever()

    def embed(self, texts: Sequence[str], kind: Kind = "query") -> np.ndarray:
        """Embeddings from the index's own model: float32 rows, L2-normalized."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', not {kind!r}")
        embedder = self._embedder or Embedder(ModelSpec())
        if self._embedder is None:
            self._embedder = embedder
        return embedder.encode(list(texts), kind)

    def _semantic_retriever(self) -> SemanticRetriever:
        with self._lock:
            if self._vectors is None:
                from search.semantic import SemanticRetriever

                vectors = VectorIndex.open(self.data.vectors)
                self._vectors = SemanticRetriever(vectors, self.store.chunk_table())
            return self._vectors

    def similar(self, post_id: int, limit: int = 5) -> list[Hit]:
        """Posts related to `post_id`, best first, without the post itself."""
        post = self.get(post_id)
        if post is None:
            raise KeyError(post_id)
        if self.has_vectors:
            semantic = self._semantic_retriever()
            vector = semantic.post_vector(post_id)
            if vector is not None:
                found = semantic.search(vector, limit + 1)
                ranked = [(h.post_id, h.score) for h in found if h.post_id != post_id][:limit]
                passages = {h.post_id: h.passage for h in found}
                return self._hits(parse_query(""), ranked, passages, {}, {}, explain=False)
        # Without vectors: the title and tags as a lexical query.
        text = " ".join([post.title, *post.tags])
        hits = self.search(text, limit=limit + 1, mode="lexical")
        return [h for h in hits if h.post_id != post_id][:limit]

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
            tags=(tags,) if isinstance(tags, str) else tuple(tags or ()),
            categories=(category,) if isinstance(category, str) else tuple(category or ()),
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
        category: str | Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        sort: Sort = "relevance",
        explain: bool = False,
    ) -> list[Hit]:
        """Posts best first, each once. Raises QuerySyntaxError for a filter that means nothing."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (use one of {', '.join(MODES)})")
        self.warnings = []
        if limit <= 0:
            return []
        parsed = self.parse(query, category=category, tags=tags, since=since, until=until)
        if mode != "lexical" and parsed.has_text and not self._semantic_ready():
            mode = "lexical"
        lexical: list[tuple[int, float]] = []
        semantic: list[SemanticHit] = []
        # Newest-first orders the best DEPTH matches by date, not just the first page.
        single = limit if sort == "relevance" else max(limit, DEPTH)
        if mode != "semantic" or not parsed.has_text:
            lexical = self._lexical(parsed, single if mode == "lexical" else max(limit, DEPTH))
        if mode != "lexical" and parsed.has_text:
            semantic = self._semantic(parsed, single if mode == "semantic" else max(limit, DEPTH))
        if mode == "hybrid" and semantic:
            ranked = self._fuse(parsed, lexical, semantic)
        elif semantic:
            ranked = [(h.post_id, h.score) for h in semantic]
        else:
            ranked = lexical
        if sort == "date":
            never = dt.date.min
            ranked = sorted(ranked, key=lambda r: self.meta[r[0]].date or never, reverse=True)
        ranked = ranked[:limit]
        lex_pos = {pid: (i, s) for i, (pid, s) in enumerate(lexical, 1)}
        sem_pos = {h.post_id: (i, h.score) for i, h in enumerate(semantic, 1)}
        passages = {h.post_id: h.passage for h in semantic}
        return self._hits(parsed, ranked, passages, lex_pos, sem_pos, explain=explain)

    def _semantic_ready(self) -> bool:
        """True when semantic retrieval can run; otherwise a warning says why."""
        if not self.has_vectors:
            self.warnings.append(
                "no vector index: searching lexically (build one with: search index)"
            )
            return False
        try:
            self.warm_up()
        except DataError as exc:
            self.warnings.append(f"the embedding model could not load ({exc}); searching lexically")
            return False
        return True

    def _lexical(self, parsed: ParsedQuery, depth: int) -> list[tuple[int, float]]:
        fetch = depth if not parsed.phrases else max(depth * 4, 100)
        with self._lock:
            if self._retriever is None:
                self._retriever = LexicalRetriever(self.lexical)
            found = self._retriever.search(parsed, fetch)
            if parsed.phrases:
                keep = self._with_phrases(parsed, [h.post_id for h in found])
                found = [h for h in found if h.post_id in keep]
        return [(h.post_id, h.score) for h in found[:depth]]

    def _with_phrases(self, parsed: ParsedQuery, ids: Iterable[int]) -> set[int]:
        """The posts among `ids` whose original text holds every quoted phrase verbatim."""
        ids = list(ids)
        bodies = self.store.bodies(ids)
        return {
            pid
            for pid in ids
            if contains_phrases(self.meta[pid].title + "\n" + bodies.get(pid, ""), parsed.phrases)
        }

    def _semantic(self, parsed: ParsedQuery, depth: int) -> list[SemanticHit]:
        assert self._embedder is not None
        allowed: set[int] | None = None
        with self._lock:
            if self._retriever is None:
                self._retriever = LexicalRetriever(self.lexical)
            constrained = self._retriever.constrained(parsed)
            if constrained is not None:
                allowed = self._with_phrases(parsed, constrained) if parsed.phrases else constrained
        if parsed.filters:
            passing = {pid for pid, m in self.meta.items() if parsed.filters.matches(m)}
            allowed = passing if allowed is None else allowed & passing
        # An English query also carries the glossary's Chinese words: the model matches a
        # bilingual query to Chinese passages far better (dev english nDCG@10 0.43 -> 0.66).
        text = " ".join([parsed.text, *chinese_for(parsed.text)])
        vector = self._embedder.encode([text], "query")[0]
        return self._semantic_retriever().search(vector, depth, allowed=allowed)

    def _fuse(
        self, parsed: ParsedQuery, lexical: list[tuple[int, float]], semantic: list[SemanticHit]
    ) -> list[tuple[int, float]]:
        sem = [(h.post_id, h.score) for h in semantic]
        if FUSION == "rrf":
            fused = fuse_rrf([lexical, sem], k=RRF_K)
        else:
            fused = fuse_convex(lexical, sem, CONVEX_ALPHA)
        exact = set(self._exact(parsed, lexical))
        if not exact:
            return fused
        # Exact matches first, in fused order among themselves.
        return [x for x in fused if x[0] in exact] + [x for x in fused if x[0] not in exact]

    def _exact(self, parsed: ParsedQuery, lexical: list[tuple[int, float]]) -> list[int]:
        """Posts among the lexical hits that hold the typed words verbatim (in a title; or in
        a body, for long queries)."""
        text = " ".join(parsed.words)
        if not text.strip() or self._retriever is None:
            return []
        found = set(self._retriever.exact(text, "title", limit=5))
        positions = {t.position for t in index_tokens(text)}
        if len(positions) >= EXACT_BODY_MIN_TOKENS:
            body = self._retriever.exact(text, "body", limit=EXACT_BODY_MAX_POSTS + 1)
            if len(body) <= EXACT_BODY_MAX_POSTS:
                found.update(body)
        return [d for d, _ in lexical if d in found]

    def _hits(
        self,
        parsed: ParsedQuery,
        ranked: list[tuple[int, float]],
        passages: dict[int, tuple[int, int]],
        lex_pos: dict[int, tuple[int, float]],
        sem_pos: dict[int, tuple[int, float]],
        *,
        explain: bool,
    ) -> list[Hit]:
        terms = [*query_terms(parsed.text), *parsed.phrases] if parsed.has_text else []
        with self._lock:
            bodies = self.store.bodies(pid for pid, _ in ranked)
        hits = []
        for post_id, score in ranked:
            meta = self.meta[post_id]
            explanation = None
            if explain:
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
        return hits


__all__ = ["MODES", "Hit", "QuerySyntaxError", "Searcher"]
