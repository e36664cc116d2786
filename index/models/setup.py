"""`setup_model`: install a model and prepare everything a cold query would otherwise build.

Its own module because it reaches every runtime (onnx, use), each of which reads `install`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from index.errors import ModelLoadError
from index.models.install import install_model, models_dir
from index.models.spec import DEFAULT_MODEL, ModelSpec


def setup_model(
    model_id: str | None = None,
    *,
    try_hub: bool = True,
    say: Callable[[str], None] | None = None,
) -> Path:
    """Install a model into :func:`models_dir`, export it for the default runtime (ONNX, int8)
    and prepare what a cold query would otherwise build (the graph as ONNX Runtime optimises
    it, the query tokenizers, USE's weights as arrays), so that neither the first index run nor the
    first query has to. Returns its folder.
    """
    from index.models.onnx import prepare  # onnxruntime and, to export, torch

    path = install_model(models_dir(), model_id or DEFAULT_MODEL, try_hub=try_hub, progress=say)
    prepare(path, ModelSpec(model_id=model_id or DEFAULT_MODEL), say=say)
    with contextlib.suppress(ModelLoadError):  # USE's prepared weights, when it is installed
        from index.models.use import UseEncoder

        UseEncoder(ModelSpec.named("use"))
    return path
