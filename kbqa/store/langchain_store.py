"""LangChain `VectorStore` over a knowledge base's `Store`: upsert by id, safe deletes, no pickle."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from kbqa.embedders.base import normalise
from kbqa.settings import StoreSettings
from kbqa.store.base import NewChunk, StoredChunk
from kbqa.store.store import Store


class KBQAVectorStore(VectorStore):
    """Documents added here keep their metadata exactly; ids are upserted, missing ids ignored."""

    def __init__(self, store: Store, embedding: Embeddings) -> None:
        self.store = store
        self.embedding = embedding

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @classmethod
    def in_folder(
        cls, folder: str | Path, embedding: Embeddings, backends: StoreSettings | None = None
    ) -> KBQAVectorStore:
        from kbqa.store.factory import open_store

        return cls(open_store(Path(folder), backends, create=True), embedding)

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        folder: str | Path | None = None,
        **kwargs: Any,
    ) -> KBQAVectorStore:
        store = cls.in_folder(folder or tempfile.mkdtemp(prefix="kbqa-store-"), embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        if hasattr(self.embedding, "encode_documents"):
            return self.embedding.encode_documents(texts)
        return normalise(np.asarray(self.embedding.embed_documents(list(texts)), dtype=np.float32))

    def _query_vector(self, query: str) -> np.ndarray:
        if hasattr(self.embedding, "encode_query"):
            return self.embedding.encode_query(query)
        return normalise(np.asarray(self.embedding.embed_query(query), dtype=np.float32))

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        texts = list(texts)
        if not texts:
            return []
        metadatas = metadatas or [{} for _ in texts]
        ids = [i or str(uuid.uuid4()) for i in ids] if ids else [str(uuid.uuid4()) for _ in texts]
        if not len(texts) == len(metadatas) == len(ids):
            raise ValueError("texts, metadatas and ids must have the same length")
        chunks = [
            NewChunk(uid=uid, text=text, metadata=dict(metadata))
            for uid, text, metadata in zip(ids, texts, metadatas, strict=True)
        ]
        with self.store.writer(wait_s=30.0):
            self.store.upsert_chunks(chunks, self._vectors(texts))
            self.store.save_index()
        return ids

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.pop("ids", None) or [doc.id for doc in documents]
        return self.add_texts(
            [doc.page_content for doc in documents],
            [doc.metadata for doc in documents],
            ids=[i for i in ids] if any(ids) else None,
            **kwargs,
        )

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if not ids:
            return None
        with self.store.writer(wait_s=30.0):
            self.store.delete_uids(ids)
            self.store.save_index()
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        return [_document(row) for row in self.store.records.get_by_uids(list(ids))]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return self.similarity_search_by_vector_with_score(self._query_vector(query), k, **kwargs)

    def similarity_search_by_vector_with_score(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        found = self.store.dense.search(np.asarray(embedding, dtype=np.float32), k)
        rows = self.store.records.get([chunk_id for chunk_id, _ in found])
        return [(_document(rows[i]), max(0.0, min(1.0, s))) for i, s in found if i in rows]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_by_vector_with_score(embedding, k)]

    def _select_relevance_score_fn(self):
        # Scores already are cosine similarities clamped to [0, 1].
        return lambda score: score


def _document(row: StoredChunk) -> Document:
    return Document(id=row.uid, page_content=row.text, metadata=row.metadata)
