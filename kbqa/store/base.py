"""The storage seam: a record store, a dense index and a lexical index behind small interfaces.

- `RecordStore`: the source of truth. Chunks (text, metadata, vector), the files they came from
  (content hashes), the manifest, the generation counter and the writer lock. Every batch of
  changes is one transaction (`transaction()`), and a batch that changes anything bumps the
  generation.
- `LexicalIndex`: BM25 over jieba/word tokens. It is written inside the record store's
  transaction (FTS5 lives in the same SQLite file), so it can never disagree with the rows.
- `DenseIndex`: nearest neighbours by inner product over the L2-normalised vectors. A derived
  cache: told of each committed change (`apply`), and rebuilt from the record store whenever its
  generation is not the committed one, so a crash can never pair an index with the wrong rows.

Backends are chosen in one place (kbqa/store/factory.py) and the choice is kept in the manifest.
Retrieval, `KnowledgeBase` and the LangChain store see only these interfaces (through `Store`,
kbqa/store/store.py, which runs a write across the three pieces).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class StoredChunk:
    id: int  # the record store's integer id: what the indexes hold
    uid: str  # the public id (LangChain Document.id)
    doc: str | None  # FileRecord.doc, None for texts added through the API
    position: int
    text: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NewChunk:
    uid: str
    text: str
    metadata: dict[str, Any]
    doc: str | None = None
    position: int = 0

    def lexical_text(self) -> str:
        """What BM25 indexes: the heading above a chunk counts as part of it."""
        heading = self.metadata.get("heading") if isinstance(self.metadata, dict) else None
        return f"{heading}\n{self.text}" if heading else self.text


@dataclass(frozen=True)
class FileRecord:
    doc: str  # path relative to the ingested folder: the file's key
    source: str  # base name
    origin: str | None  # absolute path it was read from
    sha256: str
    size: int
    mtime: float
    pages: int | None
    chunks: int
    added_at: float

    @property
    def path(self) -> str:
        return self.doc

    def row(self) -> tuple:
        """The fields in the order the record stores' `files` tables hold them."""
        return astuple(self)


@dataclass(frozen=True)
class Problem:
    """One thing a consistency check found wrong in a knowledge base's stored data."""

    part: str  # "records", "lexical index", "dense index", "manifest", "embedder"
    detail: str
    repairable: bool  # whether rebuilding from the record store fixes it

    def __str__(self) -> str:
        return f"{self.part}: {self.detail}"


@dataclass
class Change:
    """What one committed batch did, for the indexes to follow."""

    before: int  # the generation the batch started from
    after: int  # the generation it committed (== before when nothing changed)
    removed: list[int] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)
    added_vectors: list[np.ndarray] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.removed or self.added_ids)


class Snapshot(Protocol):
    """One committed state of a record store, read consistently (for rebuilding an index)."""

    generation: int
    state: str  # names this committed state exactly (see RecordStore.state)
    count: int  # chunks in it

    def vector_batches(self, size: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(int64 ids, float32 vectors) in id order, `size` rows at a time."""
        ...


@runtime_checkable
class RecordStore(Protocol):
    name: str  # its registered name, kept in the manifest
    folder: Path  # where the knowledge base lives locally (lock file, index caches)

    # -- writing: hold writer(), then one transaction() per batch -------------------------------
    def writer(self, wait_s: float = 0.0) -> AbstractContextManager[None]:
        """Exclusive write access across processes; `KnowledgeBaseLocked` if taken."""
        ...

    def transaction(self) -> AbstractContextManager[Any]:
        """One atomic batch; yields the handle the write methods (and the lexical index) take."""
        ...

    def delete_chunks(
        self, tx: Any, *, doc: str | None = None, uid: str | None = None
    ) -> list[int]: ...

    def insert_chunks(
        self, tx: Any, chunks: Sequence[NewChunk], vectors: np.ndarray
    ) -> list[int]: ...

    def put_file(self, tx: Any, record: FileRecord) -> None: ...

    def delete_file(self, tx: Any, doc: str) -> None: ...

    def bump_generation(self, tx: Any) -> tuple[int, int]:
        """Advance the generation inside the batch; returns (before, after)."""
        ...

    # -- the manifest ------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None: ...

    def set_meta(self, values: dict[str, Any]) -> None: ...

    def manifest(self) -> dict[str, str]: ...

    @property
    def generation(self) -> int: ...

    @property
    def state(self) -> str:
        """A token that names the committed state exactly: new with every commit, never reused
        (a generation number can come back with a restored or rolled-back record store)."""
        ...

    def dimension(self) -> int | None: ...

    # -- reading ----------------------------------------------------------------------------------
    def files(self) -> list[FileRecord]: ...

    def file(self, doc: str) -> FileRecord | None: ...

    def count(self) -> int: ...

    def get(self, ids: Sequence[int]) -> dict[int, StoredChunk]: ...

    def get_by_uids(self, uids: Sequence[str]) -> list[StoredChunk]: ...

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every chunk in id order (for copies, benchmarks and rebuilding other indexes)."""
        ...

    def neighbours(self, doc: str, position: int, span: int) -> list[StoredChunk]: ...

    def ids_for_sources(self, sources: Sequence[str]) -> np.ndarray:
        """Chunk ids whose file's base name or relative path is in `sources`."""
        ...

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]: ...

    def snapshot(self) -> AbstractContextManager[Snapshot]: ...

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[Problem]:
        """What is damaged or inconsistent in the records themselves (the source of truth)."""
        ...

    def rewrite(self) -> None:
        """Copy every record into fresh storage and swap it in atomically (keeping the damaged
        original aside), for damage outside the records' own rows; the caller holds writer()
        and has closed the indexes."""
        ...

    def drop(self) -> None:
        """Delete what the base keeps outside its folder (a server's tables or collections);
        the caller holds writer() and removes the folder afterwards."""
        ...

    def close(self) -> None: ...


def chunk_count_problems(counted: dict[str, int], files: Sequence[FileRecord]) -> list[Problem]:
    """Files whose recorded chunk count is not the chunks stored (`counted`: chunks per file's
    doc, consumed), and chunks of no recorded file: a record store's own consistency check."""
    problems = []
    for record in files:
        held = counted.pop(record.doc, 0)
        if held != record.chunks:
            detail = f"{record.doc}: {held} chunks stored, {record.chunks} recorded"
            problems.append(Problem("records", detail + "; ingest it again", False))
    for doc in sorted(counted):
        problems.append(Problem("records", f"{doc}: chunks of a file not recorded", False))
    return problems


def lexical_batches(records: RecordStore, size: int = 1000) -> Iterator[list[tuple[int, NewChunk]]]:
    """Every chunk of `records` as (id, NewChunk), `size` at a time: what a lexical index's
    rebuild adds."""
    batch: list[tuple[int, NewChunk]] = []
    for chunk in records.iter_chunks():
        batch.append((chunk.id, NewChunk(chunk.uid, chunk.text, chunk.metadata)))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class ManifestFields:
    """`generation`, `state` and `dimension` read from the manifest, for record stores that keep
    them there as strings (each subclass has `get_meta`)."""

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        raise NotImplementedError

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation", "0") or 0)

    @property
    def state(self) -> str:
        """Names the committed state exactly (random per commit; "0" before the first one)."""
        return self.get_meta("state", "0") or "0"

    def dimension(self) -> int | None:
        value = self.get_meta("dimension")
        return int(value) if value else None


@runtime_checkable
class LexicalIndex(Protocol):
    name: str

    def add(self, tx: Any, chunks: Iterable[tuple[int, NewChunk]]) -> None:
        """Index new chunks inside the record store's transaction `tx`."""
        ...

    def remove(self, tx: Any, ids: Sequence[int]) -> None: ...

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) best first, the score positive and higher for a better match
        (hybrid search fuses it with the cosine); only ids in `allowed` when it is given."""
        ...

    def check(self) -> list[Problem]:
        """Whether the index is readable and holds exactly the record store's chunks."""
        ...

    def rebuild(self) -> None:
        """Index every chunk of the record store again, from nothing (the caller holds writer())."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DenseIndex(Protocol):
    name: str

    def apply(self, change: Change) -> None:
        """Follow a committed batch (or forget what is loaded, to rebuild on next use)."""
        ...

    def search(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, inner product) best first, at the committed generation."""
        ...

    def index(self) -> Any:
        """The engine's own index object at the committed generation (has `.ntotal`), for
        benchmarks against the raw engine and for consistency checks."""
        ...

    def save(self) -> None:
        """Persist what is loaded, atomically (a no-op for engines that persist on write)."""
        ...

    def check(self) -> list[Problem]:
        """What is wrong with what the index persisted (stale, damaged, the wrong rows)."""
        ...

    def rebuild(self) -> None:
        """Build the index again from the record store and persist it."""
        ...

    def close(self) -> None: ...
