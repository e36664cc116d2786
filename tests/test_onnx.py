"""The ONNX runtime against sentence-transformers itself, on the installed e5 model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from index.errors import DataError, ModelLoadError
from index.models import Embedder, ModelSpec, models_dir
from index.models.onnx import OnnxEncoder, onnx_file, pooling

# Written for these tests: Chinese, English, mixed, formulas, one long passage.
TEXTS = [
    "为什么注意力分数要除以维度的平方根？",
    "Why do we divide the attention logits by the square root of the dimension?",
    "旋转位置编码在长度外推时会遇到什么问题",
    "梯度下降的学习率应该怎样随着批量大小调整",
    "The softmax of a vector is invariant to adding a constant to every entry.",
    "变分自编码器的KL项可以看成是一种正则化。",
    "$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$ 这是一个简单的定积分。",
    "月掩星是月球从恒星前方经过时把它遮住的现象。",
    "BERT 的初始化标准差 0.02 从何而来？",
    "query expansion with a bilingual glossary",
    "层归一化（LayerNorm）和批归一化（BatchNorm）的区别在于归一化的维度不同。" * 12,
]


@pytest.fixture(scope="module")
def folder():
    from index.models import install_model

    return install_model(models_dir(), try_hub=False)


@pytest.fixture(scope="module")
def onnx_int8(folder):
    embedder = Embedder(ModelSpec())  # loading exports onnx/model_qint8.onnx if missing
    embedder.load()
    assert onnx_file(folder, quantized=True).is_file()
    return embedder


@pytest.fixture(scope="module")
def reference(folder):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return model.encode(["passage: " + t for t in TEXTS], normalize_embeddings=True)


@pytest.mark.model
def test_int8_onnx_matches_sentence_transformers_fp32(onnx_int8, reference):
    ours = onnx_int8.encode(TEXTS, "passage")
    assert ours.dtype == np.float32 and ours.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = (ours * reference).sum(axis=1)
    assert cos.min() >= 0.98 and cos.mean() >= 0.99, cos


@pytest.mark.model
def test_a_vector_depends_on_its_text_alone(onnx_int8):
    alone = onnx_int8.encode([TEXTS[0]], "query")[0]
    among = onnx_int8.encode([TEXTS[10], TEXTS[0], TEXTS[3]], "query")[1]
    assert np.array_equal(alone, among)
    assert not np.array_equal(alone, onnx_int8.encode([TEXTS[0]], "passage")[0])  # prefixes


@pytest.mark.model
def test_cross_lingual_neighbours(onnx_int8):
    q = onnx_int8.encode([TEXTS[1]], "query")[0]  # the English question
    others = [t for i, t in enumerate(TEXTS) if i != 1]
    p = onnx_int8.encode(others, "passage")
    assert int(np.argmax(p @ q)) == 0  # its Chinese translation comes first


@pytest.mark.model
def test_semantic_search_never_imports_torch(tmp_path, onnx_int8):
    from tests.conftest import build_index

    data = build_index(tmp_path / "d", vectors=True)
    code = textwrap.dedent(
        f"""
        import json, sys
        from search import Searcher
        with Searcher.open({str(data.root)!r}) as s:
            hits = s.search("why scale attention by sqrt(d)", mode="hybrid")
        heavy = [m for m in ("torch", "sentence_transformers", "transformers") if m in sys.modules]
        print(json.dumps({{"heavy": heavy, "top": hits[0].post_id}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out == {"heavy": [], "top": 1009}


@pytest.mark.model
def test_corrupt_onnx_file_is_a_clear_error(tmp_path, folder):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.safetensors", "onnx"))
    bad = onnx_file(copy, quantized=True)
    bad.parent.mkdir()
    bad.write_bytes(b"not an onnx graph")
    with pytest.raises(DataError, match="cannot load") as err:
        OnnxEncoder(copy)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ModelLoadError) and str(bad) in str(err.value)


def _write_folder(root, pooling_config: dict) -> None:
    (root / "1_Pooling").mkdir(parents=True)
    modules = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (root / "modules.json").write_text(json.dumps(modules))
    (root / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))


def test_pooling_modes(tmp_path):
    _write_folder(tmp_path / "a", {"word_embedding_dimension": 8, "pooling_mode_cls_token": True})
    assert pooling(tmp_path / "a") == ("cls", 8)
    _write_folder(
        tmp_path / "b",
        {
            "word_embedding_dimension": 4,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_cls_token": False,
        },
    )
    assert pooling(tmp_path / "b") == ("mean", 4)
    _write_folder(tmp_path / "c", {"word_embedding_dimension": 4, "pooling_mode_max_tokens": True})
    with pytest.raises(DataError, match="mean or cls pooling only"):
        pooling(tmp_path / "c")


def test_manifest_records_the_runtime():
    spec = ModelSpec(backend="torch", quantize=False)
    assert ModelSpec.from_manifest(spec.to_manifest()) == spec
    assert spec.key.endswith("|fp32") and ModelSpec().key.endswith("|onnx-int8")
    old = {k: v for k, v in ModelSpec().to_manifest().items() if k != "backend"}
    assert ModelSpec.from_manifest(old).backend == "torch"  # indexes built before ONNX
    with pytest.raises(DataError, match="backend"):
        ModelSpec.from_manifest({**old, "backend": "tpu"})


@pytest.mark.model
def test_torch_backend_indexes_and_searches(tmp_path, folder):
    from corpus.readers import read_source
    from index.indexer import Indexer
    from index.paths import DataDir
    from search import Searcher
    from tests.conftest import FIXTURE_POSTS

    data = DataDir(tmp_path / "d")
    spec = ModelSpec(backend="torch")
    with Indexer(data) as ix:
        ix.run(read_source(FIXTURE_POSTS), vectors=False)
        assert ix.sync_vectors(spec).posts == 18
    with Searcher.open(data.root) as s:
        assert s.spec == spec  # queries are embedded by the runtime that built the index
        hits = s.search("why divide the attention logits by sqrt(d)", mode="semantic")
        assert hits[0].post_id == 1009
