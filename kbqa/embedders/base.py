"""The embedder contract: L2-normalised float32 vectors, and token counts in the model's own tokens.

An `Embedder` is also a LangChain `Embeddings`, so the same object serves kbqa's store and any
LangChain component.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings


class Embedder(Embeddings):
    #: stable name recorded in a knowledge base's manifest
    name: str
    dimension: int
    #: the model's input limit in its own tokens (longer input is truncated or windowed)
    max_tokens: int

    @abstractmethod
    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dimension) float32, rows L2-normalised."""

    @abstractmethod
    def encode_query(self, text: str) -> np.ndarray:
        """(dimension,) float32, L2-normalised."""

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes in this model, special tokens excluded."""

    # LangChain's Embeddings interface, on top of the numpy one.
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode_documents(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_query(text).tolist()


@cache
def native_bf16() -> bool:
    """Whether this CPU runs bf16 matmuls in hardware (AVX512_BF16 or AMX).

    Without it torch emulates bf16, and e5-small encodes ~8x slower than in fp32 (measured on an
    AVX2-only EPYC: 382 against 3,059 tokens/s; docs/benchmarks.md). Read once per process.
    """
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


def resolve_precision(precision: str) -> str:
    """'auto' becomes bf16 where the CPU has native bf16, else fp32; others pass through."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
