"""`Embedder`: the model as the rest of the program holds it, opened on first use."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from index.models.encoder import Encoder, make_encoder
from index.models.spec import ModelSpec, TextKind

if TYPE_CHECKING:
    import numpy as np

# Query vectors kept, newest last: search as you type, the TUI's history and a server's
# popular queries embed the same text again and again, at 5-15 ms of CPU each. A vector is a
# function of its text alone (each runtime embeds a query on its own: onnx.py, use.py), so a
# kept one is exactly the one that would be made. 1,024 of them, 384-512 float32s: under 2 MB.
QUERY_CACHE = 1024


class Embedder:
    """Loads the model on first use; thread-safe; returns L2-normalized float32 rows.

    Creating one is free, so a searcher can hold one before it knows whether a query will
    need it; it is itself an `Encoder`.
    """

    def __init__(
        self,
        spec: ModelSpec,
        *,
        threads: int | None = None,
        throughput: bool = False,
        query_cache: int | None = None,
    ) -> None:
        """`throughput`: tuned for bulk embedding (indexing) rather than query latency;
        `query_cache`: query vectors to keep (default QUERY_CACHE; 0: none, as a benchmark of
        the model's own speed needs)."""
        self.spec = spec
        self.query_cache = QUERY_CACHE if query_cache is None else query_cache
        self.threads = threads
        self.throughput = throughput
        self._encoder: Encoder | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._encoder is not None

    def load(self, say: Callable[[str], None] | None = None) -> None:
        with self._lock:
            if self._encoder is None:
                self._encoder = make_encoder(
                    self.spec, threads=self.threads, throughput=self.throughput, say=say
                )

    def _loaded(self) -> Encoder:
        self.load()
        assert self._encoder is not None
        return self._encoder

    @property
    def dim(self) -> int:
        return self._loaded().dim

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Unit vectors, rows in input order (the runtime decides how it batches)."""
        import numpy as np

        encoder = self._loaded()
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        if kind != "query" or not self.query_cache:
            return encoder.encode(texts, kind)
        out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._queries_lock:
            for i, text in enumerate(texts):
                kept = self._queries.get(text)
                if kept is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._queries.move_to_end(text)
                    out[i] = kept
        if missing:
            made = encoder.encode(list(missing), kind)
            with self._queries_lock:
                for (text, rows), vector in zip(missing.items(), made, strict=True):
                    out[rows] = vector
                    self._queries[text] = vector.copy()
                while len(self._queries) > self.query_cache:
                    self._queries.popitem(last=False)
        return out
