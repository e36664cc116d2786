"""The manifest: what the derived indexes of a data directory were built with.

It lives in the store's `meta` table, next to the posts it describes, so that it is committed
in the same transactions as the bookkeeping it explains. Only this module knows its keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from index.errors import CorruptIndexError, DataError
from index.models import ModelSpec
from index.vectors import VectorIndexKind

if TYPE_CHECKING:
    from index.store import Store

_TOKENIZER = "lexical.tokenizer"
_MODEL = "vectors.model"
_DIM = "vectors.dim"
_CHUNKER = "vectors.chunker"
_KIND = "vectors.kind"


@dataclass(frozen=True, slots=True)
class Manifest:
    """`tokenizer`: the token stream the BM25 index holds (index.tokenize.TOKENIZER_VERSION);
    `model`, `dim`, `chunker`, `vector_kind`: how the passage vectors were made and indexed
    (`model` is None until vectors were first built)."""

    schema_version: int
    tokenizer: str | None = None
    model: ModelSpec | None = None
    dim: int | None = None
    chunker: str | None = None
    vector_kind: VectorIndexKind = "flat"

    @classmethod
    def load(cls, store: Store) -> Manifest:
        """Read the manifest; a garbled entry is a CorruptIndexError naming the store."""
        meta = store.meta()
        try:
            model = meta.get(_MODEL)
            kind = meta.get(_KIND) or "flat"
            if kind not in ("flat", "hnsw"):
                raise ValueError(f"unknown vector index kind {kind!r}")
            return cls(
                schema_version=int(meta.get("schema_version", "0")),
                tokenizer=meta.get(_TOKENIZER),
                model=ModelSpec.from_manifest(json.loads(model)) if model else None,
                dim=int(meta[_DIM]) if meta.get(_DIM) else None,
                chunker=meta.get(_CHUNKER),
                vector_kind=kind,  # type: ignore[arg-type]
            )
        except (ValueError, KeyError, TypeError, AttributeError, DataError) as exc:
            raise CorruptIndexError(f"the manifest in {store.path} is unreadable ({exc})") from None

    def save(self, store: Store) -> None:
        """Write every entry in one transaction."""
        entries = {_TOKENIZER: self.tokenizer, _CHUNKER: self.chunker, _KIND: self.vector_kind}
        if self.model is not None:
            entries[_MODEL] = json.dumps(self.model.to_manifest())
        if self.dim is not None:
            entries[_DIM] = str(self.dim)
        store.set_meta({k: v for k, v in entries.items() if v is not None})

    def with_lexical(self, tokenizer: str) -> Manifest:
        return replace(self, tokenizer=tokenizer)

    def with_vectors(
        self, model: ModelSpec, dim: int, chunker: str, kind: VectorIndexKind
    ) -> Manifest:
        return replace(self, model=model, dim=dim, chunker=chunker, vector_kind=kind)
