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
from index.links import LINKS_VERSION
from index.manifest import Manifest
from index.paths import DataDir
from index.series import detect
from index.store import Store
from index.vectors import MATRIX, VectorIndex, model_path


@dataclass(frozen=True, slots=True)
class Finding:
    part: str  # "store", "manifest", "lexical", "vectors", "links"
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
        _check_links(store, found)
        report.vectors = bool(manifest.models)
        for i, spec in enumerate(manifest.models):  # every model holds the same passages
            path = model_path(data.vectors, spec.slug, primary=i == 0)
            _check_vectors(path, store, found, "vectors" if i == 0 else spec.slug, spec.key)
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


def _check_vectors(
    path: Path, store: Store, found: list[Finding], part: str, model_key: str
) -> None:
    def problem(text: str) -> None:
        found.append(Finding(part, text, derivable=True))

    try:
        vectors = VectorIndex.open(path)
    except DataError as exc:
        problem(str(exc))
        return
    if vectors.missing_matrix:
        problem(f"has no {MATRIX} (written by an older version; searches read FAISS's copy)")
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
    if held == expected:
        differing = _differing_vectors(vectors, store, sorted(held), model_key)
        if differing:
            problem(
                f"{differing} of {len(held)} passage vectors differ from the ones the store "
                "keeps for them (a damaged file: rankings would be silently wrong)"
            )


def _differing_vectors(vectors: VectorIndex, store: Store, ids: list[int], model_key: str) -> int:
    """How many stored vectors differ from the store's cached embedding of their passage.

    Neither FAISS files nor the memory-mapped matrix carry a checksum, and a garbled vector
    still loads and still scores: only a comparison with the source (the store's cache, which
    every vector was added from) finds it. Both copies are compared where FAISS keeps one.
    Passages whose cached vector is gone are not counted.
    """
    import numpy as np

    hashes = store.chunk_hashes()
    differing = 0
    for i in range(0, len(ids), 4096):
        batch = ids[i : i + 4096]
        try:
            held = vectors.reconstruct(batch)
            copy = vectors.held_by_faiss(batch)
        except (KeyError, RuntimeError):  # an id it should hold but cannot give back
            return len(ids)
        cached = store.cached_vectors(model_key, (hashes[c] for c in batch if c in hashes))
        for i, (row, chunk) in enumerate(zip(held, batch, strict=True)):
            blob = cached.get(hashes.get(chunk, ""))
            if blob is None:
                continue
            source = np.frombuffer(blob, dtype=np.float32)
            rows = (row,) if copy is None else (row, copy[i])
            if any(
                r.shape != source.shape or not np.allclose(r, source, rtol=0, atol=1e-6)
                for r in rows
            ):
                differing += 1
    return differing


def _check_links(store: Store, found: list[Finding]) -> None:
    """Every post's references read from its current text, and the series as its titles and
    links make them now."""

    def problem(text: str) -> None:
        found.append(Finding("links", text, derivable=True))

    if not store.has_link_tables():
        problem("the links between posts were never read (an index made by an older version)")
        return
    stale = store.stale_links(LINKS_VERSION)
    if stale:
        problem(f"{len(stale)} of {store.count()} posts have their links not read yet")
        return
    titles = {post_id: (m.title, m.date) for post_id, m in store.metadata().items()}
    expected = {
        (post_id, s.name, i)
        for s in detect(titles, store.link_pairs())
        for i, post_id in enumerate(s.posts, 1)
    }
    held = {(r.post_id, r.name, r.ord) for r in store.series()}
    if held != expected:
        problem(
            f"the series hold {len(held)} posts in place, the titles and links make {len(expected)}"
        )
