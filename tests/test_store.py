"""The store's read path: bodies kept between reads, and never stale."""

from corpus.post import Post
from index import store as store_module
from index.store import Store, _open_read_only


def _store(tmp_path, posts: int = 2) -> Store:
    store = Store.open(tmp_path / "store.sqlite", create=True)
    store.upsert([Post(i, f"标题{i}", f"第{i}篇的正文") for i in range(1, posts + 1)])
    return store


def test_bodies_are_read_once_and_come_back_as_the_same_string(tmp_path):
    store = _store(tmp_path)
    first = store.bodies([1, 99])
    assert first == {1: "第1篇的正文"}  # an id the store lacks is left out
    # The same object: its hash, which the snippet renderer's cache needs, is computed once.
    assert store.bodies([1])[1] is first[1]


def test_kept_bodies_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "BODY_CACHE", 2)
    store = _store(tmp_path, posts=3)
    one = store.bodies([1])[1]
    store.bodies([2, 3])  # the least recently read (1) goes
    assert store.bodies([1])[1] is not one
    assert store.bodies([1]) == {1: "第1篇的正文"}


def test_kept_bodies_are_bounded_in_characters_too(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "BODY_CACHE_CHARS", 12)  # two bodies of six
    store = _store(tmp_path, posts=3)
    one = store.bodies([1])[1]
    two = store.bodies([2])[2]
    store.bodies([3])
    assert store.bodies([2])[2] is two
    assert store.bodies([1])[1] is not one


def test_bodies_follow_writes_through_the_same_store(tmp_path):
    store = _store(tmp_path)
    assert store.bodies([1, 2]) == {1: "第1篇的正文", 2: "第2篇的正文"}
    store.upsert([Post(1, "标题1", "改过的正文")])
    assert store.bodies([1, 2]) == {1: "改过的正文", 2: "第2篇的正文"}


def test_bodies_follow_writes_by_another_connection(tmp_path):
    reader = _store(tmp_path)
    assert reader.bodies([2]) == {2: "第2篇的正文"}
    writer = Store.open(tmp_path / "store.sqlite")
    writer.upsert([Post(2, "标题2", "另一个连接写的")])
    writer.close()
    assert reader.bodies([2, 1]) == {2: "另一个连接写的", 1: "第1篇的正文"}


def test_bodies_of_a_read_only_store(tmp_path):
    path = tmp_path / "store.sqlite"
    _store(tmp_path).close()
    store = Store(_open_read_only(path), path)  # immutable: no locks, no -shm
    assert store.bodies([2]) == {2: "第2篇的正文"}
    assert store.bodies([2])[2] is store.bodies([2, 1])[2]
