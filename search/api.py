"""The public API: `Searcher` opens a data directory and answers queries with `Hit`s.

The CLI and the TUI only call this. Lexical paths never import torch or sentence-transformers:
the embedding model is loaded the first time a semantic answer is needed.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from corpus.post import Post
from index.errors import DataError, MissingIndexError
from index.lexical import LexicalIndex
from index.paths import DataDir
from index.store import PostMeta, Store
from index.tokenize import TOKENIZER_VERSION, query_terms
from search.hits import Explanation, Hit
from search.lexical import LexicalRetriever, contains_phrases
from search.query import Filters, ParsedQuery, QuerySyntaxError, parse_date_bound, parse_query
from search.snippets import make_snippet

Mode = Literal["hybrid", "lexical", "semantic"]
Sort = Literal["relevance", "date"]
MODES: tuple[str, ...] = ("hybrid", "lexical", "semantic")


def _as_date(value: dt.date | str | None, *, end: bool) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return parse_date_bound(str(value), end=end)


class Searcher:
    """Read-only access to one data directory. Safe to share between threads."""

    def __init__(self, data: DataDir, store: Store, lexical: LexicalIndex) -> None:
        self.data = data
        self.store = store
        self.lexical = lexical
        self._lock = threading.RLock()
        self._meta: dict[int, PostMeta] | None = None
        self._retriever: LexicalRetriever | None = None
        # Notes about the last search (a mode that fell back, say), for front ends to show.
        self.warnings: list[str] = []

    @classmethod
    def open(cls, path: str | Path | None = None) -> Searcher:
        data = DataDir.resolve(path)
        store = Store.open(data.store)
        if store.count() == 0:
            store.close()
            raise MissingIndexError(
                f"the index at {data.root} is empty (add posts with: search index SOURCE)"
            )
        if store.get_meta("lexical.tokenizer") != TOKENIZER_VERSION:
            store.close()
            raise DataError(
                f"the lexical index at {data.root} was built by another version; "
                "run: search index --rebuild"
            )
        try:
            lexical = LexicalIndex.open(data.lexical)
        except DataError:
            store.close()
            raise
        return cls(data, store, lexical)

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
        return {
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
        }

    # -- the embedding model --------------------------------------------------------------
    @property
    def has_vectors(self) -> bool:
        """Whether this data directory has a vector index (semantic and hybrid modes)."""
        return False

    @property
    def model_loaded(self) -> bool:
        return False

    def warm_up(self) -> None:
        """Load the embedding model now (slow: call it from a worker thread); raises DataError."""
        raise DataError("this index has no vectors; semantic search needs: search index")

    def similar(self, post_id: int, limit: int = 5) -> list[Hit]:
        """Posts related to `post_id`, best first, without the post itself."""
        post = self.get(post_id)
        if post is None:
            raise KeyError(post_id)
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
        if limit <= 0:
            return []
        self.warnings = []
        parsed = self.parse(query, category=category, tags=tags, since=since, until=until)
        if mode != "lexical" and not self.has_vectors:
            self.warnings.append(f"no vector index: {mode} search fell back to lexical")
            mode = "lexical"
        ranked = self._lexical(parsed, limit)
        hits = self._hits(parsed, ranked[:limit], explain)
        if sort == "date":
            hits.sort(key=lambda h: h.date or dt.date.min, reverse=True)
        return hits

    def _lexical(self, parsed: ParsedQuery, depth: int) -> list[tuple[int, float]]:
        fetch = depth if not parsed.phrases else max(depth * 4, 100)
        with self._lock:
            if self._retriever is None:
                self._retriever = LexicalRetriever(self.lexical)
            found = self._retriever.search(parsed, fetch)
            if parsed.phrases:
                bodies = self.store.bodies(h.post_id for h in found)
                found = [
                    h
                    for h in found
                    if contains_phrases(
                        self.meta[h.post_id].title + "\n" + bodies.get(h.post_id, ""),
                        parsed.phrases,
                    )
                ]
        return [(h.post_id, h.score) for h in found[:depth]]

    def _hits(
        self, parsed: ParsedQuery, ranked: list[tuple[int, float]], explain: bool
    ) -> list[Hit]:
        terms = [*query_terms(parsed.text), *parsed.phrases] if parsed.has_text else []
        with self._lock:
            bodies = self.store.bodies(pid for pid, _ in ranked)
        hits = []
        for rank, (post_id, score) in enumerate(ranked, 1):
            meta = self.meta[post_id]
            hits.append(
                Hit(
                    post_id=post_id,
                    title=meta.title,
                    url=meta.url,
                    date=meta.date,
                    category=meta.category,
                    tags=meta.tags,
                    score=score,
                    snippet=make_snippet(bodies.get(post_id, ""), terms),
                    explain=Explanation(lexical_rank=rank, lexical_score=score, fused_score=score)
                    if explain
                    else None,
                )
            )
        return hits


__all__ = ["MODES", "Hit", "QuerySyntaxError", "Searcher"]
