"""A quick-to-open tokenizer for e5's queries: the same ids as `tokenizers`, without its load.

`Tokenizer.from_file` on e5's tokenizer.json (a 250,002-piece Unigram model) took 0.64 s and
300 MB of peak memory here, most of a cold hybrid query's start: the Rust Unigram builds a trie
with a hash map per node. A query is a few words, so this module keeps the vocabulary as a
sorted array of UTF-8 pieces prepared once beside the graph and memory-mapped (opens in ~2 ms;
a marshal dict was measured at 0.24 s), looks every substring of a word up with one
`searchsorted`, and runs the same Viterbi search as `tokenizers`' `Unigram::encode_optimized`
in Python. Normalization and pre-tokenization stay in `tokenizers` itself (a tokenizer.json
with an empty vocabulary opens in a millisecond). Hand-rolled because no package offers the
Unigram search over such an array; tests/test_cold.py checks the ids equal `tokenizers`' on
every passage of the shared corpus and on odd inputs. Long texts (passages when indexing) and
any text holding an added token (`<s>`...) go to `tokenizers` itself.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from index.models.publish import publish_arrays

#: Texts longer than this go to `tokenizers` (Python's Viterbi takes ~2 ms per 300 characters:
#: fine for a query, not for indexing thousands of passages). Queries are ≤ 1,000 characters.
SHORT = 1024
FORMAT = 1
# Words whose ids are kept: queries share most words (e5's `query:` prefix, every word but the
# last while typing); 4,096 short lists are under 1 MB. The ids of a word do not depend on its
# neighbours (tokenizers runs the Unigram model per pre-tokenized word), so kept is exact.
WORDS_KEPT = 4096
K_UNK_PENALTY = 10.0  # tokenizers' Unigram: an unknown character scores min_score - 10


def _supported(spec: dict[str, Any]) -> bool:
    model = spec.get("model") or {}
    post = spec.get("post_processor") or {}
    pieces = [p for p, _ in model.get("vocab", [])]
    return (
        model.get("type") == "Unigram"
        and not model.get("byte_fallback")
        and isinstance(model.get("unk_id"), int)
        and post.get("type") == "TemplateProcessing"
        and [next(iter(p)) for p in post.get("single", [])]
        == ["SpecialToken", "Sequence", "SpecialToken"]
        and len(set(pieces)) == len(pieces)
        and not any("\x00" in p for p in pieces)  # numpy's bytes arrays strip trailing NULs
    )


def cache_folder(tokenizer_json: Path, root: Path) -> Path:
    """Where the prepared arrays of this very tokenizer.json live under `root`."""
    st = os.stat(tokenizer_json)
    return root / f"unigram-{FORMAT}-{st.st_size}-{st.st_mtime_ns}"


def prepare(tokenizer_json: Path, root: Path) -> Path | None:
    """Write the arrays for `tokenizer_json` under `root` (a folder renamed into place
    whole); its path, or None when its model is not one this module reproduces."""
    target = cache_folder(tokenizer_json, root)
    if (target / "meta.json").is_file():
        return target
    spec = json.loads(Path(tokenizer_json).read_text("utf-8"))
    if not _supported(spec):
        return None
    model = spec["model"]
    pieces = [p.encode("utf-8") for p, _ in model["vocab"]]
    order = sorted(range(len(pieces)), key=pieces.__getitem__)
    post = spec["post_processor"]
    single = post["single"]
    specials = post["special_tokens"]
    meta = {
        "unk_id": int(model["unk_id"]),
        "bos": int(specials[single[0]["SpecialToken"]["id"]]["ids"][0]),
        "eos": int(specials[single[2]["SpecialToken"]["id"]]["ids"][0]),
        "longest": max(len(p) for p, _ in model["vocab"]),
        "added": [t["content"] for t in spec.get("added_tokens", [])],
        "skeleton": json.dumps(dict(spec, model=dict(model, vocab=[["<unk>", 0.0]], unk_id=0))),
    }
    arrays = {
        "keys": np.array([pieces[i] for i in order], dtype=bytes),
        "ids": np.array(order, dtype=np.int32),
        "scores": np.array([s for _, s in model["vocab"]], dtype=np.float64),
    }
    publish_arrays(target, arrays, "meta.json", json.dumps(meta).encode("utf-8"))
    return target


class QueryTokenizer:
    """`tokenizers`' ids for short texts from the prepared arrays; `ids` returns None for a
    text it leaves to `tokenizers` (long, or holding an added token)."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from tokenizers import Tokenizer

        meta = json.loads((folder / "meta.json").read_text("utf-8"))
        skeleton = Tokenizer.from_str(meta["skeleton"])
        self._normalize = skeleton.normalizer.normalize_str if skeleton.normalizer else None
        self._pre = skeleton.pre_tokenizer.pre_tokenize_str if skeleton.pre_tokenizer else None
        # Plain views of the maps: numpy.memmap's own __getitem__ is Python, 1 µs an index.
        self._keys = np.asarray(np.load(folder / "keys.npy", mmap_mode="r"))
        self._ids = np.asarray(np.load(folder / "ids.npy", mmap_mode="r"))
        self._scores = np.asarray(np.load(folder / "scores.npy", mmap_mode="r"))
        self._unk = int(meta["unk_id"])
        self._unk_score = float(self._scores.min()) - K_UNK_PENALTY
        self._longest = int(meta["longest"])
        self._bos, self._eos = int(meta["bos"]), int(meta["eos"])
        self._added = tuple(meta["added"])
        self._max = max_length - 2  # the template adds <s> and </s>
        self._words: dict[str, list[int]] = {}  # a word's ids, by the word (pre-tokenized)
        self._words_lock = threading.Lock()

    @classmethod
    def open(cls, tokenizer_json: Path, root: Path, max_length: int) -> QueryTokenizer | None:
        """From the arrays prepared for this tokenizer.json under `root`, prepared now when
        missing; None for a model this cannot reproduce or a folder it cannot write."""
        try:
            folder = prepare(tokenizer_json, root)
            return None if folder is None else cls(folder, max_length)
        except (OSError, ValueError, KeyError, TypeError):  # read-only, damaged: tokenizers
            return None

    def ids(self, text: str) -> list[int] | None:
        if len(text) > SHORT or any(a in text for a in self._added):
            return None
        normalized = self._normalize(text) if self._normalize else text
        words = self._pre(normalized) if self._pre else [(normalized, None)]
        texts = [word for word, _offsets in words]
        with self._words_lock:
            here = {w: self._words[w] for w in texts if w in self._words}
        new = [w for w in dict.fromkeys(texts) if w not in here]
        if new:
            for word, found in zip(new, self._lookup(new), strict=True):
                here[word] = self._viterbi(word, found)
            with self._words_lock:
                self._words.update((w, here[w]) for w in new)
                while len(self._words) > WORDS_KEPT:  # oldest first
                    del self._words[next(iter(self._words))]
        out = [i for word in texts for i in here[word]]
        return [self._bos, *out[: self._max], self._eos]

    def _lookup(self, words: list[str]) -> list[dict[tuple[int, int], tuple[int, float]]]:
        """For each word, the id and score of every substring that is a piece, by (start, end):
        one `searchsorted` for the whole text (numpy's per-call cost is most of the time)."""
        spans = [
            (w, i, j)
            for w, word in enumerate(words)
            for i in range(len(word))
            for j in range(i + 1, min(len(word), i + self._longest) + 1)
            if "\x00" not in word[i:j]  # no piece holds one; numpy would strip it
        ]
        found: list[dict[tuple[int, int], tuple[int, float]]] = [{} for _ in words]
        if not spans:
            return found
        wanted = np.array([words[w][i:j].encode("utf-8") for w, i, j in spans], dtype=bytes)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        hits = np.flatnonzero(self._keys[at] == wanted)
        ids = self._ids[at[hits]]
        for k, pid, score in zip(
            hits.tolist(), ids.tolist(), self._scores[ids].tolist(), strict=True
        ):
            w, i, j = spans[k]
            found[w][i, j] = (pid, score)
        return found

    def _viterbi(self, word: str, found: dict[tuple[int, int], tuple[int, float]]) -> list[int]:
        """`Unigram::encode_optimized` over characters (pieces are whole characters, so
        character and byte positions give the same lattice, visited in the same order)."""
        n = len(word)
        if not n:
            return []
        best = [0.0] * (n + 1)
        start: list[int | None] = [None] * (n + 1)
        node = [0] * (n + 1)
        for i in range(n):
            here = best[i]
            single = False
            for j in range(i + 1, min(n, i + self._longest) + 1):
                piece = found.get((i, j))
                if piece is None:
                    continue
                pid, score = piece
                score += here
                if start[j] is None or score > best[j]:
                    best[j], start[j], node[j] = score, i, pid
                if j == i + 1:
                    single = True
            if not single:
                score = self._unk_score + here
                if start[i + 1] is None or score > best[i + 1]:
                    best[i + 1], start[i + 1], node[i + 1] = score, i, self._unk
        ids: list[int] = []
        unknown_from: int | None = None  # a run of unknowns fuses into one token
        end = n
        while end > 0:
            begin = start[end]
            assert begin is not None
            if node[end] == self._unk:
                unknown_from = unknown_from if unknown_from is not None else end
            else:
                if unknown_from is not None:
                    ids.append(self._piece(word[end:unknown_from]))
                    unknown_from = None
                ids.append(node[end])
            end = begin
        if unknown_from is not None:
            ids.append(self._piece(word[:unknown_from]))
        ids.reverse()
        return ids

    def _piece(self, text: str) -> int:
        """A fused run's id: the piece it spells, as `tokenizers` looks it up, else <unk>."""
        found = self._lookup([text])[0]
        return found.get((0, len(text)), (self._unk, 0.0))[0]
