"""A query-vector cache on disk for the tuning scripts: each model embeds a query once across
runs (a hybrid pass over ~1,000 queries spends most of its first run embedding them).

bench/out/ is ignored by git; the cache holds query text, never committed. Keyed by model and
query text, so a changed model name or query embeds anew.
"""

from __future__ import annotations

import atexit
from pathlib import Path

import numpy as np
from _common import REPO

CACHE = REPO / "bench" / "out" / "query-vectors.npz"


def persist_query_vectors(searcher, path: Path = CACHE) -> None:
    """Fill each model's query cache from `path` and write it back (atomically) at exit."""
    stored: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            stored = {k: npz[k] for k in npz.files}
    embedders = {side.name: side.embedder for side in searcher.sides}
    for name, embedder in embedders.items():
        embedder.query_cache = 1 << 20
        texts, vectors = stored.get(f"{name}/texts"), stored.get(f"{name}/vectors")
        if texts is not None and vectors is not None:
            for text, vector in zip(texts.tolist(), vectors, strict=True):
                embedder._queries[text] = vector

    def save() -> None:
        out: dict[str, np.ndarray] = {}
        for name, embedder in embedders.items():
            if embedder._queries:
                out[f"{name}/texts"] = np.array(list(embedder._queries), dtype=str)
                out[f"{name}/vectors"] = np.stack(list(embedder._queries.values()))
        if out:
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **out)
            tmp.replace(path)

    atexit.register(save)
