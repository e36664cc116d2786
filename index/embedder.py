"""The embedding model: which one, where it lives, and turning texts into unit vectors.

The runtime is imported only when a model is actually loaded, so lexical paths stay fast; the
default ONNX runtime never imports torch at all (index/onnxmodel.py says why). Prefixes are
applied here (not through model prompts) so that any model, e5 or not, works the same way once
its prefixes are recorded in the manifest.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from index.errors import DataError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
MODELS_ENV = "KEXUE_SEARCH_MODELS"
Kind = Literal["query", "passage"]
Backend = Literal["onnx", "torch"]
BATCH_CHARS = 8000  # characters per embedding batch (see Embedder.encode)
TRIM_ABOVE_BYTES = 2_000_000_000  # resident size past which freed heap is trimmed


def models_dir() -> Path:
    """Where converted or downloaded models live (shared by every data directory)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kexue-search", appauthor=False)) / "models"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model and how to call it. `key` names its vectors in the cache and the manifest."""

    model_id: str = DEFAULT_MODEL
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "
    # int8 dynamic quantization of the linear layers: ~2.5x faster on CPU (measured in bench/).
    quantize: bool = True
    # onnx: ONNX Runtime on an exported graph (fast to load, no torch; see index/onnxmodel.py).
    # torch: sentence-transformers itself, for models whose graph does not export.
    backend: Backend = "onnx"

    @property
    def key(self) -> str:
        """Names the vectors: fp32 vectors are the same whichever runtime made them."""
        precision = f"{self.backend}-int8" if self.quantize else "fp32"
        return f"{self.model_id}|{precision}"

    def to_manifest(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "query_prefix": self.query_prefix,
            "passage_prefix": self.passage_prefix,
            "quantize": self.quantize,
            "backend": self.backend,
        }

    @classmethod
    def from_manifest(cls, d: dict[str, Any]) -> ModelSpec:
        backend = d.get("backend", "torch")  # manifests before the ONNX runtime
        if backend not in ("onnx", "torch"):
            raise DataError(f"unknown embedding backend {backend!r} in the index manifest")
        return cls(
            d["model_id"], d["query_prefix"], d["passage_prefix"], bool(d["quantize"]), backend
        )

    def prefix(self, kind: Kind) -> str:
        return self.query_prefix if kind == "query" else self.passage_prefix


def resolve_model(
    model_id: str, *, install: bool = True, say: Callable[[str], None] | None = None
) -> str:
    """A local folder for `model_id`: an existing path, or the installed (converted) copy."""
    path = Path(model_id).expanduser()
    if path.is_dir():
        return str(path)
    from index.e5convert import install_model, is_model_folder, model_dir_name

    target = models_dir() / model_dir_name(model_id)
    if is_model_folder(target):
        return str(target)
    if not install:
        raise DataError(f"model {model_id} is not installed (run: search model install)")
    return str(install_model(models_dir(), model_id, progress=say))


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _release_freed_memory() -> None:
    """Hand freed heap back to the OS once the process has grown past TRIM_ABOVE_BYTES.

    Batches of every shape leave glibc's heap fragmented: embedding the shared corpus grew the
    process from 0.9 to 3.1 GB. Trimming after every batch kept it at 1.5 GB but cost 15-25% of
    the speed (the pages given back must be faulted in again), so it happens only when the
    process is past the budget. A fixed mmap threshold also stopped the growth but made
    embedding 50% slower; capping malloc arenas did not help.
    """
    trim = _malloc_trim()
    resident = _resident_bytes()
    if trim is not None and (resident is None or resident > TRIM_ABOVE_BYTES):
        trim(0)


def quiet_transformers() -> None:
    """transformers draws a progress bar and logs while loading weights: not on our stderr."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import transformers

    transformers.logging.disable_progress_bar()
    transformers.logging.set_verbosity_error()


class Embedder:
    """Loads the model on first use; thread-safe; returns L2-normalized float32 rows."""

    def __init__(
        self, spec: ModelSpec, *, threads: int | None = None, throughput: bool = False
    ) -> None:
        """`throughput`: tuned for bulk embedding (indexing) rather than query latency."""
        self.spec = spec
        self.threads = threads
        self.throughput = throughput
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self, say: Callable[[str], None] | None = None) -> None:
        with self._lock:
            if self._model is None:
                self._model = self._load(say)

    def _load(self, say: Callable[[str], None] | None) -> Any:
        path = resolve_model(self.spec.model_id, say=say)
        if self.spec.backend == "onnx":
            from index.onnxmodel import OnnxEncoder, export_onnx

            export_onnx(Path(path), quantized=self.spec.quantize, say=say)
            return OnnxEncoder(
                Path(path), quantized=self.spec.quantize, threads=self.threads, spin=self.throughput
            )
        quiet_transformers()
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - dependencies are declared
            raise DataError(
                f"semantic search needs sentence-transformers and torch ({exc})"
            ) from None
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            model = SentenceTransformer(path, device="cpu")
        except Exception as exc:
            raise DataError(f"cannot load the embedding model from {path}: {exc}") from None
        if self.spec.quantize:
            import warnings

            from torch.ao.quantization import quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        model.eval()
        return model

    @property
    def dim(self) -> int:
        self.load()
        model = self._model
        if self.spec.backend == "onnx":
            return int(model.dim)
        getter = getattr(model, "get_embedding_dimension", None)
        return int(getter() if getter else model.get_sentence_embedding_dimension())

    def encode(
        self,
        texts: Sequence[str],
        kind: Kind,
        *,
        batch_size: int = 32,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Unit vectors, rows in input order (ONNX: one text per call; torch: batches).

        torch batches are sorted by length, which keeps padding low, and batches of long
        passages are made smaller (about BATCH_CHARS characters a batch): attention memory
        grows with the square of the length, and a full batch of 512-token passages would take
        gigabytes.
        """
        import numpy as np

        self.load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prefix = self.spec.prefix(kind)
        if self.spec.backend == "onnx":  # one text per call: see index/onnxmodel.py
            out = np.zeros((len(texts), self.dim), dtype=np.float32)
            for i, text in enumerate(texts):
                out[i] = self._model.encode(prefix + text)
                if progress:
                    progress(i + 1, len(texts))
            return out
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        i = 0
        while i < len(order):
            size = max(1, min(batch_size, BATCH_CHARS // max(1, len(texts[order[i]]))))
            idx = order[i : i + size]
            vecs = self._model.encode(
                [prefix + texts[j] for j in idx],
                batch_size=size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            _release_freed_memory()
            i += size
            if progress:
                progress(i, len(order))
        return out
