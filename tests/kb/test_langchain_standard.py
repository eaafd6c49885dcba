"""LangChain's own standard suites against kbqa's VectorStore and retriever (real FAISS, SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import (
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)

from kbqa.knowledge_base import KnowledgeBase
from kbqa.retrieval.langchain_retriever import KnowledgeBaseRetriever
from kbqa.settings import Settings, StoreSettings
from kbqa.store.langchain_store import KBQAVectorStore


class TestKBQAVectorStore(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        # The suite's deterministic fake embeddings: the store must work with any Embeddings.
        store = KBQAVectorStore.in_folder(tmp_path / "store", self.get_embeddings())
        yield store
        store.store.close()


class TestKBQAVectorStoreOnNumpyIndex(VectorStoreIntegrationTests):
    """The same suite on the in-memory dense index registered by tests/kb/conftest.py."""

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        store = KBQAVectorStore.in_folder(
            tmp_path / "store", self.get_embeddings(), StoreSettings(dense="numpy")
        )
        assert store.store.dense.name == "numpy"
        yield store
        store.store.close()


@pytest.fixture(scope="module")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    home = tmp_path_factory.mktemp("retriever-home")
    docs = home / "docs"
    docs.mkdir()
    topics = [
        "ChatGLM-6B has 6.2 billion parameters and 28 layers.",
        "LLaMA 7B uses RMSNorm pre-normalisation and SwiGLU.",
        "BLOOM uses ALiBi positions and a 250880-token vocabulary.",
        "Vicuna is fine-tuned from LLaMA on shared conversations.",
        "BLOOMZ is BLOOM fine-tuned on multitask prompts.",
    ]
    for index, text in enumerate(topics):
        (docs / f"note{index}.txt").write_text(text, encoding="utf-8")
    kb = KnowledgeBase.create("retriever", Settings(home=home))
    kb.add([docs])
    return kb


class TestKnowledgeBaseRetriever(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _kb(self, small_kb: KnowledgeBase) -> None:
        type(self)._knowledge_base = small_kb

    @property
    def retriever_constructor(self) -> type[KnowledgeBaseRetriever]:
        return KnowledgeBaseRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"knowledge_base": type(self)._knowledge_base}

    @property
    def retriever_query_example(self) -> str:
        return "How many parameters does ChatGLM-6B have?"
