"""The one place that chooses a knowledge base's storage backends.

A new base gets the backends named in `Settings.store`; the choice is written to its manifest
(`record_store`, `dense_index`, `lexical_index`), and opening a base later uses the manifest's
choice, whatever the settings say. A backend is a factory registered under a name:

    register_dense_index("numpy", lambda records: NumpyIndex(records))

Record-store factories take (folder, create) and come with a test saying whether a folder holds
one; index factories take the opened record store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import KnowledgeBaseError
from kbqa.settings import StoreSettings
from kbqa.store.base import DenseIndex, LexicalIndex, RecordStore
from kbqa.store.store import Store

RecordStoreFactory = Callable[[Path, bool], RecordStore]
DenseIndexFactory = Callable[[RecordStore], DenseIndex]
LexicalIndexFactory = Callable[[RecordStore], LexicalIndex]

#: what a base made before backends were recorded in its manifest was built with
LEGACY = StoreSettings(records="sqlite", dense="faiss", lexical="fts5")


@dataclass(frozen=True)
class _RecordBackend:
    open: RecordStoreFactory
    holds: Callable[[Path], bool]
    damage: Callable[[BaseException], str | None] = lambda error: None


_records: dict[str, _RecordBackend] = {}
_dense: dict[str, DenseIndexFactory] = {}
_lexical: dict[str, LexicalIndexFactory] = {}


def register_record_store(
    name: str,
    factory: RecordStoreFactory,
    holds: Callable[[Path], bool],
    damage: Callable[[BaseException], str | None] | None = None,
) -> None:
    """`damage(error)` says what is damaged when `error` is the backend reporting damaged data."""
    _records[name] = _RecordBackend(factory, holds, damage or (lambda error: None))


def register_dense_index(name: str, factory: DenseIndexFactory) -> None:
    _dense[name] = factory


def register_lexical_index(name: str, factory: LexicalIndexFactory) -> None:
    _lexical[name] = factory


def _builtins() -> None:
    # Registered lazily (and only once) so that importing the factory stays cheap.
    if "sqlite" in _records:
        return
    from kbqa.store.faiss_index import FaissIndex
    from kbqa.store.sqlite import FTS5Index, SQLiteRecordStore, describe_damage, holds_store

    register_record_store(
        "sqlite",
        lambda folder, create: SQLiteRecordStore(folder, create=create),
        holds_store,
        describe_damage,
    )
    _dense.setdefault("faiss", FaissIndex)
    _lexical.setdefault("fts5", FTS5Index)


def _pick(kind: str, registry: dict, name: str):
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise KnowledgeBaseError(f"unknown {kind} {name!r} (registered: {known})")
    return registry[name]


def describe_damage(error: BaseException) -> str | None:
    """What is damaged, when `error` is a record store reporting damaged data (else None)."""
    _builtins()
    for backend in _records.values():
        if found := backend.damage(error):
            return found
    return None


def holds_knowledge_base(folder: Path) -> bool:
    """Whether `folder` holds a knowledge base of any registered record store."""
    _builtins()
    return Path(folder).is_dir() and any(b.holds(Path(folder)) for b in _records.values())


def open_records(folder: Path, choice: StoreSettings | None = None, *, create: bool = False):
    """The record store in `folder` (a new one of `choice.records` when `create` and none)."""
    _builtins()
    folder = Path(folder)
    for backend in _records.values():
        if backend.holds(folder):
            return backend.open(folder, False)
    if not create:
        raise KnowledgeBaseError(f"no knowledge base at {folder}")
    return _pick("record store", _records, (choice or StoreSettings()).records).open(folder, True)


def open_store(folder: Path, choice: StoreSettings | None = None, *, create: bool = False) -> Store:
    """Open the knowledge base in `folder` with the backends its manifest names; a new one (or
    one made before backends were recorded) gets `choice` (or the legacy trio) written there."""
    choice = choice or StoreSettings()
    existed = holds_knowledge_base(folder)
    records = open_records(folder, choice, create=create)
    try:
        fallback = LEGACY if existed and records.count() else choice
        dense_name = records.get_meta("dense_index") or fallback.dense
        lexical_name = records.get_meta("lexical_index") or fallback.lexical
        dense = _pick("dense index", _dense, dense_name)(records)
        lexical = _pick("lexical index", _lexical, lexical_name)(records)
        wanted = {
            "record_store": records.name,
            "dense_index": dense_name,
            "lexical_index": lexical_name,
        }
        if any(records.get_meta(key) != value for key, value in wanted.items()):
            records.set_meta(wanted)
    except BaseException:
        records.close()
        raise
    return Store(records, dense, lexical)
