"""Shared fixtures: an index of the hand-written fixture corpus; the shared corpus if present."""

from __future__ import annotations

from pathlib import Path

import pytest

import index
from index.models import Embedder
from index.paths import DataDir

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_POSTS = FIXTURES / "posts.jsonl"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_CORPUS = SHARED / "corpus" / "kexue-posts.jsonl"
DEV_QUERIES = SHARED / "eval" / "dev-queries.jsonl"


def build_index(root: Path, source: Path = FIXTURE_POSTS, *, vectors: bool = False) -> DataDir:
    data = DataDir(root)
    index.update(data, [source], vectors=vectors)
    return data


def fixture_posts_with_one_changed(post_id: int, addition: str):
    """The fixture corpus as Posts, with `addition` appended to one post's body."""
    from corpus.post import Post
    from corpus.readers import read_source

    posts = [p for p in read_source(FIXTURE_POSTS) if isinstance(p, Post)]
    return [
        Post.from_dict({**p.to_dict(), "body": p.body + addition}) if p.id == post_id else p
        for p in posts
    ]


@pytest.fixture(scope="session")
def fixture_data(tmp_path_factory: pytest.TempPathFactory) -> DataDir:
    """A data directory indexed (lexically) from tests/fixtures/posts.jsonl. Read-only for tests."""
    return build_index(tmp_path_factory.mktemp("fixture-data"))


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    if not SHARED_CORPUS.exists():
        pytest.skip(f"shared corpus not found at {SHARED_CORPUS} (expected in ../shared)")
    return SHARED_CORPUS


class CountingEmbedder(Embedder):
    """The real embedder, counting the passages it is asked to embed."""

    embedded = 0

    def encode(self, texts, kind, **kw):
        self.embedded += len(texts)
        return super().encode(texts, kind, **kw)


@pytest.fixture(scope="session")
def embedder():
    """The converted e5 model, loaded once for every test that needs it."""
    from index.models import ModelSpec, install_model, models_dir

    install_model(models_dir(), try_hub=False)
    e = CountingEmbedder(ModelSpec())
    e.load()
    return e
