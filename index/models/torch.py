"""The torch runtime: sentence-transformers itself, for models whose graph does not export.

It imports torch, transformers and sentence-transformers (seconds); index/models/onnx.py says
why that is not the default. int8 here is torch's dynamic quantization of the linear layers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import DataError, ModelLoadError
from index.models.memory import release_freed_memory
from index.models.spec import ModelSpec, TextKind

BATCH_SIZE = 32  # texts per batch at most
BATCH_CHARS = 8000  # characters per embedding batch (see TorchEncoder.encode)


def quiet_transformers() -> None:
    """transformers draws a progress bar and logs while loading weights: not on our stderr."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()


class TorchEncoder:
    """A sentence-transformers folder loaded on the CPU, int8-quantized if the spec says so."""

    def __init__(self, folder: Path, spec: ModelSpec, *, threads: int | None = None) -> None:
        self.spec = spec
        quiet_transformers()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - dependencies are declared
            raise DataError(
                f"semantic search needs sentence-transformers and torch ({exc})"
            ) from None
        if threads:
            torch.set_num_threads(threads)
        path = str(folder)
        try:
            model: Any = SentenceTransformer(path, device="cpu")
        except Exception as exc:
            raise ModelLoadError(f"cannot load the embedding model from {path}: {exc}") from None
        if spec.quantize:
            import warnings

            from torch.ao.quantization import quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        model.eval()
        self.model = model

    @property
    def dim(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None)
        return int(getter() if getter else self.model.get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Unit vectors, rows in input order, embedded in batches.

        Batches are sorted by length, which keeps padding low, and batches of long passages
        are made smaller (about BATCH_CHARS characters a batch): attention memory grows with
        the square of the length, and a full batch of 512-token passages would take
        gigabytes.
        """
        prefix = self.spec.prefix(kind)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        i = 0
        while i < len(order):
            size = max(1, min(BATCH_SIZE, BATCH_CHARS // max(1, len(texts[order[i]]))))
            idx = order[i : i + size]
            vecs = self.model.encode(
                [prefix + texts[j] for j in idx],
                batch_size=size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            release_freed_memory()
            i += size
        return out


def load_encoder(
    spec: ModelSpec,
    folder: Path,
    *,
    threads: int | None = None,
    throughput: bool = False,
    say: Callable[[str], None] | None = None,
) -> TorchEncoder:
    """The runtime entry point (see ``index.models.spec.RUNTIME_MODULES``)."""
    return TorchEncoder(folder, spec, threads=threads)
