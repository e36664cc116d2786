"""The manifest: what the derived indexes of a data directory were built with.

It lives in the store's `meta` table, next to the posts it describes, so that it is committed
in the same transactions as the bookkeeping it explains. Only this module knows its keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
_OTHERS = "vectors.extra_models"  # the models after the primary (key kept: older code reads it)
_GLOSSARY = "glossary.miner"


def _kind(value: str) -> VectorIndexKind:
    if value not in ("flat", "hnsw"):
        raise ValueError(f"unknown vector index kind {value!r}")
    return value  # type: ignore[return-value]


def _model(value: str) -> ModelSpec:
    return ModelSpec.from_manifest(json.loads(value))


def _models(value: str) -> tuple[ModelSpec, ...]:
    return tuple(ModelSpec.from_manifest(d) for d in json.loads(value))


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"{number} is not positive")
    return number


# (field, key in the store's meta table, how to read its text)
_ENTRIES: tuple[tuple[str, str, Callable[[str], object]], ...] = (
    ("schema_version", "schema_version", int),
    ("tokenizer", _TOKENIZER, str),
    ("model", _MODEL, _model),
    ("dim", _DIM, _positive),
    ("chunker", _CHUNKER, str),
    ("vector_kind", _KIND, _kind),
    ("others", _OTHERS, _models),
    ("glossary_miner", _GLOSSARY, _positive),
)


@dataclass(frozen=True, slots=True)
class Manifest:
    """`tokenizer`: the token stream the BM25 index holds (index.lexical.LEXICAL_VERSION:
    jieba's and the formulas');
    `models`: the ensemble whose vectors were built, the primary first (empty until vectors
    were first built; each model's index holds the same passage ids, `index.vectors.model_path`);
    `dim`, `chunker`, `vector_kind`: the primary's dimension, how the passages were cut, how the
    primary's vectors are indexed;
    `glossary_miner`: the rules the glossary was mined by (index.glossary.MINER_VERSION).

    On disk the primary and the others keep the keys they had before the ensemble was one
    tuple, so a data directory reads the same with older and newer code."""

    schema_version: int = 0
    tokenizer: str | None = None
    models: tuple[ModelSpec, ...] = ()
    dim: int | None = None
    chunker: str | None = None
    vector_kind: VectorIndexKind = "flat"
    glossary_miner: int | None = None

    @property
    def model(self) -> ModelSpec | None:
        """The primary model (the one that cuts the passages), None before vectors were built."""
        return self.models[0] if self.models else None

    @classmethod
    def load(cls, store: Store, *, lenient: bool = False) -> Manifest:
        """Read the manifest. A garbled entry is a CorruptIndexError naming the store, or with
        `lenient` (the writer, which rebuilds what it describes) as if it were missing."""
        meta = store.meta()
        found: dict[str, object] = {}
        for name, key, read in _ENTRIES:
            value = meta.get(key)
            if value is None or value == "":
                continue
            try:
                found[name] = read(value)
            except (ValueError, KeyError, TypeError, AttributeError, DataError) as exc:
                if not lenient:
                    raise CorruptIndexError(
                        f"the manifest in {store.path} is unreadable ({key}: {exc})"
                    ) from None
        primary, others = found.pop("model", None), found.pop("others", ())
        # Other models without a primary are not an ensemble a reader could trust (as before).
        found["models"] = (primary, *others) if primary is not None else ()
        return cls(**found)  # type: ignore[arg-type]

    def save(self, store: Store) -> None:
        """Write every entry in one transaction (an entry that is None is removed)."""
        store.set_meta(
            {
                _TOKENIZER: self.tokenizer,
                _MODEL: json.dumps(self.model.to_manifest()) if self.model else None,
                _DIM: str(self.dim) if self.dim is not None else None,
                _CHUNKER: self.chunker,
                _KIND: self.vector_kind,
                _OTHERS: (
                    json.dumps([m.to_manifest() for m in self.models[1:]])
                    if self.models[1:]
                    else None
                ),
                _GLOSSARY: str(self.glossary_miner) if self.glossary_miner else None,
            }
        )

    def with_lexical(self, tokenizer: str) -> Manifest:
        return replace(self, tokenizer=tokenizer)

    def with_primary(
        self, model: ModelSpec, dim: int, chunker: str, kind: VectorIndexKind
    ) -> Manifest:
        """The primary's vectors built; the other models stay listed after it."""
        others = tuple(m for m in self.models[1:] if m != model)
        return replace(self, models=(model, *others), dim=dim, chunker=chunker, vector_kind=kind)

    def with_models(self, models: tuple[ModelSpec, ...]) -> Manifest:
        return replace(self, models=models)

    def with_glossary(self, miner: int) -> Manifest:
        return replace(self, glossary_miner=miner)
