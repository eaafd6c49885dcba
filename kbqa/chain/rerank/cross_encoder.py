"""A sentence-transformers CrossEncoder over the fused candidates, for users who have a model hub.

A cross-encoder (bge-reranker-v2-m3, bce-reranker-base) reads the question and each passage
together, so it judges what a bi-encoder's one vector per side cannot. It is not part of the
default install: its weights come from the hub or a local folder named in `retrieval.rerank_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kbqa.chain.rerank.base import Reranker
from kbqa.errors import ModelError
from kbqa.types import Hit


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or bool(Path(name).suffix)


class CrossEncoderReranker(Reranker):
    """Scores each (question, passage) pair with one CrossEncoder forward pass."""

    name = "cross-encoder"

    def __init__(
        self,
        model: str | None,
        *,
        device: str = "cpu",
        max_length: int = 512,
        batch_size: int = 16,
    ) -> None:
        if not model:
            raise ModelError(
                "the cross-encoder reranker needs a model: set retrieval.rerank_model to a hub "
                "name or a local folder (e.g. BAAI/bge-reranker-v2-m3 or maidalun1020/bce-reranker-base_v1)"
            )
        if _looks_like_path(model) and not Path(model).expanduser().exists():
            raise ModelError(f"reranker model folder not found: {model}")
        import torch
        from sentence_transformers import CrossEncoder

        path = str(Path(model).expanduser()) if _looks_like_path(model) else model
        try:
            # Identity: raw logits, so that near-certain passages do not tie at sigmoid's 1.0;
            # only the order is used.
            self.model: Any = CrossEncoder(
                path, device=device, max_length=max_length, activation_fn=torch.nn.Identity()
            )
        except Exception as error:  # hub errors, missing files, bad configs
            raise ModelError(
                f"cannot load reranker model {model!r}: {type(error).__name__}: {error}"
            ) from error
        self.model_name = model
        self.device = device
        self.max_length = max_length
        self.batch_size = batch_size

    def scores(
        self, query: str, hits: list[Hit], query_vector: np.ndarray | None = None
    ) -> list[float]:
        if not hits:
            return []
        values = self.model.predict(
            [(query, hit.text) for hit in hits],
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        if values.ndim == 2:  # a classifier with several labels: the last one is "relevant"
            values = values[:, -1]
        return [float(value) for value in values]
