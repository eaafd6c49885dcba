"""The Milvus backends' registration with kbqa.store.factory (kbqa/store/milvus.py describes the
design). The modules behind them, and pymilvus, are imported only when a base on Milvus is
opened; the factory passes its registering functions in, so nothing here imports it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbqa.store.remote import Remote, holds_remote

NAME = "milvus"


def _records(folder: Path, create: bool, remote: Remote | None) -> Any:
    from kbqa.store.milvus_records import MilvusRecordStore

    return MilvusRecordStore(folder, create=create, remote=remote)


def _dense(records: Any) -> Any:
    from kbqa.store.milvus_index import MilvusDenseIndex

    return MilvusDenseIndex(records)


def _lexical(records: Any) -> Any:
    from kbqa.store.milvus_bm25 import MilvusBM25Index

    return MilvusBM25Index(records)


def register(
    records: Callable[..., None],
    dense: Callable[..., None],
    lexical: Callable[..., None],
    scheme: Callable[..., None],
) -> None:
    """Register the milvus record store, its two indexes and the milvus:// scheme."""
    from kbqa.settings import StoreSettings

    records(NAME, _records, lambda folder: holds_remote(folder, NAME))
    dense(NAME, _dense)
    lexical("milvus-bm25", _lexical)
    scheme(NAME, StoreSettings(records=NAME, dense=NAME, lexical="milvus-bm25"))
