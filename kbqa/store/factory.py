"""The one place that chooses a knowledge base's storage backends.

A new base gets the backends named in `Settings.store`; the choice is written to its manifest
(`record_store`, `dense_index`, `lexical_index`), and opening a base later uses the manifest's
choice, whatever the settings say. A backend is a factory registered under a name:

    register_dense_index("numpy", lambda records: NumpyIndex(records))

Record-store factories take (folder, create, remote) and come with a test saying whether a
folder holds one; index factories take the opened record store. `remote` is None for a base kept
in its folder, else the server it lives on (kbqa/store/remote.py): a URI scheme registered with
`register_store_scheme("postgresql", StoreSettings(records=..., dense=..., lexical=...))` picks
the three backends for a base created with `Settings.store.uri` (`kbqa kb create --store URI`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import KnowledgeBaseError
from kbqa.settings import StoreSettings
from kbqa.store.base import DenseIndex, LexicalIndex, RecordStore
from kbqa.store.remote import Remote, remote_for, scheme_of, write_pointer
from kbqa.store.store import Store

RecordStoreFactory = Callable[[Path, bool, Remote | None], RecordStore]
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
_schemes: dict[str, StoreSettings] = {}


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


def register_store_scheme(scheme: str, backends: StoreSettings) -> None:
    """A store URI `scheme://…` makes new bases with these three backends."""
    _schemes[scheme] = backends


def _builtins() -> None:
    # Registered lazily (and only once) so that importing the factory stays cheap.
    if "sqlite" in _records:
        return
    from kbqa.store.faiss_index import FaissIndex
    from kbqa.store.sqlite import FTS5Index, SQLiteRecordStore, describe_damage, holds_store

    register_record_store(
        "sqlite",
        lambda folder, create, remote: SQLiteRecordStore(folder, create=create),
        holds_store,
        describe_damage,
    )
    _dense.setdefault("faiss", FaissIndex)
    _lexical.setdefault("fts5", FTS5Index)
    # The server backends: each module is handed the registering functions (so it never
    # imports this one) and imports its engine's client only when a base on it is opened.
    from kbqa.store import milvus_backend, postgres

    for backend in (postgres, milvus_backend):
        backend.register(
            register_record_store,
            register_dense_index,
            register_lexical_index,
            register_store_scheme,
        )


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


def backends_for(choice: StoreSettings) -> StoreSettings:
    """The three backends a new base gets: the URI scheme's when `choice.uri` names a server."""
    _builtins()
    if not choice.uri:
        return choice
    scheme = scheme_of(choice.uri)
    if scheme not in _schemes:
        known = ", ".join(f"{name}://" for name in sorted(_schemes)) or "none"
        raise KnowledgeBaseError(f"unknown store URI scheme {scheme}:// (registered: {known})")
    return _schemes[scheme].model_copy(update={"uri": choice.uri})


def open_records(
    folder: Path,
    choice: StoreSettings | None = None,
    *,
    create: bool = False,
    name: str | None = None,
):
    """The record store in `folder` (a new one of `choice`'s backends when `create` and none).

    A new base on a server is called `name` there (default: the folder's name); a base of that
    name already on the server is opened, not replaced (a second replica attaching to it).
    """
    _builtins()
    folder = Path(folder)
    choice = choice or StoreSettings()
    for backend in _records.values():
        if backend.holds(folder):
            return backend.open(folder, False, remote_for(folder, choice.uri))
    if not create:
        raise KnowledgeBaseError(f"no knowledge base at {folder}")
    backends = backends_for(choice)
    remote = Remote(choice.uri, name or folder.name) if choice.uri else None
    records = _pick("record store", _records, backends.records).open(folder, True, remote)
    if remote is not None:  # only once the server has the base: a failed create leaves nothing
        write_pointer(folder, records.name, remote)
    return records


def open_store(
    folder: Path,
    choice: StoreSettings | None = None,
    *,
    create: bool = False,
    name: str | None = None,
) -> Store:
    """Open the knowledge base in `folder` with the backends its manifest names; a new one (or
    one made before backends were recorded) gets `choice` (or the legacy trio) written there."""
    choice = choice or StoreSettings()
    existed = holds_knowledge_base(folder)
    records = open_records(folder, choice, create=create, name=name)
    try:
        fallback = LEGACY if existed and records.count() else backends_for(choice)
        dense_name = records.get_meta("dense_index") or fallback.dense
        lexical_name = records.get_meta("lexical_index") or fallback.lexical
        dense = _pick("dense index", _dense, dense_name)(records)
        lexical = _pick("lexical index", _lexical, lexical_name)(records)
        wanted = {
            "record_store": records.name,
            "dense_index": dense_name,
            "lexical_index": lexical_name,
        }
        if (remote := remote_for(folder)) is not None:
            wanted["store_uri"] = remote.kept_uri  # never a password
        # New: no backends recorded yet (a base on a server that another process made already
        # has them: opening it with create is attaching to it).
        new = not existed and records.get_meta("record_store") is None
        if any(records.get_meta(key) != value for key, value in wanted.items()):
            records.set_meta(wanted)
    except BaseException:
        records.close()
        raise
    store = Store(records, dense, lexical)
    store.new = new
    return store
