"""`Embedder`'s query vectors kept for texts asked again (a test double stands in for a runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from index.models import Embedder, ModelSpec
from index.models.embedder import QUERY_CACHE


class Runtime:
    """A deterministic encoder that counts the texts it embeds."""

    dim = 4

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def encode(self, texts, kind):
        self.embedded.extend(texts)
        rows = [np.frombuffer(f"{kind[0]}{t}".encode().ljust(16)[:16], np.uint8) for t in texts]
        out = np.array([r.reshape(4, 4).sum(axis=1) for r in rows], np.float32) + 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def model() -> tuple[Embedder, Runtime]:
    e = Embedder(ModelSpec())
    runtime = Runtime()
    e._encoder = runtime  # loaded: no model files needed
    return e, runtime


def test_a_query_asked_again_is_not_embedded_again(model):
    e, runtime = model
    first = e.encode(["RoPE 外推"], "query")
    again = e.encode(["RoPE 外推"], "query")
    np.testing.assert_array_equal(first, again)
    assert runtime.embedded == ["RoPE 外推"]
    again[0, 0] = 99.0  # a caller's copy: the kept vector is not changed
    assert e.encode(["RoPE 外推"], "query")[0, 0] == first[0, 0]


def test_several_queries_embed_only_the_new_ones_in_order(model):
    e, runtime = model
    e.encode(["b"], "query")
    out = e.encode(["a", "b", "c", "a"], "query")
    assert runtime.embedded == ["b", "a", "c"]  # "a" twice in one call: once
    np.testing.assert_array_equal(out, runtime.encode(["a", "b", "c", "a"], "query"))


def test_passages_are_never_kept(model):
    e, runtime = model
    e.encode(["x"], "passage")
    e.encode(["x"], "passage")
    assert runtime.embedded == ["x", "x"]
    e.encode(["x"], "query")  # a query of the same text is its own vector
    assert runtime.embedded == ["x", "x", "x"]


def test_the_oldest_query_is_dropped_past_the_limit(model):
    e, runtime = model
    e.query_cache = 2
    for text in ("a", "b", "a", "c"):  # "a" used again: "b" is the oldest
        e.encode([text], "query")
    runtime.embedded.clear()
    e.encode(["a"], "query")
    e.encode(["c"], "query")
    e.encode(["b"], "query")
    assert runtime.embedded == ["b"]


def test_the_cache_can_be_turned_off(model):
    e, runtime = model
    assert e.query_cache == QUERY_CACHE
    off = Embedder(ModelSpec(), query_cache=0)
    off._encoder = runtime
    off.encode(["a"], "query")
    off.encode(["a"], "query")
    assert runtime.embedded == ["a", "a"]
