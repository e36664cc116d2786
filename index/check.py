"""Verify a data directory: the store's integrity, and every derived index in step with it.

`check` only reads. What it finds is either derivable (the BM25 and vector indexes, the
manifest that describes them: `update(..., rebuild=True)` makes them again from the store and
its vector cache) or not (the store itself, the source of truth: restore it or import again).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import DataError
from index.lexical import LEXICAL_VERSION, LexicalIndex
from index.manifest import Manifest
from index.paths import DataDir
from index.store import Store
from index.vectors import VectorIndex, extra_path


@dataclass(frozen=True, slots=True)
class Finding:
    part: str  # "store", "manifest", "lexical", "vectors"
    problem: str
    derivable: bool  # rebuilt by `update(..., rebuild=True)`


@dataclass
class CheckReport:
    data_dir: str
    posts: int = 0
    vectors: bool = False  # whether the directory has (or should have) a vector index
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def repairable(self) -> bool:
        return bool(self.findings) and all(f.derivable for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_dir": self.data_dir,
            "posts": self.posts,
            "ok": self.ok,
            "findings": [
                {"part": f.part, "problem": f.problem, "derivable": f.derivable}
                for f in self.findings
            ],
        }


def check(data_dir: str | os.PathLike[str] | DataDir | None) -> CheckReport:
    data = data_dir if isinstance(data_dir, DataDir) else DataDir.resolve(data_dir)
    report = CheckReport(str(data.root))
    found = report.findings
    try:
        store = Store.open(data.store)
    except DataError as exc:
        found.append(Finding("store", str(exc), derivable=False))
        return report
    try:
        _check_store(store, found)
        if any(f.part == "store" for f in found):
            return report
        report.posts = store.count()
        try:
            manifest = Manifest.load(store)
        except DataError as exc:
            found.append(Finding("manifest", str(exc), derivable=True))
            manifest = Manifest.load(store, lenient=True)
        _check_lexical(data, store, manifest, found)
        report.vectors = manifest.model is not None
        if manifest.model is not None:
            _check_vectors(data.vectors, store, found, "vectors")
            for spec in manifest.extra_models:  # the ensemble's other models, same passages
                _check_vectors(extra_path(data.vectors, spec.slug), store, found, spec.slug)
    finally:
        store.close()
    return report


def _check_store(store: Store, found: list[Finding]) -> None:
    try:
        rows = [r[0] for r in store.conn.execute("PRAGMA integrity_check")]
        if rows != ["ok"]:
            lines = [ln for r in rows for ln in r.splitlines() if not ln.startswith("***")]
            found.append(Finding("store", f"SQLite integrity: {'; '.join(lines[:3])}", False))
            return
        found.extend(Finding("store", problem, False) for problem in store.damaged())
    except (DataError, sqlite3.DatabaseError) as exc:
        found.append(Finding("store", str(exc), derivable=False))


def _check_lexical(data: DataDir, store: Store, manifest: Manifest, found: list[Finding]) -> None:
    def problem(text: str) -> None:
        found.append(Finding("lexical", text, derivable=True))

    if manifest.tokenizer != LEXICAL_VERSION:
        problem(f"built by tokenizer {manifest.tokenizer!r}, this program has {LEXICAL_VERSION}")
    try:
        lexical = LexicalIndex.open(data.lexical)
        docs = lexical.num_docs()
        lexical.probe(store.titles(store.count()))
    except DataError as exc:
        problem(str(exc))
        return
    posts, synced = store.count(), store.synced_count("lexical_hash")
    if docs != synced:
        problem(f"holds {docs} documents, the store marks {synced} as indexed")
    elif synced != posts or store.stale("lexical_hash"):
        problem(f"{len(store.stale('lexical_hash'))} of {posts} posts are not indexed yet")


def _check_vectors(path: Path, store: Store, found: list[Finding], part: str) -> None:
    def problem(text: str) -> None:
        found.append(Finding(part, text, derivable=True))

    try:
        vectors = VectorIndex.open(path)
    except DataError as exc:
        problem(str(exc))
        return
    held = set(vectors.ids().tolist())
    expected = set(store.synced_chunk_ids())
    passages = set(store.chunk_table())
    if held != expected or expected != passages:
        problem(
            f"holds {len(held)} passage vectors; the store has {len(passages)} passages, "
            f"{len(expected)} of them marked as indexed"
        )
    stale = store.stale("vector_hash")
    if stale:
        problem(f"{len(stale)} of {store.count()} posts have no vectors yet")
