"""The Tantivy BM25 index, derived from the store: its schema, documents and query primitives.

Text fields hold jieba tokens (pre-tokenized, with character offsets); the original text lives
in the store, so nothing is stored here but the post id. `tag_exact` and `category_exact` keep
whole, normalized values for filters; `date` is a fast field for ranges and newest-first order.
This module is the only one that knows field names and how values are encoded; `search/lexical.py`
composes these primitives into ranked queries.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import multiprocessing
import os
import shutil
import signal
import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import tantivy
from tantivy import Occur, Query

from corpus.post import Post
from index.errors import CorruptIndexError, DataError, MissingIndexError
from index.formula import FORMULA_VERSION, body_tokens, field_texts
from index.tokenize import TOKENIZER_VERSION, index_tokens, normalize

ID = "id"
TITLE, BODY, TAGS, CATEGORY = "title", "body", "tags", "category"
TEXT_FIELDS = (TITLE, BODY, TAGS, CATEGORY)
TAG_EXACT = "tag_exact"
CATEGORY_EXACT = "category_exact"
DATE = "date"
# The structural tokens of every formula of the body (index/formula.py), one field for all.
FORMULA = "formula"
# What the manifest records for this index: the jieba token stream and the formula tokens; a
# change to either rebuilds it.
LEXICAL_VERSION = f"{TOKENIZER_VERSION}+{FORMULA_VERSION}"
# Tantivy keeps dates as nanoseconds since 1970 in an i64, which spans 1677-09-21..2262-04-11;
# a day inside that span on both sides is what a date field or a range bound may hold.
DATE_MIN = dt.date(1677, 9, 22)
DATE_MAX = dt.date(2262, 4, 10)


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field(ID, stored=True, indexed=True, fast=True)
    for name in TEXT_FIELDS:
        # Queries are built from jieba terms directly, so the analyzer is never run on them;
        # "whitespace" is a built-in that needs no registration when the index is reopened.
        b.add_text_field(name, stored=False, tokenizer_name="whitespace", index_option="position")
    b.add_text_field(TAG_EXACT, stored=False, tokenizer_name="raw", index_option="basic")
    b.add_text_field(CATEGORY_EXACT, stored=False, tokenizer_name="raw", index_option="basic")
    b.add_date_field(DATE, stored=False, indexed=True, fast=True)
    # Frequencies without positions: formula tokens are n-grams already, so no phrase query
    # needs positions, and the field stays small.
    b.add_text_field(FORMULA, stored=False, tokenizer_name="whitespace", index_option="freq")
    return b.build()


def date_value(day: dt.date) -> dt.datetime:
    """A day as the date field stores it, clamped into what the field can hold."""
    day = min(max(day, DATE_MIN), DATE_MAX)
    return dt.datetime(day.year, day.month, day.day)


def _pretokenized(text: str) -> tantivy.PreTokenizedString:
    tokens = [tantivy.Token(t.text, t.position, t.start, t.end) for t in index_tokens(text)]
    return tantivy.PreTokenizedString(text, tokens)


def to_document(post: Post, formula_text: str | None = None) -> tantivy.Document:
    """The post as the index holds it; `formula_text`: its formula field, when made already
    (`index.formula.field_texts`)."""
    doc = tantivy.Document()
    doc.add_integer(ID, post.id)
    doc.add_pre_tokenized_text(TITLE, _pretokenized(post.title))
    doc.add_pre_tokenized_text(BODY, _pretokenized(post.body))
    doc.add_pre_tokenized_text(TAGS, _pretokenized(" ".join(post.tags)))
    doc.add_pre_tokenized_text(CATEGORY, _pretokenized(post.category))
    for tag in post.tags:
        doc.add_text(TAG_EXACT, normalize(tag))
    if post.category:
        doc.add_text(CATEGORY_EXACT, normalize(post.category))
    if post.date:
        doc.add_date(DATE, date_value(post.date))
    if formula_text is None:
        formula_text = " ".join(body_tokens(post.body))
    if formula_text:
        # Plain text through the `whitespace` analyzer (tokens hold no space): Tantivy splits
        # it in Rust, faster than handing over a Python token list.
        doc.add_text(FORMULA, formula_text)
    return doc


# From this many posts in one update, a worker process makes their formula fields while this
# process segments them with jieba: the formula side (~0.5 s of CPU over the shared corpus, a
# fifth of the BM25 index's time) then runs on the other core. The worker starts in ~0.2 s, on
# that core too: below ~250 posts (~0.35 s of formula fields) it would barely be ready.
FORMULA_WORKER_FROM = 256
FORMULA_BATCH = 32  # posts a task: one pickled list of bodies there, one of strings back


def _with_formula_fields(posts: Iterable[Post]) -> Iterator[tuple[Post, str | None]]:
    """Each post with its formula field's text, made in a worker process once the update
    reaches FORMULA_WORKER_FROM posts (None: the writer makes it itself). The worker is a
    fresh interpreter (not a fork of this one, whose Tantivy and BLAS threads hold locks); if
    it cannot start or dies, the fields are made here and nothing is lost."""
    it = iter(posts)
    head = list(itertools.islice(it, FORMULA_WORKER_FROM))
    posts = itertools.chain(head, it)
    if len(head) < FORMULA_WORKER_FROM or (os.cpu_count() or 1) < 2:
        yield from ((post, None) for post in posts)
        return
    # The process starts at the first task: a failure to start is a failed task (see submit).
    pool = ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker
    )
    pending: deque[tuple[list[Post], Future[list[str]] | None]] = deque()
    answered = False  # the worker has given a batch: until then it is starting (~0.2 s)

    def submit(batch: list[Post]) -> None:
        try:
            pending.append((batch, pool.submit(field_texts, [p.body for p in batch])))
        except Exception:  # a broken pool: this batch is made here
            pending.append((batch, None))

    def drain() -> Iterator[tuple[Post, str | None]]:
        nonlocal answered
        batch, future = pending.popleft()
        texts: list[str | None] = [None] * len(batch)
        if future is not None and not answered and not future.done():
            future.cancel()  # still starting: this batch is made here rather than waited for
        elif future is not None:
            try:
                texts = list(future.result())
                answered = True
            except Exception:  # the worker died or failed: this process makes them
                pass
        yield from zip(batch, texts, strict=True)

    try:
        for batch in _batches(posts):
            submit(batch)
            if len(pending) > 2:  # the worker stays two batches ahead
                yield from drain()
        while pending:
            yield from drain()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _quiet_worker() -> None:
    """Ctrl-C is the writer's to handle (it rolls back and stops the pool): the worker, in the
    same process group, ignores it rather than print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _batches(posts: Iterable[Post]) -> Iterator[list[Post]]:
    it = iter(posts)
    while batch := list(itertools.islice(it, FORMULA_BATCH)):
        yield batch


# -- query primitives ---------------------------------------------------------------------------
def term_query(schema: tantivy.Schema, field: str, term: str, boost: float = 1.0) -> Query:
    q = Query.term_query(schema, field, term)
    return q if boost == 1.0 else Query.boost_query(q, boost)


def phrase_positions(text: str) -> list[tuple[int, str]]:
    """The index's own tokens of `text` at their positions (the first token at each)."""
    primary: dict[int, str] = {}
    for tok in index_tokens(text):
        primary.setdefault(tok.position, tok.text)
    return sorted(primary.items())


def phrase_query(schema: tantivy.Schema, field: str, text: str, boost: float = 1.0) -> Query | None:
    """`text` as a phrase in `field`, tokenized as the index was; None for a single token."""
    return phrase_query_at(schema, field, phrase_positions(text), boost)


def phrase_query_at(
    schema: tantivy.Schema, field: str, positions: Sequence[tuple[int, str]], boost: float = 1.0
) -> Query | None:
    """These (position, token) pairs as a phrase in `field`; None for fewer than two."""
    if len(positions) < 2:
        return None
    q = Query.phrase_query(schema, field, list(positions))
    return q if boost == 1.0 else Query.boost_query(q, boost)


def text_query(schema: tantivy.Schema, text: str) -> Query | None:
    """`text` in a post's title or body: as a phrase, or as its one token; None when it has
    no token."""
    words = phrase_positions(text)
    if not words:
        return None
    clauses = []
    for field in (TITLE, BODY):
        q = (
            Query.phrase_query(schema, field, words)
            if len(words) > 1
            else term_query(schema, field, words[0][1])
        )
        clauses.append((Occur.Should, q))
    return Query.boolean_query(clauses)


def fuzzy_query(
    schema: tantivy.Schema, field: str, term: str, distance: int, *, prefix: bool = False
) -> Query:
    """Terms of `field` within `distance` edits of `term` (with `prefix`: of a prefix of them;
    a transposition costs one edit)."""
    return Query.fuzzy_term_query(schema, field, term, distance, True, prefix)


def tag_query(schema: tantivy.Schema, tag: str) -> Query:
    return term_query(schema, TAG_EXACT, normalize(tag))


def category_query(schema: tantivy.Schema, categories: Sequence[str]) -> Query:
    """Posts in any of `categories`."""
    return Query.boolean_query(
        [(Occur.Should, term_query(schema, CATEGORY_EXACT, normalize(c))) for c in categories]
    )


def date_range_query(schema: tantivy.Schema, since: dt.date | None, until: dt.date | None) -> Query:
    """Posts dated within [since, until] (either side open); bounds outside what the field can
    hold are clamped to its limits."""
    return Query.range_query(
        schema,
        DATE,
        tantivy.FieldType.Date,
        date_value(since or DATE_MIN),
        date_value(until or DATE_MAX),
    )


def ids_query(schema: tantivy.Schema, ids: Iterable[int]) -> Query:
    return Query.term_set_query(schema, ID, list(ids))


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Tantivy's errors from a damaged index (ValueError, OSError, and pyo3's PanicException,
    which derives from BaseException) as one CorruptIndexError naming the index."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit, MemoryError, DataError):
        raise
    except BaseException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorruptIndexError(f"the lexical index at {path} is unreadable ({first})") from None


# Every file of a Tantivy segment ends in a footer: JSON holding the CRC32 of the bytes before
# it (written at commit), its length (u32) and this magic (u32), little-endian. Checking them is
# Tantivy's own `validate_checksum`, which tantivy-py does not expose.
FOOTER_MAGIC = 1337
SEGMENT_FILES = ("term", "idx", "pos", "store", "fast", "fieldnorm")


def verify_files(path: Path) -> None:
    """Raise CorruptIndexError unless every file of every segment that meta.json lists is there
    and matches the checksum Tantivy recorded in it at commit.

    A damaged file otherwise shows only when a query touches the damaged part: some answers go
    silently wrong, others raise (or panic inside Tantivy, past any `except Exception`). Reading
    every byte is cheap: about 1 ms a megabyte (the archive's index is 2 MB).
    """
    folder = path.resolve()
    try:
        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        segments = [
            (str(seg["segment_id"]).replace("-", ""), seg.get("deletes"))
            for seg in meta["segments"]
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CorruptIndexError(
            f"the lexical index at {path} has no readable meta.json ({exc})"
        ) from None
    for segment, deletes in segments:
        names = [f"{segment}.{ext}" for ext in SEGMENT_FILES]
        if isinstance(deletes, dict) and "opstamp" in deletes:
            names.append(f"{segment}.{deletes['opstamp']}.del")
        for name in names:
            problem = _footer_problem(folder / name)
            if problem:
                raise CorruptIndexError(f"the lexical index at {path} is damaged: {name} {problem}")


def _footer_problem(file: Path) -> str | None:
    """Why `file` fails its footer's checksum, or None when it passes."""
    try:
        with file.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < 8:
                return "is truncated"
            fh.seek(size - 8)
            length, magic = struct.unpack("<II", fh.read(8))
            if magic != FOOTER_MAGIC or length + 8 > size:
                return "has no footer (damaged or truncated)"
            body = size - 8 - length
            fh.seek(body)
            expected = json.loads(fh.read(length))["crc"]
            fh.seek(0)
            crc, left = 0, body
            while left:
                chunk = fh.read(min(left, 2**20))
                if not chunk:
                    return "is truncated"
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
    except FileNotFoundError:
        return "is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"is unreadable ({exc})"
    return None if crc == expected else "fails its checksum"


class _GuardedSearcher:
    """A Tantivy searcher whose every call turns Tantivy's errors (and panics) from a damaged
    file into one CorruptIndexError, as `reading` does: the last line of defence for damage
    that no checksum covers."""

    def __init__(self, searcher: tantivy.Searcher, path: Path) -> None:
        self._searcher = searcher
        self._path = path

    def __getattr__(self, name: str) -> object:
        with reading(self._path):
            value = getattr(self._searcher, name)
        if not callable(value):
            return value

        def guarded(*args: object, **kwargs: object) -> object:
            with reading(self._path):
                return value(*args, **kwargs)

        return guarded


class LexicalIndex:
    """The BM25 index. `path` is a symlink to the folder that holds the index, so that a
    rebuild happens beside the live index and replaces it in one rename (`publish`): readers
    keep answering from the old one until then."""

    def __init__(
        self, index: tantivy.Index, path: Path, copy: tempfile.TemporaryDirectory | None = None
    ) -> None:
        self.index = index
        self.path = path
        self.schema = index.schema
        self._copy = copy  # a read-only index's private copy, removed with this object

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> LexicalIndex:
        with reading(path):
            if LexicalIndex.exists(path) and not create and not os.access(path, os.W_OK):
                # Tantivy takes a lock file beside the index even to read it: on a read-only
                # data directory it fails ("Failed to acquire Lockfile"), so a private copy of
                # the files (a few MB) is read instead; nothing can change the original.
                verify_files(path)
                copy = tempfile.TemporaryDirectory(prefix="kexue-lexical-ro.")
                shutil.copytree(path.resolve(), copy.name, dirs_exist_ok=True)
                return cls(tantivy.Index.open(copy.name), path, copy)
            if LexicalIndex.exists(path):
                verify_files(path)
                index = tantivy.Index.open(str(path))
            elif create:
                path.mkdir(parents=True, exist_ok=True)
                index = tantivy.Index(_schema(), path=str(path))
            elif path.exists():
                raise CorruptIndexError(f"{path} is not a lexical index")
            else:
                raise MissingIndexError(f"no lexical index at {path}")
        return cls(index, path)

    @staticmethod
    def exists(path: Path) -> bool:
        return path.is_dir() and tantivy.Index.exists(str(path))

    @staticmethod
    def wipe(path: Path) -> None:
        """Remove an index (or whatever stands where one should be) and what it points to."""
        if path.is_symlink():
            target = path.resolve()
            path.unlink()
            shutil.rmtree(target, ignore_errors=True)
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()

    @staticmethod
    def beside(path: Path) -> Path:
        """A new, empty folder next to `path` to build a replacement index in. Folders left by
        earlier builds that never got published (a killed run) are removed first."""
        live = path.resolve() if path.is_symlink() else None
        for old in path.parent.glob(f"{path.name}.*"):
            if old != live and old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
        return Path(tempfile.mkdtemp(prefix=f"{path.name}.", dir=path.parent))

    @staticmethod
    def publish(built: Path, path: Path) -> None:
        """Point `path` at the index in `built`, atomically. The index it replaces stays until
        the next rebuild (`beside` removes it): a reader that resolved the link just before the
        swap may still be opening its files."""
        link = path.with_name(f".{path.name}.link")
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(built.name)
        if path.exists() and not path.is_symlink():
            LexicalIndex.wipe(path)  # the layout before symlinks (or a stray file): once
        os.replace(link, path)

    def searcher(self) -> tantivy.Searcher:
        with reading(self.path):
            return _GuardedSearcher(self.index.searcher(), self.path)  # type: ignore[return-value]

    def num_docs(self) -> int:
        with reading(self.path):
            return self.index.searcher().num_docs

    def count_with(self, texts: Sequence[str]) -> int:
        """How many posts hold every one of `texts` (each as a phrase, in title or body)."""
        queries = [text_query(self.schema, t) for t in texts]
        if not queries or any(q is None for q in queries):
            return 0
        query = Query.boolean_query([(Occur.Must, q) for q in queries if q is not None])
        return self.searcher().search(query, 1).count

    def probe(self, texts: Iterable[str]) -> None:
        """Read every document's id and, for each of `texts` (titles, say), its phrase in the
        title and body fields: a cheap pass over the stored, term and position files that
        raises CorruptIndexError where a damaged file would make queries fail."""
        with reading(self.path):
            searcher = self.index.searcher()
            every = searcher.search(Query.all_query(), max(searcher.num_docs, 1))
            for _, address in every.hits:
                searcher.doc(address)
            for text in texts:
                for field in (TITLE, BODY):
                    query = phrase_query(self.schema, field, text)
                    if query is not None:
                        searcher.search(query, 10)
            # The formula field's terms (an index from before formula search has none).
            searcher.search(term_query(self.schema, FORMULA, "s:v=v"), 10)

    def update(self, posts: Iterable[Post], *, delete_ids: Iterable[int] = ()) -> int:
        """Replace these posts (delete by id, then add) in one commit; returns how many."""
        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        n = 0
        try:
            for post_id in delete_ids:
                writer.delete_documents_by_term(ID, post_id)
            for post, formula_text in _with_formula_fields(posts):
                writer.delete_documents_by_term(ID, post.id)
                writer.add_document(to_document(post, formula_text))
                n += 1
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        self.index.reload()
        return n

    def disk_size(self) -> int:
        return sum(f.stat().st_size for f in self.path.resolve().rglob("*") if f.is_file())
