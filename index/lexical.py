"""The Tantivy BM25 index, derived from the store.

Text fields hold jieba tokens (pre-tokenized, with character offsets); the original text lives
in the store, so nothing is stored here but the post id. `tag_exact` and `category_exact` keep
whole, lowercased values for filters; `date` is a fast field for ranges and newest-first order.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterable
from pathlib import Path

import tantivy

from corpus.post import Post
from index.errors import CorruptIndexError, MissingIndexError
from index.tokenize import index_tokens, normalize

TEXT_FIELDS = ("title", "body", "tags", "category")


def _schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    b.add_integer_field("id", stored=True, indexed=True, fast=True)
    for name in TEXT_FIELDS:
        # Queries are built from jieba terms directly, so the analyzer is never run on them;
        # "whitespace" is a built-in that needs no registration when the index is reopened.
        b.add_text_field(name, stored=False, tokenizer_name="whitespace", index_option="position")
    b.add_text_field("tag_exact", stored=False, tokenizer_name="raw", index_option="basic")
    b.add_text_field("category_exact", stored=False, tokenizer_name="raw", index_option="basic")
    b.add_date_field("date", stored=False, indexed=True, fast=True)
    return b.build()


def _pretokenized(text: str) -> tantivy.PreTokenizedString:
    tokens = [tantivy.Token(t.text, t.position, t.start, t.end) for t in index_tokens(text)]
    return tantivy.PreTokenizedString(text, tokens)


def to_document(post: Post) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_integer("id", post.id)
    doc.add_pre_tokenized_text("title", _pretokenized(post.title))
    doc.add_pre_tokenized_text("body", _pretokenized(post.body))
    doc.add_pre_tokenized_text("tags", _pretokenized(" ".join(post.tags)))
    doc.add_pre_tokenized_text("category", _pretokenized(post.category))
    for tag in post.tags:
        doc.add_text("tag_exact", normalize(tag))
    if post.category:
        doc.add_text("category_exact", normalize(post.category))
    if post.date:
        doc.add_date("date", dt.datetime(post.date.year, post.date.month, post.date.day))
    return doc


class LexicalIndex:
    def __init__(self, index: tantivy.Index, path: Path) -> None:
        self.index = index
        self.path = path
        self.schema = index.schema

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> LexicalIndex:
        try:
            if LexicalIndex.exists(path):
                index = tantivy.Index.open(str(path))
            elif create:
                path.mkdir(parents=True, exist_ok=True)
                index = tantivy.Index(_schema(), path=str(path))
            else:
                raise MissingIndexError(
                    f"no lexical index at {path} (build one with: search index SOURCE)"
                )
        except (ValueError, OSError) as exc:
            raise CorruptIndexError(
                f"the lexical index at {path} is unreadable ({exc}); rebuild it with: "
                "search index --rebuild"
            ) from None
        return cls(index, path)

    @staticmethod
    def exists(path: Path) -> bool:
        return path.is_dir() and tantivy.Index.exists(str(path))

    @staticmethod
    def wipe(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)

    def searcher(self) -> tantivy.Searcher:
        return self.index.searcher()

    def num_docs(self) -> int:
        return self.index.searcher().num_docs

    def update(self, posts: Iterable[Post], *, delete_ids: Iterable[int] = ()) -> int:
        """Replace these posts (delete by id, then add) in one commit; returns how many."""
        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        n = 0
        try:
            for post_id in delete_ids:
                writer.delete_documents_by_term("id", post_id)
            for post in posts:
                writer.delete_documents_by_term("id", post.id)
                writer.add_document(to_document(post))
                n += 1
            writer.commit()
            writer.wait_merging_threads()
        except BaseException:
            writer.rollback()
            raise
        self.index.reload()
        return n

    def disk_size(self) -> int:
        return sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
