"""The ensemble's models as equal sides of the index layer (index/indexer.py `ModelPlan`): one
plan, embed and commit path for every model, the primary first. Fake models (a hash of the
text as its vector) keep these unit tests free of model time; tests/test_ensemble.py runs the
real ones."""

import hashlib
import json
from contextlib import closing

import numpy as np
import pytest

from index.check import check
from index.errors import ModelMismatchError
from index.indexer import update
from index.manifest import Manifest
from index.models import Embedder, ModelSpec
from index.paths import DataDir
from index.reader import IndexReader
from index.store import Store
from index.vectors import VectorIndex, model_path
from tests.conftest import FIXTURE_POSTS, fixture_posts_with_one_changed

A, B, C, D = (ModelSpec(model_id=f"fake/model-{n}", quantize=False) for n in "abcd")


class HashEncoder:
    def __init__(self, dim: int) -> None:
        self.dim = dim

    def encode(self, texts, kind):
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.vstack(rows)


class Fake(Embedder):
    """An embedder that counts the passages it was asked to embed."""

    def __init__(self, spec: ModelSpec, dim: int) -> None:
        super().__init__(spec)
        self._dim = dim
        self.embedded = 0

    def load(self, say=None) -> None:
        self._encoder = HashEncoder(self._dim)

    def encode(self, texts, kind):
        self.embedded += len(texts)
        return super().encode(texts, kind)


@pytest.fixture
def fakes():
    return {spec.key: Fake(spec, dim) for spec, dim in ((A, 8), (B, 12), (C, 16), (D, 4))}


def embedded(fakes) -> dict[str, int]:
    return {spec.model_id[-1]: fakes[spec.key].embedded for spec in (A, B, C, D)}


def ids_of(data: DataDir, spec: ModelSpec, primary: bool) -> set[int]:
    index = VectorIndex.open(model_path(data.vectors, spec.slug, primary=primary))
    return set(index.ids().tolist())


def test_three_models_go_through_one_path_and_hold_the_same_passages(tmp_path, fakes):
    data = DataDir(tmp_path)
    report = update(data, [FIXTURE_POSTS], models=(A, B, C), embedders=fakes)
    with Store.open(data.store) as store:
        passages = set(store.chunk_table())
        manifest = Manifest.load(store)
    assert manifest.models == (A, B, C) and manifest.model == A and manifest.dim == 8
    assert report.vectors_updated == 18
    assert report.passages_added == {
        A.key: len(passages),
        B.key: len(passages),
        C.key: len(passages),
    }
    assert report.to_dict()["extra_vectors_updated"] == 2 * len(passages)
    assert embedded(fakes) == {"a": len(passages), "b": len(passages), "c": len(passages), "d": 0}
    assert ids_of(data, A, True) == ids_of(data, B, False) == ids_of(data, C, False) == passages
    with closing(IndexReader.open(data.root)) as reader:
        assert reader.models == (A, B, C)
        assert [reader.vector_index(m).dim for m in reader.models] == [8, 12, 16]
    assert check(data).ok

    # One changed post: every model embeds that post's passages, and only those
    changed = fixture_posts_with_one_changed(1016, "\n\n补充：月掩星也值得一看。")
    before = embedded(fakes)
    report = update(data, changed, embedders=fakes)  # models: the index's own
    grew = {k: v - before[k] for k, v in embedded(fakes).items()}
    assert (
        report.vectors_updated == 1 and 0 < grew["a"] <= 2 and grew["a"] == grew["b"] == grew["c"]
    )
    with Store.open(data.store) as store:
        passages = set(store.chunk_table())
    assert ids_of(data, A, True) == ids_of(data, B, False) == ids_of(data, C, False) == passages

    # Nothing changed: no work for any model
    before = embedded(fakes)
    report = update(data, [], embedders=fakes)
    assert embedded(fakes) == before and not report.did_work
    assert report.passages_added == {A.key: 0, B.key: 0, C.key: 0}


def test_dropping_a_model_removes_its_index_and_adding_one_embeds_only_it(tmp_path, fakes):
    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], models=(A, B, C), embedders=fakes)
    folder = model_path(data.vectors, B.slug, primary=False)
    assert VectorIndex.exists(folder)
    before = embedded(fakes)
    update(data, [], models=(A, C), embedders=fakes)
    assert not folder.exists() and embedded(fakes) == before
    with Store.open(data.store) as store:
        assert Manifest.load(store).models == (A, C)
    with closing(IndexReader.open(data.root)) as reader:
        assert reader.models == (A, C)

    report = update(data, [], models=(A, C, D), embedders=fakes)
    with Store.open(data.store) as store:
        passages = len(store.chunk_table())
    grew = {k: v - before[k] for k, v in embedded(fakes).items()}
    assert grew == {"a": 0, "b": 0, "c": 0, "d": passages}
    assert report.passages_added == {A.key: 0, C.key: 0, D.key: passages}
    assert report.vectors_updated == 0
    assert check(data).ok


def test_another_primary_needs_a_rebuild_and_then_swaps_places(tmp_path, fakes):
    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], models=(A, B), embedders=fakes)
    with pytest.raises(ModelMismatchError, match=f"not {B.key}"):
        update(data, [], models=(B, A), embedders=fakes)
    with Store.open(data.store) as store:
        assert Manifest.load(store).models == (A, B)  # refused before anything changed
    before = embedded(fakes)
    update(data, [], models=(B, A), embedders=fakes, rebuild=True)
    assert embedded(fakes) == before  # both from the store's vector cache
    with Store.open(data.store) as store:
        assert Manifest.load(store).models == (B, A) and Manifest.load(store).dim == 12
    assert VectorIndex.open(data.vectors).dim == 12  # B now the primary, in the folder itself
    assert not model_path(data.vectors, B.slug, primary=False).exists()
    assert VectorIndex.open(model_path(data.vectors, A.slug, primary=False)).dim == 8
    assert check(data).ok


def test_the_manifest_keeps_the_keys_older_code_reads_and_writes(tmp_path, fakes):
    """The ensemble is stored as before it was one tuple: the primary under `vectors.model`,
    the others as a list under `vectors.extra_models` (absent for one model). A data directory
    written that way (by main before this change) opens as the same ensemble."""
    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], models=(A, B, C), embedders=fakes)
    with Store.open(data.store) as store:
        meta = store.meta()
        assert json.loads(meta["vectors.model"]) == A.to_manifest()
        assert json.loads(meta["vectors.extra_models"]) == [B.to_manifest(), C.to_manifest()]
        # as main wrote it: the same two keys, by hand
        store.set_meta(
            {
                "vectors.model": json.dumps(A.to_manifest()),
                "vectors.extra_models": json.dumps([C.to_manifest()]),
            }
        )
        assert Manifest.load(store).models == (A, C)
        # other models without a primary were never trusted, and still are not
        store.set_meta({"vectors.model": None})
        assert Manifest.load(store).models == () and Manifest.load(store).model is None
        store.set_meta({"vectors.model": json.dumps(A.to_manifest())})
    with closing(IndexReader.open(data.root)) as reader:
        assert reader.models == (A, C)  # B's folder is there, but unlisted: not read
    before = embedded(fakes)
    update(data, [], embedders=fakes)  # keeps what the manifest lists; B's folder is stray
    assert embedded(fakes) == before
    update(data, [], models=(A,), embedders=fakes)
    with Store.open(data.store) as store:
        assert "vectors.extra_models" not in store.meta()
        assert Manifest.load(store).models == (A,)
    assert not model_path(data.vectors, C.slug, primary=False).exists()
