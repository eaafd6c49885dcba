"""`kbqa bench ingest`: ingestion speed, and its ratio to the embedder's own time on the same chunks.

Three runs on generated documents (real PDFs, real text files):
  1. a PDF of --pages pages;  2. a folder of --files small text files (then re-ingested unchanged);
  3. a mixed Chinese/English corpus of about --corpus-mb MB (400 PDF pages plus text files).
The reference for each is the embedder alone encoding the very chunks the ingest produced, in the
same process, so the ratio shows what loading, splitting and storing add.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from kbqa.bench.common import machine, peak_rss_mb, stored_chunks, synthetic_pages, write_pdf


def run(args: argparse.Namespace) -> int:
    from kbqa.ingest import embedding_text
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import EmbedderSettings, Settings

    settings = Settings(home=Path(tempfile.mkdtemp(prefix="kbqa-bench-")))
    embedder_settings = settings.embedder.model_copy(
        update={
            key: value
            for key, value in {"name": args.embedder, "precision": args.precision}.items()
            if value
        }
    )
    settings = settings.model_copy(
        update={"embedder": EmbedderSettings(**embedder_settings.model_dump())}
    )
    work = settings.home / "docs"
    print(f"machine: {machine()}")
    print(f"embedder: {settings.embedder.name} ({settings.embedder.precision})")

    # Warm the embedder once so no run pays its load time.
    from kbqa.embedders import load_embedder

    started = time.perf_counter()
    embedder = load_embedder(settings.embedder)
    embedder.encode_documents(["warm-up"])
    print(f"embedder load: {time.perf_counter() - started:.2f} s")

    def measure(label: str, paths: list[Path], name: str) -> None:
        # Best of --rounds for both sides (each ingest into a fresh knowledge base): on a shared
        # machine a single run of either can be 10% off.
        reports = [
            KnowledgeBase.create(f"{name}-{round_}" if round_ else name, settings).add(paths)
            for round_ in range(args.rounds)
        ]
        report = min(reports, key=lambda r: r.seconds)
        kb = KnowledgeBase.open(name, settings)
        chunks = stored_chunks(kb)
        texts = [embedding_text(chunk) for chunk in chunks]
        raws = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            embedder.encode_documents(texts)
            raws.append(time.perf_counter() - started)
        raw = min(raws)
        characters = sum(len(chunk.text) for chunk in chunks)
        tokens = sum(embedder.count_tokens(texts))
        print(
            f"{label}: {report.seconds:.2f} s (embedding {report.embed_seconds:.2f} s), "
            f"{len(report.added)} files, "
            f"{report.pages} pages ({report.pages / report.seconds:.0f} pages/s), "
            f"{report.chunks_added} chunks ({report.chunks_added / report.seconds:.1f} chunks/s), "
            f"{characters / 1e3:.0f}k chars, {tokens / 1e3:.0f}k tokens "
            f"({tokens / report.seconds:.0f} tokens/s); embedder alone {raw:.2f} s; "
            f"ratio ingest/embedder {report.seconds / raw:.2f}"
            + (f" (best of {args.rounds})" if args.rounds > 1 else "")
        )

    pdf = write_pdf(work / "pdf" / "book.pdf", synthetic_pages(args.pages, 1500, seed=1))
    measure(f"{args.pages}-page PDF", [pdf], "pdf")

    folder = work / "files"
    folder.mkdir(parents=True)
    for index, text in enumerate(synthetic_pages(args.files, 300, seed=2)):
        (folder / f"note-{index:04}.txt").write_text(text, encoding="utf-8")
    measure(f"{args.files} text files", [folder], "files")
    kb = KnowledgeBase.open("files", Settings(home=settings.home))  # a fresh handle, as a new run
    report = kb.add([folder])
    print(
        f"re-ingest of {args.files} unchanged files: {report.seconds:.2f} s "
        f"({len(report.unchanged)} unchanged, embedder loaded: {kb._embedder is not None})"
    )

    corpus = work / "corpus"
    # About 400 PDF pages in a 2 MB corpus; smaller corpora scale the PDF down with it.
    pdf_pages = max(1, round(400 * min(1.0, args.corpus_mb / 2.0)))
    pdf_chars = 1500
    text_bytes_target = int(args.corpus_mb * 1e6)
    write_pdf(corpus / "manual.pdf", synthetic_pages(pdf_pages, pdf_chars, seed=3))
    written = (corpus / "manual.pdf").stat().st_size
    index = 0
    for text in synthetic_pages(100000, 6000, seed=4):
        if written >= text_bytes_target:
            break
        path = corpus / f"chapter-{index:03}.txt"
        path.write_text(text, encoding="utf-8")
        written += path.stat().st_size
        index += 1
    size_mb = sum(p.stat().st_size for p in corpus.iterdir()) / 1e6
    measure(
        f"mixed corpus {size_mb:.1f} MB on disk ({pdf_pages} PDF pages + {index} .txt)",
        [corpus],
        "corpus",
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    return 0
