"""Incremental indexing, the writer lock, crash safety and the store (real SQLite and Tantivy)."""

import json
import shutil
import sqlite3

import pytest

from corpus.post import Post, Problem
from corpus.readers import read_source
from index.errors import (
    CorruptIndexError,
    DataError,
    StaleIndexError,
    WriterBusyError,
)
from index.indexer import Indexer, update
from index.lexical import LexicalIndex
from index.paths import DataDir
from index.store import Store
from search import Searcher
from tests.conftest import FIXTURE_POSTS


def posts():
    return [p for p in read_source(FIXTURE_POSTS) if isinstance(p, Post)]


def index(data, items, **kw):
    return update(data, items, vectors=False, **kw)


def test_reindexing_the_same_input_does_no_work(tmp_path):
    data = DataDir(tmp_path)
    first = index(data, posts())
    assert (first.new, first.changed, first.lexical_updated) == (18, 0, 18)
    again = index(data, posts())
    assert (again.new, again.changed, again.unchanged, again.lexical_updated) == (0, 0, 18, 0)
    assert not again.did_work


def test_only_changed_posts_are_reindexed(tmp_path):
    data = DataDir(tmp_path)
    index(data, posts())
    changed = [
        Post.from_dict({**p.to_dict(), "body": p.body + "\n\n新增一段关于量子退火的讨论。"})
        if p.id == 1016
        else p
        for p in posts()
    ]
    report = index(data, changed)
    assert (report.new, report.changed, report.unchanged, report.lexical_updated) == (0, 1, 17, 1)
    with Searcher.open(data.root) as s:
        assert [h.post_id for h in s.search("量子退火", mode="lexical")] == [1016]
        assert s.stats()["lexical_docs"] == 18  # replaced, not duplicated


def test_problems_are_collected_and_strict_stops(tmp_path):
    data = DataDir(tmp_path)
    bad = Problem("x.jsonl", "missing 'title'", 3)
    good = posts()
    report = index(data, [good[0], bad, good[1]])
    assert report.new == 2 and [str(p) for p in report.problems] == ["x.jsonl:3: missing 'title'"]
    with pytest.raises(DataError, match=r"x\.jsonl:3"):
        index(data, [good[2], bad, good[3]], strict=True)


def test_second_writer_fails_at_once(tmp_path):
    data = DataDir(tmp_path)
    with Indexer(data), pytest.raises(WriterBusyError, match="another process is writing"):
        Indexer(data).__enter__()
    with Indexer(data):  # released on exit
        pass


def test_crash_during_lexical_update_keeps_the_last_commit(tmp_path, monkeypatch):
    data = DataDir(tmp_path)
    everything = posts()
    index(data, everything[:10])

    def boom(self, items, **kw):
        for i, _ in enumerate(items):
            if i == 3:
                raise KeyboardInterrupt
        raise AssertionError("unreachable")

    monkeypatch.setattr(LexicalIndex, "update", boom)
    with pytest.raises(KeyboardInterrupt):
        index(data, everything)
    monkeypatch.undo()
    with Searcher.open(data.root) as s:  # the first ten are still searchable
        assert s.stats()["lexical_docs"] == 10
        assert s.store.count() == 18  # and the posts read are kept in the store
    report = index(data, [])  # the next run catches up from the store
    assert report.lexical_updated == 8
    with Searcher.open(data.root) as s:
        assert s.stats()["lexical_docs"] == 18


def test_lost_lexical_index_is_rebuilt_from_the_store(tmp_path):
    data = DataDir(tmp_path)
    index(data, posts())
    shutil.rmtree(data.lexical.resolve())  # the folder the index lives in
    with pytest.raises(StaleIndexError, match="missing"):
        Searcher.open(data.root)
    assert index(data, []).lexical_updated == 18
    with Searcher.open(data.root) as s:
        assert s.search("鸭子", mode="lexical")[0].post_id == 1013


def test_rebuild_flag_reindexes_everything(tmp_path):
    data = DataDir(tmp_path)
    index(data, posts())
    assert index(data, [], rebuild=True).lexical_updated == 18


def test_corrupt_store_is_a_clear_error(tmp_path):
    data = DataDir(tmp_path)
    data.root.mkdir(exist_ok=True)
    data.store.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptIndexError, match="unreadable"):
        Searcher.open(data.root)
    with pytest.raises(CorruptIndexError):
        index(data, posts())
    assert data.store.read_bytes().startswith(b"this is not a database")  # nothing overwritten


def test_store_round_trips_posts(tmp_path):
    data = DataDir(tmp_path)
    index(data, posts())
    store = Store.open(data.store)
    original = {p.id: p for p in posts()}
    for post in store.iter_posts():
        assert post == original[post.id]
    assert store.get(99999) is None
    meta = store.metadata()[1005]
    assert meta.tags == ("生成模型", "扩散", "DDPM") and meta.date.isoformat() == "2022-06-13"
    row = sqlite3.connect(data.store).execute("SELECT tags FROM posts WHERE id=1005").fetchone()
    assert json.loads(row[0]) == ["生成模型", "扩散", "DDPM"]
    store.close()
