"""The SQLite store: posts (the source of truth), passages, cached embeddings and the manifest.

Derived indexes record which version of each post they hold (`lexical_hash`, `vector_hash`), so
an interrupted run is caught up by the next one and nothing committed here is ever lost.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.post import Post
from index.errors import CorruptStoreError, MissingIndexError, ReadOnlyError

if TYPE_CHECKING:
    import numpy as np

SCHEMA_VERSION = 1
_IN_BATCH = 500  # values per IN (...) list: SQLite allows 999 bound parameters in older builds
# Bodies a store keeps decoded (the render cache of search/snippets.py holds as many): reading
# and decoding ten bodies was 0.28 ms of a 2.9 ms lexical query (dev queries, shared corpus).
# At most this many characters too (the shared corpus has 2.8 million; a body may have one).
BODY_CACHE = 512
BODY_CACHE_CHARS = 8_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    date TEXT,
    category TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    body TEXT NOT NULL,
    views INTEGER,
    hash TEXT NOT NULL,
    lexical_hash TEXT,
    vector_hash TEXT,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_post ON chunks(post_id);
CREATE TABLE IF NOT EXISTS embeddings (
    model TEXT NOT NULL,
    hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, hash)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS glossary_pairs (
    post_id INTEGER NOT NULL,
    english TEXT NOT NULL,
    chinese TEXT NOT NULL,
    votes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS glossary_pairs_post ON glossary_pairs(post_id);
CREATE TABLE IF NOT EXISTS glossary (
    english TEXT PRIMARY KEY,
    chinese TEXT NOT NULL,
    posts INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    src INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    kind TEXT NOT NULL,
    dst INTEGER,
    ref TEXT NOT NULL,
    sentence TEXT NOT NULL,
    PRIMARY KEY (src, ord)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS links_dst ON links(dst);
CREATE TABLE IF NOT EXISTS link_sources (post_id INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS series (
    post_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    ord INTEGER NOT NULL,
    part INTEGER NOT NULL,
    confirmed INTEGER NOT NULL
);
"""
# The glossary tables came after the first stores: the writer's open creates them (CREATE ... IF
# NOT EXISTS above), and a reader of a store no writer has opened since finds none. So did the
# link tables (index/links.py, index/series.py): `links` holds each reference of a post (`dst`
# the post it names, NULL for a title no post has yet; `ref` the URL's number or the title as
# written), `link_sources` which version of each post they were read from, `series` each
# post's series. Adding tables keeps every older store readable and loses nothing.


class ChunkTable(Mapping[int, tuple[int, int, int]]):
    """Passage id -> (post id, start, end), kept as numpy columns sorted by id. A dict of
    tuples weighed ~250 bytes a passage (100x, 840k passages: ~200 MB, once per model side);
    these columns 32."""

    def __init__(self, rows: np.ndarray) -> None:
        import numpy as np  # imported lazily, as everywhere a lexical query goes

        self.rows = rows[np.argsort(rows["id"], kind="stable")]  # fields id, post, start, end
        self.ids: np.ndarray = np.ascontiguousarray(self.rows["id"])
        self.posts: np.ndarray = np.ascontiguousarray(self.rows["post"])

    @classmethod
    def of(cls, table: Mapping[int, tuple[int, int, int]]) -> ChunkTable:
        """`table` as a ChunkTable (a dict's items copied; a ChunkTable as it is)."""
        if isinstance(table, ChunkTable):
            return table
        import numpy as np

        rows = ((c, p, s, e) for c, (p, s, e) in table.items())
        return cls(np.fromiter(rows, _chunk_row(), len(table)))

    def _at(self, chunk_id: int) -> int:
        import numpy as np

        i = int(np.searchsorted(self.ids, chunk_id))
        if i == len(self.ids) or self.ids[i] != chunk_id:
            raise KeyError(chunk_id)
        return i

    def __getitem__(self, chunk_id: int) -> tuple[int, int, int]:
        _, post, start, end = self.rows[self._at(chunk_id)].tolist()
        return post, start, end

    def __contains__(self, chunk_id: object) -> bool:
        try:
            self._at(chunk_id)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[int]:
        return iter(self.ids.tolist())

    def __len__(self) -> int:
        return len(self.ids)


def _chunk_row() -> np.dtype:
    import numpy as np

    return np.dtype([("id", "<i8"), ("post", "<i8"), ("start", "<i8"), ("end", "<i8")])


@dataclass(frozen=True, slots=True)
class PostMeta:
    """What a hit needs without the body; small enough to hold for the whole archive."""

    id: int
    title: str
    url: str
    date: dt.date | None
    category: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class LinkRow:
    """A reference as stored: from post `src` (its `ord`-th), of `kind` "url" or "title", to
    post `dst` (None: a title no post has yet), `ref` as written, in `sentence`."""

    src: int
    ord: int
    kind: str
    dst: int | None
    ref: str
    sentence: str


@dataclass(frozen=True, slots=True)
class SeriesRow:
    post_id: int
    name: str
    ord: int
    part: int
    confirmed: bool


def _fields(row: sqlite3.Row) -> tuple[dt.date | None, tuple[str, ...]]:
    """A row's date and tags, decoded; ValueError for a value no writer of ours stores."""
    date = dt.date.fromisoformat(row["date"]) if row["date"] else None
    tags = json.loads(row["tags"])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"tags {row['tags']!r}")
    return date, tuple(tags)


def _damaged_row(row: sqlite3.Row, exc: Exception) -> CorruptStoreError:
    return CorruptStoreError(f"post {row['id']} in the store is damaged ({exc}); import it again")


def _row_to_post(row: sqlite3.Row) -> Post:
    try:
        date, tags = _fields(row)
        return Post(
            id=row["id"],
            url=row["url"],
            title=row["title"],
            date=date,
            category=row["category"],
            tags=tags,
            body=row["body"],
            views=row["views"],
        )
    except (ValueError, TypeError) as exc:
        raise _damaged_row(row, exc) from None


class _Cursor(sqlite3.Cursor):
    """A cursor whose database errors (a damaged page met mid-query) name the store."""

    path: Path

    def execute(self, *args: object) -> _Cursor:  # type: ignore[override]
        with _damage(self.path):
            return super().execute(*args)  # type: ignore[arg-type,return-value]

    def executemany(self, *args: object) -> _Cursor:  # type: ignore[override]
        with _damage(self.path):
            return super().executemany(*args)  # type: ignore[arg-type,return-value]

    def fetchone(self) -> object:
        with _damage(self.path):
            return super().fetchone()

    def fetchall(self) -> list[object]:
        with _damage(self.path):
            return super().fetchall()

    def __next__(self) -> object:
        with _damage(self.path):
            return super().__next__()


class _Connection(sqlite3.Connection):
    """Every query goes through `_Cursor` (Connection.execute calls `cursor()`)."""

    path: Path

    def cursor(self, factory: type[sqlite3.Cursor] = _Cursor) -> sqlite3.Cursor:  # type: ignore[override]
        cur = super().cursor(factory)
        cur.path = self.path  # type: ignore[attr-defined]
        return cur

    def commit(self) -> None:
        with _damage(self.path):
            super().commit()


@contextmanager
def _damage(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise  # busy, not damaged
        raise CorruptStoreError(f"the store {path} is unreadable ({exc})") from None


def _readable(row: sqlite3.Row) -> bool:
    try:
        _fields(row)
    except (ValueError, TypeError):
        return False
    return True


def _writable(path: Path) -> bool:
    """Whether SQLite could write beside the store (its -wal and -shm files) and to it."""
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """The store of a read-only data directory, opened for reading.

    A WAL database is read through its -shm file, which SQLite cannot create or update where
    nothing may be written, so the normal open fails ("unable to open database file"). Where
    nothing may be written nothing can change either, so the file is opened immutable (no
    locks, no -shm). Unless a writer left a -wal file behind: its commits would be missed, and
    that is said rather than guessed around.
    """
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise ReadOnlyError(
            f"the data directory {path.parent} is read-only and its store has writes not yet "
            f"merged ({wal.name}); open it once where it may be written, or copy it elsewhere"
        )
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, factory=_Connection)
        conn.path = path  # type: ignore[attr-defined]
        conn.row_factory = sqlite3.Row
        version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise CorruptStoreError(f"the store {path} is unreadable ({exc})") from None
    if version is None or version[0] != str(SCHEMA_VERSION):
        conn.close()
        raise CorruptStoreError(
            f"the store {path} has schema version {version[0] if version else '?'}, "
            f"this program reads version {SCHEMA_VERSION}"
        )
    return conn


class Store:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._bodies: OrderedDict[int, str] = OrderedDict()  # by id, least recent first
        self._bodies_of: tuple[int, int] | None = None  # the version they were read at
        self._bodies_chars = 0

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Store:
        if not path.exists() and not create:
            raise MissingIndexError(f"no index at {path.parent}")
        path.parent.mkdir(parents=True, exist_ok=True)
        if not create and not _writable(path):
            return cls(_open_read_only(path), path)
        try:
            conn = sqlite3.connect(path, check_same_thread=False, factory=_Connection)
            conn.path = path  # type: ignore[attr-defined]
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 5000")
            if create:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.executescript(_SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
                conn.commit()
            version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CorruptStoreError(f"the store {path} is unreadable ({exc})") from None
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise CorruptStoreError(
                f"the store {path} has schema version {version[0] if version else '?'}, "
                f"this program reads version {SCHEMA_VERSION}"
            )
        return cls(conn, path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- manifest (index.manifest reads and writes it) ------------------------------------
    def meta(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, entries: dict[str, str | None]) -> None:
        """Write these entries in one transaction; None removes one."""
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [(k, v) for k, v in entries.items() if v is not None],
            )
            self.conn.executemany(
                "DELETE FROM meta WHERE key=?", [(k,) for k, v in entries.items() if v is None]
            )

    def _execute_in(
        self, sql: str, values: Iterable[object], *params: object
    ) -> Iterator[sqlite3.Cursor]:
        """Run `sql`, whose `{marks}` is an IN list, over `values` in batches that stay under
        SQLite's limit on bound parameters; `params` bind before the list."""
        values = list(values)
        for i in range(0, len(values), _IN_BATCH):
            part = values[i : i + _IN_BATCH]
            marks = ",".join("?" * len(part))
            yield self.conn.execute(sql.format(marks=marks), [*params, *part])

    def _rows_in(self, sql: str, values: Iterable[object], *params: object) -> Iterator[tuple]:
        for cursor in self._execute_in(sql, values, *params):
            # Not `yield from`: closing this generator would close the cursor, which raises
            # once the connection is gone (a generator dropped after the store closed).
            for row in cursor:  # noqa: UP028
                yield row

    # -- posts ----------------------------------------------------------------------------
    def count(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM posts").fetchone()[0]

    def titles(self, limit: int) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT title FROM posts LIMIT ?", (limit,))]

    def ids(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT id FROM posts")}

    def get(self, post_id: int) -> Post | None:
        row = self.conn.execute("SELECT * FROM posts WHERE id=?", (post_id,)).fetchone()
        return _row_to_post(row) if row else None

    def bodies(self, ids: Iterable[int]) -> dict[int, str]:
        """These posts' bodies (those the store has). The last BODY_CACHE read are kept while
        the database is unchanged, and the same string objects come back: their hashes are
        computed once, which the snippet renderer's cache, keyed by body, looks up. Callers
        serialize their calls, as they do for the connection (Searcher holds its lock)."""
        version = self._version()
        if version != self._bodies_of:
            self._bodies.clear()
            self._bodies_of, self._bodies_chars = version, 0
        kept = self._bodies
        found = {}
        missing = []
        for i in ids:
            body = kept.get(i)
            if body is None:
                missing.append(i)
            else:
                kept.move_to_end(i)
                found[i] = body
        if missing:
            read = dict(self._rows_in("SELECT id, body FROM posts WHERE id IN ({marks})", missing))
            for i, body in read.items():
                self._bodies_chars += len(body) - len(kept.pop(i, ""))
                kept[i] = body
            while len(kept) > BODY_CACHE or self._bodies_chars > BODY_CACHE_CHARS:
                self._bodies_chars -= len(kept.popitem(last=False)[1])
            found.update(read)
        return found

    def _version(self) -> tuple[int, int]:
        """Changes by other connections (data_version) and by this one (total_changes): equal
        values mean equal contents."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0], self.conn.total_changes

    def iter_posts(self, ids: Iterable[int] | None = None) -> Iterator[Post]:
        if ids is None:
            yield from map(_row_to_post, self.conn.execute("SELECT * FROM posts ORDER BY id"))
            return
        sql = "SELECT * FROM posts WHERE id IN ({marks}) ORDER BY id"
        yield from map(_row_to_post, self._rows_in(sql, sorted(ids)))

    def metadata(self, ids: Iterable[int] | None = None) -> dict[int, PostMeta]:
        """Every post's metadata, or these posts' (those the store has)."""
        found = {}
        sql = "SELECT id, title, url, date, category, tags FROM posts"
        rows: Iterable[sqlite3.Row] = (
            self.conn.execute(sql)
            if ids is None
            else self._rows_in(sql + " WHERE id IN ({marks})", ids)
        )
        for r in rows:
            try:
                date, tags = _fields(r)
            except (ValueError, TypeError) as exc:
                raise _damaged_row(r, exc) from None
            found[r["id"]] = PostMeta(r["id"], r["title"], r["url"], date, r["category"], tags)
        return found

    def damaged(self) -> list[str]:
        """What is wrong with rows whose values cannot be read back (for `search check`)."""
        problems = []
        for r in self.conn.execute("SELECT id, date, tags FROM posts"):
            try:
                _fields(r)
            except (ValueError, TypeError) as exc:
                problems.append(str(_damaged_row(r, exc)))
        return problems

    def upsert(self, posts: Iterable[Post]) -> UpsertCounts:
        """Insert new posts and replace changed ones, in one transaction."""
        new = changed = unchanged = 0
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.conn:
            for post in posts:
                row = self.conn.execute(
                    "SELECT id, hash, date, tags FROM posts WHERE id=?", (post.id,)
                ).fetchone()
                digest = post.content_hash
                if row is not None and row["hash"] == digest and _readable(row):
                    unchanged += 1
                    if post.views is not None:
                        self.conn.execute(
                            "UPDATE posts SET views=? WHERE id=?", (post.views, post.id)
                        )
                    continue
                values = (
                    post.url,
                    post.title,
                    post.iso_date,
                    post.category,
                    json.dumps(list(post.tags), ensure_ascii=False),
                    post.body,
                    post.views,
                    digest,
                    now,
                )
                if row is None:
                    new += 1
                    self.conn.execute(
                        "INSERT INTO posts (url, title, date, category, tags, body, views, hash,"
                        " updated_at, id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        (*values, post.id),
                    )
                else:
                    changed += 1
                    self.conn.execute(
                        "UPDATE posts SET url=?, title=?, date=?, category=?, tags=?, body=?,"
                        " views=COALESCE(?, views), hash=?, updated_at=? WHERE id=?",
                        (*values, post.id),
                    )
        return UpsertCounts(new, changed, unchanged)

    # -- derived-index bookkeeping ---------------------------------------------------------
    def stale(self, column: str) -> list[int]:
        """Ids whose derived copy (`lexical_hash` or `vector_hash`) is missing or out of date."""
        assert column in ("lexical_hash", "vector_hash")
        sql = f"SELECT id FROM posts WHERE {column} IS NULL OR {column} != hash ORDER BY id"
        return [r[0] for r in self.conn.execute(sql)]

    def synced_count(self, column: str) -> int:
        assert column in ("lexical_hash", "vector_hash")
        return self.conn.execute(
            f"SELECT COUNT(*) FROM posts WHERE {column} IS NOT NULL"
        ).fetchone()[0]

    def mark_synced(self, column: str, ids: Iterable[int]) -> None:
        assert column in ("lexical_hash", "vector_hash")
        with self.conn:
            self.conn.executemany(f"UPDATE posts SET {column}=hash WHERE id=?", [(i,) for i in ids])

    def reset_synced(self, column: str) -> None:
        assert column in ("lexical_hash", "vector_hash")
        with self.conn:
            self.conn.execute(f"UPDATE posts SET {column}=NULL")

    # -- passages and their vectors --------------------------------------------------------
    def chunk_ids(self, post_ids: Iterable[int]) -> list[int]:
        sql = "SELECT id FROM chunks WHERE post_id IN ({marks})"
        return [r[0] for r in self._rows_in(sql, post_ids)]

    def synced_chunk_ids(self) -> list[int]:
        """Passages of posts whose vectors are marked as indexed: what FAISS must hold."""
        sql = (
            "SELECT c.id FROM chunks c JOIN posts p ON p.id = c.post_id "
            "WHERE p.vector_hash IS NOT NULL"
        )
        return [r[0] for r in self.conn.execute(sql)]

    def max_chunk_id(self) -> int:
        return self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM chunks").fetchone()[0]

    def chunk_table(self) -> ChunkTable:
        """Passage id -> (post id, start, end) for every passage."""
        import numpy as np

        rows = self.conn.execute("SELECT id, post_id, start, end FROM chunks")
        return ChunkTable(np.fromiter((tuple(r) for r in rows), _chunk_row()))

    def stored_passages(self, ids: Iterable[int]) -> list[tuple[int, int, int, int, int, str]]:
        """(id, post id, ord, start, end, text) of these passages, by id: what the primary
        index embedded, so another model's index embeds the same without chunking again."""
        sql = "SELECT id, post_id, ord, start, end, text FROM chunks WHERE id IN ({marks})"
        return sorted(tuple(r) for r in self._rows_in(sql, ids))

    def replace_chunks(
        self, post_ids: list[int], rows: list[tuple[int, int, int, int, int, str, str]]
    ) -> None:
        """Swap the passages of these posts and mark their vectors synced, atomically.

        rows: (id, post_id, ord, start, end, text, hash).
        """
        with self.conn:
            delete = "DELETE FROM chunks WHERE post_id IN ({marks})"
            for _cursor in self._execute_in(delete, post_ids):
                pass
            self.conn.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", rows)
            self.conn.executemany(
                "UPDATE posts SET vector_hash=hash WHERE id=?", [(i,) for i in post_ids]
            )

    def chunk_hashes(self) -> dict[int, str]:
        """Passage id -> the hash its cached vector is kept under, for every passage."""
        return dict(self.conn.execute("SELECT id, hash FROM chunks").fetchall())

    def cached_vectors(self, model: str, hashes: Iterable[str]) -> dict[str, bytes]:
        sql = "SELECT hash, vector FROM embeddings WHERE model=? AND hash IN ({marks})"
        return dict(self._rows_in(sql, dict.fromkeys(hashes), model))

    def cache_vectors(self, model: str, items: Iterable[tuple[str, bytes]]) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                [(model, h, v) for h, v in items],
            )

    # -- the glossary mined from the posts (index/glossary.py) -------------------------------
    def _has_table(self, name: str) -> bool:
        sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
        return self.conn.execute(sql, (name,)).fetchone() is not None

    def replace_glossary_pairs(self, pairs: dict[int, list[tuple[str, str, int]]]) -> None:
        """Swap what these posts propose ({post id: [(english, chinese, votes)]})."""
        with self.conn:
            delete = "DELETE FROM glossary_pairs WHERE post_id IN ({marks})"
            for _cursor in self._execute_in(delete, list(pairs)):
                pass
            self.conn.executemany(
                "INSERT INTO glossary_pairs VALUES (?,?,?,?)",
                [(pid, en, zh, n) for pid, rows in pairs.items() for en, zh, n in rows],
            )

    def glossary_pairs(
        self, post_ids: Iterable[int] | None = None
    ) -> list[tuple[str, str, int, int]]:
        """The posts' proposals (all posts', or these posts'): (english, chinese, votes
        summed, posts proposing it)."""
        columns = "english, chinese, SUM(votes), COUNT(DISTINCT post_id)"
        if post_ids is None:
            rows: Iterable[tuple] = self.conn.execute(
                f"SELECT {columns} FROM glossary_pairs GROUP BY english, chinese"
            )
        else:
            sql = f"SELECT {columns} FROM glossary_pairs WHERE post_id IN ({{marks}}) GROUP BY 1, 2"
            rows = self._rows_in(sql, post_ids)
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def set_glossary(
        self, entries: dict[str, tuple[str, int]], names: set[str] | None = None
    ) -> None:
        """Replace the mined glossary ({english: (chinese, posts glossing it so)}), or only
        its entries for `names`."""
        with self.conn:
            if names is None:
                self.conn.execute("DELETE FROM glossary")
            else:
                delete = "DELETE FROM glossary WHERE english IN ({marks})"
                for _cursor in self._execute_in(delete, sorted(names)):
                    pass
            self.conn.executemany(
                "INSERT INTO glossary VALUES (?,?,?)",
                [(en, zh, n) for en, (zh, n) in entries.items()],
            )

    def glossary(self) -> dict[str, tuple[str, int]]:
        """The mined glossary ({} for a store mined by no writer yet)."""
        if not self._has_table("glossary"):
            return {}
        rows = self.conn.execute("SELECT english, chinese, posts FROM glossary")
        return {  # a garbled row (a cell of another type) is left out, not fatal
            r[0]: (r[1], r[2])
            for r in rows
            if isinstance(r[0], str) and isinstance(r[1], str) and isinstance(r[2], int)
        }

    # -- links between posts and their series (index/links.py, index/series.py) -------------
    def has_link_tables(self) -> bool:
        """Whether a writer of this version has opened the store (and made the link tables)."""
        return all(self._has_table(t) for t in ("links", "link_sources", "series"))

    def stale_links(self, version: int) -> list[int]:
        """Posts whose references were never read, or were read from another version of the
        post or by other rules (`version`)."""
        sql = (
            "SELECT p.id FROM posts p LEFT JOIN link_sources s ON s.post_id = p.id "
            "WHERE s.hash IS NULL OR s.hash != ? || ':' || p.hash ORDER BY p.id"
        )
        return [r[0] for r in self.conn.execute(sql, (str(version),))]

    def replace_links(self, found: dict[int, list[tuple[str, int | None, str, str]]]) -> None:
        """Swap the references of these posts ({post: [(kind, dst, ref, sentence)]})."""
        with self.conn:
            for _cursor in self._execute_in(
                "DELETE FROM links WHERE src IN ({marks})", list(found)
            ):
                pass
            self.conn.executemany(
                "INSERT INTO links VALUES (?,?,?,?,?,?)",
                [
                    (src, i, kind, dst, ref, sentence)
                    for src, rows in found.items()
                    for i, (kind, dst, ref, sentence) in enumerate(rows)
                ],
            )

    def mark_links_read(self, version: int, ids: Iterable[int]) -> None:
        """Record that these posts' references were read (by rules `version`) from their
        current text: the last step of a sync, so a run stopped before it is redone."""
        ids = list(ids)
        with self.conn:
            delete = "DELETE FROM link_sources WHERE post_id IN ({marks})"
            for _cursor in self._execute_in(delete, ids):
                pass
            sql = (
                "INSERT INTO link_sources SELECT id, ? || ':' || hash FROM posts "
                "WHERE id IN ({marks})"
            )
            for _cursor in self._execute_in(sql, ids, str(version)):
                pass

    def forget_links(self) -> None:
        """Mark every post's references as unread (a rebuild reads them all again)."""
        with self.conn:
            self.conn.execute("DELETE FROM link_sources")

    def title_references(self) -> list[tuple[int, int, str, int | None]]:
        """Every reference by title: (src, ord, title as written, the post it names now)."""
        sql = "SELECT src, ord, ref, dst FROM links WHERE kind = 'title'"
        return [(r[0], r[1], r[2], r[3]) for r in self.conn.execute(sql)]

    def set_title_targets(self, targets: Iterable[tuple[int, int, int | None]]) -> None:
        """Point title references ((src, ord, dst)) at the posts they name now."""
        with self.conn:
            self.conn.executemany(
                "UPDATE links SET dst=? WHERE src=? AND ord=?",
                [(dst, src, o) for src, o, dst in targets],
            )

    def links(self, *, src: int | None = None, dst: int | None = None) -> list[LinkRow]:
        """The references from `src`, to `dst`, or all of them ([] for a store no writer of
        this version has opened)."""
        if not self._has_table("links"):
            return []
        sql, params = "SELECT src, ord, kind, dst, ref, sentence FROM links", ()
        if src is not None:
            sql, params = sql + " WHERE src=?", (src,)
        elif dst is not None:
            sql, params = sql + " WHERE dst=?", (dst,)
        rows = self.conn.execute(sql + " ORDER BY src, ord", params)
        return [LinkRow(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows]

    def link_pairs(self) -> set[tuple[int, int]]:
        """(citing, cited) for every resolved reference between two different posts."""
        if not self._has_table("links"):
            return set()
        sql = "SELECT DISTINCT src, dst FROM links WHERE dst IS NOT NULL AND dst != src"
        return {(r[0], r[1]) for r in self.conn.execute(sql)}

    def links_read(self) -> int:
        """How many posts have their references read (for `search check`)."""
        if not self._has_table("link_sources"):
            return 0
        return self.conn.execute("SELECT COUNT(*) FROM link_sources").fetchone()[0]

    def series_with(self, post_id: int) -> list[SeriesRow]:
        """The rows of the series `post_id` is in ([] when none)."""
        if not self._has_table("series"):
            return []
        sql = (
            "SELECT post_id, name, ord, part, confirmed FROM series "
            "WHERE name = (SELECT name FROM series WHERE post_id = ?) ORDER BY ord"
        )
        rows = self.conn.execute(sql, (post_id,))
        return [SeriesRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def replace_series(self, rows: Iterable[SeriesRow]) -> None:
        with self.conn:
            self.conn.execute("DELETE FROM series")
            self.conn.executemany(
                "INSERT INTO series VALUES (?,?,?,?,?)",
                [(r.post_id, r.name, r.ord, r.part, int(r.confirmed)) for r in rows],
            )

    def series(self) -> list[SeriesRow]:
        """Every post in a series, by series then order ([] for a store without the table)."""
        if not self._has_table("series"):
            return []
        sql = "SELECT post_id, name, ord, part, confirmed FROM series ORDER BY name, ord"
        return [SeriesRow(r[0], r[1], r[2], r[3], bool(r[4])) for r in self.conn.execute(sql)]

    def date_range(self) -> tuple[str | None, str | None]:
        row = self.conn.execute("SELECT MIN(date), MAX(date) FROM posts").fetchone()
        return row[0], row[1]
