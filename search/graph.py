"""The archive as a graph, for readers and for ranking: what a post cites, what cites it, and the
series it belongs to.

The index keeps every reference and series row in the store (index/linkgraph.py); this module
reads them once per searcher into an `ArchiveGraph` (the whole archive's links are a few
thousand rows: ~2 ms) and answers from memory, so `search show` and the readers pay nothing
noticeable for their footers. Two kinds of caller use it:

- front ends, for the links and series of one post (`links`, `series_of`, `series_list`,
  `find_series`), as plain data with `to_dict` for JSON;
- ranking, for signals over the whole graph (`in_degree`, `pagerank`, `cocited`) and the
  members of a series (`series_members`, for a `series:` filter).
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corpus.post import post_url
from index.series import series_key
from index.store import LinkRow, PostMeta, SeriesRow, Store

if TYPE_CHECKING:
    from search.api import Searcher

PAGERANK_DAMPING = 0.85
PAGERANK_ROUNDS = 60


@dataclass(frozen=True, slots=True)
class LinkedPost:
    """A post at the other end of a link: `sentence` is the citing sentence (the first, when
    the citing post mentions it `mentions` times); `title` and `date` are None for a post not
    in the archive (a URL to a post not imported yet)."""

    post_id: int
    title: str | None
    url: str
    date: dt.date | None
    sentence: str
    mentions: int

    @property
    def in_archive(self) -> bool:
        return self.title is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "title": self.title,
            "url": self.url,
            "date": self.date.isoformat() if self.date else None,
            "sentence": self.sentence,
            "mentions": self.mentions,
            "in_archive": self.in_archive,
        }


@dataclass(frozen=True, slots=True)
class SeriesEntry:
    """One post of a series: `part` is the number its title gives (0: none)."""

    post_id: int
    title: str
    url: str
    date: dt.date | None
    part: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "title": self.title,
            "url": self.url,
            "date": self.date.isoformat() if self.date else None,
            "part": self.part,
        }


@dataclass(frozen=True, slots=True)
class Series:
    """A series in reading order; `confirmed`: a link between two of its posts agrees."""

    name: str
    posts: tuple[SeriesEntry, ...]
    confirmed: bool

    @property
    def post_ids(self) -> frozenset[int]:
        return frozenset(p.post_id for p in self.posts)

    def to_dict(self, *, posts: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "size": len(self.posts),
            "confirmed": self.confirmed,
            "first": self.posts[0].date.isoformat() if self.posts[0].date else None,
            "last": self.posts[-1].date.isoformat() if self.posts[-1].date else None,
        }
        if posts:
            d["posts"] = [p.to_dict() for p in self.posts]
        return d


@dataclass(frozen=True, slots=True)
class SeriesPlace:
    """Where a post sits in its series: `index` counts from 1 in reading order."""

    name: str
    index: int
    size: int
    previous: SeriesEntry | None
    next: SeriesEntry | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "size": self.size,
            "previous": self.previous.to_dict() if self.previous else None,
            "next": self.next.to_dict() if self.next else None,
        }


@dataclass(frozen=True, slots=True)
class PostLinks:
    """A post's place in the graph: what it cites (in the order it first mentions them), what
    cites it (oldest first), and its series."""

    post_id: int
    cites: tuple[LinkedPost, ...]
    cited_by: tuple[LinkedPost, ...]
    series: SeriesPlace | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "post_id": self.post_id,
            "cites": [c.to_dict() for c in self.cites],
            "cited_by": [c.to_dict() for c in self.cited_by],
            "series": self.series.to_dict() if self.series else None,
        }


class ArchiveGraph:
    """Every resolved link and series of one state of the archive, in memory (immutable)."""

    def __init__(
        self, meta: Mapping[int, PostMeta], links: list[LinkRow], series: list[SeriesRow]
    ) -> None:
        self._meta = meta
        # (src, dst) -> the sentences, in the order src mentions dst
        self._sentences: dict[tuple[int, int], list[str]] = defaultdict(list)
        self._out: dict[int, list[int]] = defaultdict(list)
        self._in: dict[int, list[int]] = defaultdict(list)
        for row in links:
            if row.dst is None or row.dst == row.src:
                continue
            pair = (row.src, row.dst)
            if pair not in self._sentences:
                self._out[row.src].append(row.dst)
                self._in[row.dst].append(row.src)
            self._sentences[pair].append(row.sentence)
        grouped: dict[str, list[SeriesRow]] = defaultdict(list)
        for row in series:
            if row.post_id in meta:
                grouped[row.name].append(row)
        self._series: dict[str, Series] = {}
        self._series_of: dict[int, str] = {}
        for name, rows in grouped.items():
            rows.sort(key=lambda r: r.ord)
            entries = tuple(self._entry(r.post_id, r.part) for r in rows)
            self._series[name] = Series(name, entries, any(r.confirmed for r in rows))
            for r in rows:
                self._series_of[r.post_id] = name

    @classmethod
    def load(cls, store: Store, meta: Mapping[int, PostMeta] | None = None) -> ArchiveGraph:
        """Read the store's links and series (`meta`: the posts' metadata, if already read)."""
        return cls(meta if meta is not None else store.metadata(), store.links(), store.series())

    def _entry(self, post_id: int, part: int) -> SeriesEntry:
        m = self._meta[post_id]
        return SeriesEntry(post_id, m.title, m.url, m.date, part)

    def _linked(self, post_id: int, pair: tuple[int, int]) -> LinkedPost:
        sentences = self._sentences[pair]
        m = self._meta.get(post_id)
        if m is None:
            return LinkedPost(post_id, None, post_url(post_id), None, sentences[0], len(sentences))
        return LinkedPost(post_id, m.title, m.url, m.date, sentences[0], len(sentences))

    # -- one post ----------------------------------------------------------------------------
    def cites(self, post_id: int) -> list[LinkedPost]:
        """What the post cites, in the order it first mentions each (posts not in the archive
        included, with no title)."""
        return [self._linked(dst, (post_id, dst)) for dst in self._out.get(post_id, ())]

    def cited_by(self, post_id: int) -> list[LinkedPost]:
        """The posts that cite it, oldest first."""
        found = [self._linked(src, (src, post_id)) for src in self._in.get(post_id, ())]
        return sorted(found, key=lambda p: (p.date or dt.date.max, p.post_id))

    def links(self, post_id: int) -> PostLinks:
        return PostLinks(
            post_id,
            tuple(self.cites(post_id)),
            tuple(self.cited_by(post_id)),
            self.series_of(post_id),
        )

    def series_of(self, post_id: int) -> SeriesPlace | None:
        name = self._series_of.get(post_id)
        if name is None:
            return None
        posts = self._series[name].posts
        i = next(i for i, p in enumerate(posts) if p.post_id == post_id)
        return SeriesPlace(
            name,
            i + 1,
            len(posts),
            posts[i - 1] if i > 0 else None,
            posts[i + 1] if i + 1 < len(posts) else None,
        )

    # -- series ------------------------------------------------------------------------------
    def series_list(self) -> list[Series]:
        """Every series, largest first, then by name."""
        return sorted(self._series.values(), key=lambda s: (-len(s.posts), s.name))

    def find_series(self, name: str) -> Series | None:
        """The series called `name`: exactly, or with width, case and punctuation folded, or
        the one series whose name holds it (`扩散` finds 生成扩散模型漫谈); None otherwise."""
        if name in self._series:
            return self._series[name]
        key = series_key(name)
        if not key:
            return None
        folded = {series_key(n): s for n, s in self._series.items()}
        if key in folded:
            return folded[key]
        holding = [s for k, s in folded.items() if key in k]
        return holding[0] if len(holding) == 1 else None

    def series_members(self, name: str) -> frozenset[int]:
        """The posts of the series `name` (as `find_series` finds it; empty when none)."""
        found = self.find_series(name)
        return found.post_ids if found else frozenset()

    # -- the whole graph, for ranking --------------------------------------------------------
    def in_degree(self) -> dict[int, int]:
        """{post: how many other posts of the archive cite it} for every cited post."""
        return {
            dst: sum(1 for src in srcs if src in self._meta)
            for dst, srcs in self._in.items()
            if dst in self._meta
        }

    def pagerank(
        self, damping: float = PAGERANK_DAMPING, rounds: int = PAGERANK_ROUNDS
    ) -> dict[int, float]:
        """PageRank over the links between posts of the archive (sums to 1; a post that cites
        nothing spreads its share evenly)."""
        nodes = list(self._meta)
        if not nodes:
            return {}
        n = len(nodes)
        out = {p: [d for d in self._out.get(p, ()) if d in self._meta] for p in nodes}
        rank = dict.fromkeys(nodes, 1.0 / n)
        for _ in range(rounds):
            dangling = sum(rank[p] for p in nodes if not out[p])
            base = (1.0 - damping) / n + damping * dangling / n
            new = dict.fromkeys(nodes, base)
            for p in nodes:
                if out[p]:
                    share = damping * rank[p] / len(out[p])
                    for d in out[p]:
                        new[d] += share
            rank = new
        return rank

    def cocited(self, post_id: int, limit: int = 10) -> list[tuple[int, int]]:
        """Posts cited together with `post_id` by the same posts: [(post, how many posts cite
        both)], most first (ties: the more cited first)."""
        counts: Counter[int] = Counter()
        for src in self._in.get(post_id, ()):
            counts.update(d for d in self._out.get(src, ()) if d != post_id and d in self._meta)
        degree = {d: len(self._in.get(d, ())) for d in counts}
        ranked = sorted(counts.items(), key=lambda item: (-item[1], -degree[item[0]], item[0]))
        return ranked[:limit]

    def counts(self) -> dict[str, int]:
        """Links between two posts of the archive (distinct citing-cited pairs), posts cited
        at least once, links to posts not in the archive, series and posts in series."""
        inside = [pair for pair in self._sentences if pair[0] in self._meta]
        return {
            "links": sum(1 for _, dst in inside if dst in self._meta),
            "cited_posts": len(self.in_degree()),
            "links_outside": sum(1 for _, dst in inside if dst not in self._meta),
            "series": len(self._series),
            "posts_in_series": len(self._series_of),
        }


def _lock_of(searcher: Searcher) -> AbstractContextManager[Any]:
    # The searcher's SQLite connection is shared between threads under its lock.
    return getattr(searcher, "_lock", None) or nullcontext()


def links_of(searcher: Searcher, post_id: int) -> PostLinks:
    """One post's links and series. Reads only that post's rows (what `search show` and a
    reader need: ~1 ms, where reading the whole graph cold took 30-70 ms), or answers from
    the whole graph when this searcher has read it already."""
    graph = _graphs.get(searcher) or vars(searcher).get("graph")  # (a cached Searcher.graph)
    if isinstance(graph, ArchiveGraph):
        return graph.links(post_id)
    store = searcher.store
    with _lock_of(searcher):
        rows = store.links(src=post_id) + store.links(dst=post_id)
        series = store.series_with(post_id)
        ids = {post_id, *(r.src for r in rows), *(r.dst for r in rows if r.dst is not None)}
        meta = store.metadata(ids | {r.post_id for r in series})
    return ArchiveGraph(meta, rows, series).links(post_id)


_graphs: weakref.WeakKeyDictionary[Any, ArchiveGraph] = weakref.WeakKeyDictionary()
_building = threading.Lock()


def graph_of(searcher: Searcher) -> ArchiveGraph:
    """The searcher's graph, read from its store once (a searcher sees one state of the
    archive). Uses `searcher.graph` when the Searcher has one."""
    own = getattr(type(searcher), "graph", None)
    if own is not None:
        return searcher.graph  # type: ignore[attr-defined]
    with _building:
        graph = _graphs.get(searcher)
        if graph is None:
            meta = searcher.meta
            with _lock_of(searcher):
                graph = ArchiveGraph.load(searcher.store, meta)
            _graphs[searcher] = graph
        return graph
