"""BM25-mode retrieval figures for eval/real without embedding the corpus.

    KBQA_HOME=/tmp/bm25home python eval/real/bm25_baseline.py

Embedding the 3,038 chunks is the whole cost of an ingest; on a starved machine it does not
finish. This builds the knowledge base with kbqa's own loaders, splitter (sized in e5-small's
tokens, as a normal ingest does) and FTS5 index, but stores one constant vector per chunk, then
runs `kbqa eval --retrieval-only --mode bm25`'s code (`run_retrieval`, history rewriting
included) on tune and test. BM25 mode never reads the vectors, so its figures are what a real
ingest gives in that mode. Hybrid and dense figures need the real ingest (see README.md).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from kbqa.eval.dataset import read_predictions, read_questions, write_predictions  # noqa: E402
from kbqa.eval.metrics import compute_metrics, format_table  # noqa: E402
from kbqa.eval.runner import run_retrieval  # noqa: E402
from kbqa.knowledge_base import KnowledgeBase  # noqa: E402
from kbqa.settings import Settings  # noqa: E402

KB = "real-bm25"


def build() -> KnowledgeBase:
    settings = Settings.load()
    if KnowledgeBase.exists(KB, settings):
        KnowledgeBase.delete(KB, settings)
    kb = KnowledgeBase.create(KB, settings)
    real = kb.embedder  # the default e5-small: its tokenizer sizes the chunks

    class ConstantVectors(type(real)):  # type: ignore[misc]
        """The real embedder, except that documents get one constant unit vector."""

        def __init__(self, inner: object) -> None:
            self.__dict__.update(inner.__dict__)

        def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
            vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
            vectors[:, 0] = 1.0
            return vectors

    kb._embedder = ConstantVectors(real)
    kb.add([str(HERE / "docs")])
    return kb


def main() -> None:
    started = time.perf_counter()
    kb = build()
    print(f"{kb.count_chunks()} chunks in {time.perf_counter() - started:.0f} s", flush=True)
    for split in ("tune", "test"):
        questions = read_questions(HERE / f"{split}.jsonl")
        out = Path("/tmp") / f"real-{split}.bm25.pred.jsonl"
        write_predictions(out, run_retrieval(kb, questions, k=10, mode="bm25"))
        print(f"== {split}, bm25 mode, {len(questions)} questions")
        print(format_table(compute_metrics(questions, read_predictions(out))), flush=True)


if __name__ == "__main__":
    main()
