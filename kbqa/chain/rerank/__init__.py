"""Second-stage reranking of the fused candidates: one base, one registry, one factory.

    register_reranker("mine", lambda settings, embedder: MyReranker(settings.rerank_model))

`RetrievalSettings.rerank` names the reranker ("none" turns the stage off); the searcher hands it
the best `rerank_candidates` fused hits and keeps the first k of the order it returns. A factory
gets the retrieval settings and the knowledge base's embedder (None where there is none).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from kbqa.chain.rerank.base import Reranker
from kbqa.embedders import Embedder
from kbqa.settings import RetrievalSettings

RerankerFactory = Callable[[RetrievalSettings, Embedder | None], Reranker]

_factories: dict[str, RerankerFactory] = {}
_loaded: dict[tuple[str, str | None, int], Reranker] = {}
_lock = threading.Lock()


def register_reranker(name: str, factory: RerankerFactory) -> None:
    _factories[name] = factory


def _builtins() -> None:
    if _factories:
        return

    def cross_encoder(settings: RetrievalSettings, embedder: Embedder | None) -> Reranker:
        from kbqa.chain.rerank.cross_encoder import CrossEncoderReranker

        return CrossEncoderReranker(settings.rerank_model)

    def terms(settings: RetrievalSettings, embedder: Embedder | None) -> Reranker:
        from kbqa.chain.rerank.terms import TermReranker

        return TermReranker()

    def sentences(settings: RetrievalSettings, embedder: Embedder | None) -> Reranker:
        from kbqa.chain.rerank.sentences import SentenceReranker

        if embedder is None:
            raise ValueError("the 'sentences' reranker needs the knowledge base's embedder")
        return SentenceReranker(embedder)

    register_reranker("cross-encoder", cross_encoder)
    register_reranker("terms", terms)
    register_reranker("sentences", sentences)


def rerankers() -> list[str]:
    """The registered names, "none" first."""
    with _lock:
        _builtins()
        return ["none", *sorted(_factories)]


def load_reranker(settings: RetrievalSettings, embedder: Embedder | None = None) -> Reranker | None:
    """The reranker the settings name (loaded once per process and embedder), None for "none"."""
    if settings.rerank == "none":
        return None
    key = (settings.rerank, settings.rerank_model, id(embedder))
    with _lock:
        _builtins()
        if settings.rerank not in _factories:
            known = ", ".join(["none", *sorted(_factories)])
            raise ValueError(f"unknown reranker {settings.rerank!r}: {known}")
        if key not in _loaded:
            _loaded[key] = _factories[settings.rerank](settings, embedder)
        return _loaded[key]


__all__ = ["Reranker", "load_reranker", "register_reranker", "rerankers"]
