"""kbqa: question answering over your own documents with a local language model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Heavy modules (torch, faiss, sentence-transformers) load only when these names are first used.
_LAZY = {
    "KnowledgeBase": "kbqa.knowledge_base",
    "IngestReport": "kbqa.ingest",
    "Settings": "kbqa.settings",
    "Hit": "kbqa.types",
    "Conversation": "kbqa.chain.conversation",
    "Answer": "kbqa.chain.types",
    "load_llm": "kbqa.llm.registry",
    "Service": "kbqa.service",
}

if TYPE_CHECKING:
    from kbqa.chain.conversation import Conversation
    from kbqa.chain.types import Answer
    from kbqa.ingest import IngestReport
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.llm.registry import load_llm
    from kbqa.service import Service
    from kbqa.settings import Settings
    from kbqa.types import Hit

__all__ = [
    "Answer",
    "Conversation",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "Service",
    "Settings",
    "load_llm",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kbqa' has no attribute {name!r}")
