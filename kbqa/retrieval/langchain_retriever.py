"""LangChain `BaseRetriever` over a knowledge base's hybrid search."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict


class KnowledgeBaseRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge_base: Any  # kbqa.KnowledgeBase (Any keeps pydantic from inspecting it)
    k: int = 5
    search_kwargs: dict[str, Any] = {}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k = kwargs.pop("k", self.k)
        hits = self.knowledge_base.search(query, k=k, **{**self.search_kwargs, **kwargs})
        return [
            Document(
                id=hit.chunk_id or None,
                page_content=hit.text,
                metadata={key: value for key, value in hit.to_json().items() if key != "text"},
            )
            for hit in hits
        ]
