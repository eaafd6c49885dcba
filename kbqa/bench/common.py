"""Helpers shared by the benchmarks: timing, memory, machine description, synthetic corpora."""

from __future__ import annotations

import os
import platform
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kbqa.text.cjk import has_han

if TYPE_CHECKING:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.types import Chunk

REPO = Path(__file__).resolve().parents[2]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory_gb:.0f} GiB, Python {sys.version.split()[0]}"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    started = time.perf_counter()
    elapsed: list[float] = []
    yield lambda: elapsed[0] if elapsed else time.perf_counter() - started
    elapsed.append(time.perf_counter() - started)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def latencies(function: Callable[[object], object], items: Sequence[object]) -> list[float]:
    """Milliseconds of `function(item)` for each item."""
    out = []
    for item in items:
        started = time.perf_counter()
        function(item)
        out.append((time.perf_counter() - started) * 1000)
    return out


def fill_synthetic(kb: KnowledgeBase, size: int, batch: int = 5000) -> None:
    """Store `size` chunks of real sentences (so BM25 does real work) with random unit vectors
    (embedding 100k real chunks would take over half an hour), `batch` chunks a file."""
    import numpy as np

    from kbqa.store.base import FileRecord, NewChunk

    dimension = kb.embedder.dimension
    rng = np.random.default_rng(0)
    texts = synthetic_pages(size, 200, seed=size)
    with kb.store.writer():
        for start in range(0, size, batch):
            part = texts[start : start + batch]
            vectors = rng.standard_normal((len(part), dimension)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            doc = f"part{start}.txt"
            record = FileRecord(doc, doc, None, "0", 0, 0.0, None, len(part), 0.0)
            chunks = [
                NewChunk(
                    uid=f"{doc}#{i}",
                    text=text,
                    metadata={"source": doc, "path": doc, "position": i, "page": None},
                    doc=doc,
                    position=i,
                )
                for i, text in enumerate(part)
            ]
            kb.store.replace_documents([(record, chunks, vectors)])
        kb.store.save_index()


def sentence_pool() -> tuple[list[str], list[str]]:
    """Chinese and English sentences from the project's own documents (knowledge/, eval/)."""
    zh: list[str] = []
    en: list[str] = []
    for path in [*REPO.glob("knowledge/*.md"), *REPO.glob("eval/corpus/*.md")]:
        text = re.sub(r"[#>*|`\-]+", " ", path.read_text(encoding="utf-8"))
        for sentence in re.split(r"(?<=[。！？.!?])\s*", text):
            sentence = " ".join(sentence.split())
            if len(sentence) < 12:
                continue
            if has_han(sentence):
                zh.append(sentence)
            else:
                en.append(sentence)
    if not zh or not en:
        raise RuntimeError("benchmarks need the repository's knowledge/ folder")
    return zh, en


def synthetic_pages(count: int, chars_per_page: int, seed: int = 0) -> list[str]:
    """Pages of mixed Chinese/English prose (half and half by page), deterministic."""
    zh, en = sentence_pool()
    rng = random.Random(seed)
    pages = []
    for number in range(count):
        pool = zh if number % 2 else en
        parts: list[str] = []
        size = 0
        while size < chars_per_page:
            sentence = rng.choice(pool)
            parts.append(sentence)
            size += len(sentence) + 1
        separator = "" if pool is zh else " "
        pages.append(f"[{number + 1}] " + separator.join(parts))
    return pages


def write_pdf(path: Path, pages: Sequence[str]) -> Path:
    """Write a real PDF with a CJK font (the test-document generator, from the repository)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.docgen import write_text_pdf

    return write_text_pdf(path, pages, font_size=9)


def stored_chunks(kb: KnowledgeBase) -> list[Chunk]:
    """A knowledge base's chunks as stored, in order (`kbqa.ingest.embedding_text` of each is
    what the embedder was given)."""
    from kbqa.types import Chunk

    return [Chunk(text=row.text, **row.metadata) for row in kb.store.records.iter_chunks()]
