"""What every runtime provides (`Encoder`), and `make_encoder`, which picks and opens one.

A runtime is a module named in ``spec.RUNTIME_MODULES`` with a ``load_encoder`` function; it is
imported only here, by name, so a runtime's dependencies load only when it is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.errors import DataError
from index.models.install import resolve_model
from index.models.spec import RUNTIME_MODULES, ModelSpec, TextKind

if TYPE_CHECKING:
    import numpy as np


class Encoder(Protocol):
    """Texts -> L2-normalized float32 rows, in input order; the encoder applies the spec's
    prefixes, so callers pass the bare texts."""

    spec: ModelSpec

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray: ...


def make_encoder(
    spec: ModelSpec,
    *,
    threads: int | None = None,
    throughput: bool = False,
    say: Callable[[str], None] | None = None,
) -> Encoder:
    """Open the model for `spec` with its runtime, installing the model folder if needed.

    `throughput`: tuned for bulk embedding (indexing) rather than query latency.
    """
    module_name = RUNTIME_MODULES.get(spec.backend)
    if module_name is None:
        raise DataError(f"unknown embedding backend {spec.backend!r}")
    runtime = importlib.import_module(module_name)
    # A runtime whose weights ship in its package (BUNDLED) needs no model folder.
    folder = (
        None if getattr(runtime, "BUNDLED", False) else Path(resolve_model(spec.model_id, say=say))
    )
    return runtime.load_encoder(spec, folder, threads=threads, throughput=throughput, say=say)
