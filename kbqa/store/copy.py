"""Copying a knowledge base's records from one store to another, without re-embedding.

Used by `kbqa kb copy NAME --to URI` to move a base between backends (the embedded default,
PostgreSQL + pgvector, Milvus). What is copied: every file record with its chunks (text,
metadata, position) and their stored vectors, the chunks added through the API, and the
manifest's description of the base (embedder, its fingerprint, dimension, splitter). The target
keeps its own backend keys and generation. Each file is one atomic batch on the target, so an
interrupted copy leaves whole files (and `kb copy` only switches a name once all are there).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.settings import StoreSettings
from kbqa.store.base import NewChunk, StoredChunk
from kbqa.store.factory import open_records, open_store
from kbqa.store.leftovers import process_alive
from kbqa.store.remote import redact, remote_for
from kbqa.store.store import Store

#: manifest keys that describe a store, not the knowledge base in it: never copied
STORE_KEYS = frozenset(
    {
        "schema_version",
        "generation",
        "state",
        "record_store",
        "dense_index",
        "lexical_index",
        "store_uri",
    }
)
_BATCH = 512  # chunks read (with their vectors) at a time


@dataclass(frozen=True)
class CopyReport:
    files: int
    chunks: int


def _stored_vectors(source: Store, chunks: Sequence[StoredChunk]) -> np.ndarray:
    vectors = source.records.vectors([c.id for c in chunks])
    return np.vstack([vectors[c.id] for c in chunks]).astype(np.float32, copy=False)


def _as_new(chunks: Sequence[StoredChunk]) -> list[NewChunk]:
    return [NewChunk(c.uid, c.text, c.metadata, doc=c.doc, position=c.position) for c in chunks]


def _groups(source: Store) -> Iterator[tuple[str | None, list[StoredChunk]]]:
    """The source's chunks grouped by file (a file's chunks in position order)."""
    by_doc: dict[str | None, list[StoredChunk]] = {}
    for chunk in source.records.iter_chunks():
        by_doc.setdefault(chunk.doc, []).append(chunk)
    for doc, chunks in by_doc.items():
        yield doc, sorted(chunks, key=lambda c: c.position)


def copy_store(
    source: Store, target: Store, progress: Callable[[str], None] | None = None
) -> CopyReport:
    """Copy everything in `source` into the empty `target`; the caller holds both writers."""
    if target.count() or target.files():
        raise ValueError("the target store is not empty")
    manifest = {k: v for k, v in source.manifest().items() if k not in STORE_KEYS}
    target.set_meta(manifest)
    files = {record.doc: record for record in source.files()}
    copied = 0
    for doc, chunks in _groups(source):
        record = files.pop(doc, None) if doc is not None else None
        if record is None:  # texts added through the API: no file record, batched
            for start in range(0, len(chunks), _BATCH):
                part = chunks[start : start + _BATCH]
                target.upsert_chunks(_as_new(part), _stored_vectors(source, part))
        else:  # one file, one atomic batch
            target.replace_documents([(record, _as_new(chunks), _stored_vectors(source, chunks))])
        copied += len(chunks)
        if progress is not None:
            progress(doc or "(texts added through the API)")
    for record in files.values():  # files that yielded no chunks are still known (hash skip)
        target.replace_documents([(record, [], np.zeros((0, source.dimension() or 1), np.float32))])
    target.save_index()
    return CopyReport(files=len(source.files()), chunks=copied)


# -- moving a base between backends: folders under the knowledge-base root -----------------------
#: prefixes of a move's folders: the copy being made, and the original while the names swap
STAGING, MOVING = ".copy-", ".moving-"


def _same_place(source_folder: Path, choice: StoreSettings, name: str) -> bool:
    here = remote_for(source_folder)
    if here is None:
        return not choice.uri
    return bool(choice.uri) and redact(choice.uri) == here.kept_uri and here.name == name


def copy_folder(
    source_folder: Path,
    target_folder: Path,
    choice: StoreSettings,
    progress: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy the base in `source_folder` to a new base on `choice`'s store, named after
    `target_folder`. When `target_folder` is the source's own (a move), the copy is made under a
    staging name and swapped in once complete, and the original is deleted."""
    name = target_folder.name
    moving = target_folder == source_folder
    if moving and _same_place(source_folder, choice, name):
        raise KnowledgeBaseError(f"knowledge base {name!r} already lives on that store")
    staging = target_folder.with_name(f"{STAGING}{name}-{os.getpid()}") if moving else target_folder
    source = open_store(source_folder)
    try:
        with source.writer():
            target = open_store(staging, choice, create=True, name=name)
            try:
                with target.writer():
                    report = copy_store(source, target, progress)
            finally:
                target.close()
            if moving:
                aside = source_folder.with_name(f"{MOVING}{name}-{os.getpid()}")
                source_folder.rename(aside)  # a crash from here on is settled by settle_moves
                staging.rename(source_folder)
                source.records.drop()
    finally:
        source.close()
    if moving:
        shutil.rmtree(aside, ignore_errors=True)
    return report


def settle_moves(root: Path) -> None:
    """Finish or undo the moves a killed process left in `root`: an original set aside whose
    name is free again goes back under its name (the copy never got there); one whose copy took
    the name is deleted; an unfinished copy is deleted, with what it wrote on its server."""
    for prefix in (MOVING, STAGING):
        for folder in root.glob(f"{prefix}*"):
            rest, _, pid = folder.name.removeprefix(prefix).rpartition("-")
            if not folder.is_dir() or not pid.isdigit() or process_alive(int(pid)):
                continue
            home = root / rest
            if prefix == MOVING and not home.exists():
                folder.rename(home)
                continue
            if prefix == STAGING and remote_for(folder) is not None:
                with contextlib.suppress(Exception):  # the server may be gone: the folder goes
                    records = open_records(folder)
                    records.drop()
                    records.close()
            shutil.rmtree(folder, ignore_errors=True)
