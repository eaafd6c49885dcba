"""Sentences embedded by the knowledge base's embedder, cached: what the sentence reranker and the
quote choice (`extract.answer_passage`) both read.

One cache per embedder, so the sentences the reranker embedded for a question are not embedded
again when the reply picks its quote from the same chunks. A sentence is embedded under its
chunk's heading ("ndots:n: The default for n is 1"): a man page's line alone often does not say
what it is about.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from kbqa.embedders import Embedder

CACHE = 20_000  # sentences kept per embedder (about 30 MB of 384-d vectors)


def sentence_unit(heading: str | None, sentence: str) -> str:
    """A sentence as it is embedded: under its chunk's heading."""
    return f"{heading}: {sentence}" if heading else sentence


class SentenceVectors:
    """Cached document vectors of short texts, and their cosines to a query."""

    def __init__(self, embedder: Embedder, size: int = CACHE) -> None:
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def vectors(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = self.embedder.encode_documents(missing) if missing else []
        with self._lock:
            for text, vector in zip(missing, fresh, strict=True):
                self._cache[text] = vector
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
            # vectors still in `fresh` when another thread's insertions evicted them
            found = dict(zip(missing, fresh, strict=True))
            return {text: self._cache.get(text, found.get(text)) for text in texts}

    def cosines(
        self, query: str, texts: Sequence[str], query_vector: np.ndarray | None = None
    ) -> list[float]:
        """The cosine of each text to the query (`query_vector`: already embedded, or None)."""
        if not texts:
            return []
        if query_vector is None:
            query_vector = self.embedder.encode_query(query)
        vectors = self.vectors(texts)
        return [float(np.dot(vectors[text], query_vector)) for text in texts]


_shared: dict[int, tuple[Embedder, SentenceVectors]] = {}
_shared_lock = threading.Lock()


def shared_sentence_vectors(embedder: Embedder) -> SentenceVectors:
    """The process's cache for this embedder (the embedder is kept with it, so its id stays)."""
    with _shared_lock:
        kept = _shared.get(id(embedder))
        if kept is None or kept[0] is not embedder:
            kept = (embedder, SentenceVectors(embedder))
            _shared[id(embedder)] = kept
        return kept[1]
