"""Ingestion: find files, skip unchanged ones, load, split, embed in batches, commit atomically.

One bad file never stops a batch: its failure is recorded with a reason and the rest goes on.
Each batch of files is one SQLite transaction, so what was committed before a crash stays intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kbqa import loaders
from kbqa.errors import KBQAError, LoaderError
from kbqa.splitter import count_in_batches
from kbqa.store.base import FileRecord, NewChunk
from kbqa.store.tokenize import segmenter
from kbqa.types import Chunk

if TYPE_CHECKING:
    from kbqa.embedders import Embedder
    from kbqa.loaders.worker import LoadWorker
    from kbqa.settings import Settings
    from kbqa.store.store import Store

# (files done, files total, what is going on): "done" is fractional while a batch is being
# embedded; the text names the file being read, or the chunks being embedded and their files.
ProgressCallback = Callable[[float, int, str], None]

#: chunks embedded together: large enough to keep both cores busy, small enough to commit often
BATCH_CHUNKS = 256
#: chunks embedded between two progress reports
PROGRESS_STEP_CHUNKS = 64
#: room left in each chunk for the heading that is embedded with it ("title enhance")
HEADING_TOKENS = 24
#: chunks longer than this gain little for retrieval and cost the LLM's prompt budget
MAX_CHUNK_TOKENS = 256


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # not documents, e.g. .png
    chunks_added: int = 0
    pages: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.failed)} failed "
            f"({counted(self.chunks_added, 'chunk')} in {self.seconds:.1f} s)"
        ]
        lines += [f"  failed: {path}: {reason}" for path, reason in self.failed]
        if self.skipped:
            one = len(self.skipped) == 1
            what = "is not a document" if one else "are not documents"
            lines.append(f"  skipped {counted(len(self.skipped), 'file')} that {what}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "chunks_added": self.chunks_added,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
        }


@dataclass(frozen=True)
class Candidate:
    file: Path  # where to read it
    doc: str  # its key in the knowledge base: path relative to the ingested folder
    root: Path | None  # the ingested folder, None for a file named directly


def discover(paths: Sequence[str | os.PathLike[str]], report: IngestReport) -> list[Candidate]:
    """Files under `paths`, symlinks followed once (loops cut), hidden files ignored."""
    found: list[Candidate] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            reason = "broken symbolic link" if path.is_symlink() else "no such file or folder"
            report.failed.append((str(given), reason))
        elif path.is_file():
            found.append(Candidate(path.absolute(), path.name, None))
        else:
            found.extend(_walk(path.absolute(), report))
    # The same file named twice (or through two links) is ingested once.
    unique: dict[str, Candidate] = {}
    for candidate in found:
        unique.setdefault(candidate.doc, candidate)
    return list(unique.values())


def _walk(root: Path, report: IngestReport) -> Iterator[Candidate]:
    seen_dirs: set[str] = set()
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen_dirs:  # a symlink loop, or a folder reached twice
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            file = Path(folder) / name
            doc = file.relative_to(root).as_posix()
            if not file.exists():
                report.failed.append((doc, "broken symbolic link"))
            elif not loaders.is_supported(file):
                report.skipped.append((doc, f"unsupported file type '{file.suffix.lower()}'"))
            else:
                yield Candidate(file, doc, root)


def sha256_of(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class _Prepared:
    record: FileRecord
    chunks: list[Chunk]
    is_update: bool


class Ingestor:
    """Brings files into one knowledge base's store. Used through `KnowledgeBase.add`.

    `embedder` is a getter, called only when some file has to be embedded."""

    def __init__(self, store: Store, embedder: Callable[[], Embedder], settings: Settings) -> None:
        self.store = store
        self._get_embedder = embedder
        self.settings = settings
        self._splitter = None

    @property
    def embedder(self) -> Embedder:
        return self._get_embedder()

    def run(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        prune: bool = False,
        force: bool = False,
        progress: bool | ProgressCallback = False,
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport()
        with self.store.writer(wait_s=5.0), self._reader() as reader:
            candidates = discover(paths, report)
            bar = _progress_bar(len(candidates), progress)
            total = len(candidates)
            finished = 0  # files skipped, failed or committed
            pending: list[_Prepared] = []
            warming: threading.Thread | None = None

            def commit() -> None:
                nonlocal finished, pending
                if not pending:
                    return
                # Embedding is the slow part: report it in steps, so one big PDF moves the bar.
                base, size = finished, len(pending)
                names = _names([prepared.record.doc for prepared in pending])

                def embedded(part: float, done: int, of: int) -> None:
                    bar(base + part * size, total, f"embedding {done}/{of} chunks of {names}")

                self._commit(pending, report, embedded)
                finished += size
                pending = []

            for candidate in candidates:
                # Files read but not yet embedded do not count as done: the bar never goes back.
                bar(finished, total, f"reading {candidate.doc}")

                def ocr_page(
                    done: int, pages: int, doc: str = candidate.doc, base: int = finished
                ) -> None:
                    bar(base, total, f"OCR {done}/{pages} pages of {doc}")

                prepared = self._prepare(candidate, report, force, reader, ocr_page)
                if prepared is None:
                    finished += 1
                    bar(finished, total, "")
                    continue
                if not warming:
                    # The store's BM25 needs jieba's dictionary (~0.6 s to load): load it while
                    # the first batch is embedded (torch releases the GIL), not after.
                    warming = threading.Thread(target=segmenter, name="kbqa-jieba", daemon=True)
                    warming.start()
                pending.append(prepared)
                if sum(len(p.chunks) for p in pending) >= BATCH_CHUNKS:
                    commit()
            commit()
            if prune:
                self._prune(paths, candidates, report)
            self.store.save_index()
            bar(total, total, "")
            if self._splitter is not None:
                splitter = self._splitter
                self.store.set_meta(
                    {
                        "splitter": f"chinese-aware chunk_size={splitter.chunk_size} "
                        f"chunk_overlap={splitter.chunk_overlap} (embedder tokens)"
                    }
                )
        report.seconds = time.perf_counter() - started
        return report

    def _reader(self) -> contextlib.AbstractContextManager[LoadWorker | None]:
        """The reader process of this run (per-file time and memory limits), unless turned off."""
        if not self.settings.ingest.worker:
            return contextlib.nullcontext()
        from kbqa.loaders.worker import LoadWorker

        return LoadWorker(self.settings.ingest)

    def _prepare(
        self,
        candidate: Candidate,
        report: IngestReport,
        force: bool,
        reader: LoadWorker | None = None,
        on_page: Callable[[int, int], None] | None = None,
    ) -> _Prepared | None:
        try:
            stat = candidate.file.stat()
            known = self.store.file(candidate.doc)
            # Same size and mtime: unchanged without reading it (re-ingesting a folder is cheap).
            if (
                not force
                and known
                and known.size == stat.st_size
                and known.mtime == stat.st_mtime
                and known.origin == str(candidate.file)
            ):
                report.unchanged.append(candidate.doc)
                return None
            digest = sha256_of(candidate.file)
            if not force and known and known.sha256 == digest:
                report.unchanged.append(candidate.doc)
                return None
            if stat.st_size == 0:
                raise LoaderError("empty file")
            # In the reader process when there is one; the per-file limits hold either way.
            # on_page hears of each page read by OCR (seconds each).
            sections = loaders.load(
                candidate.file, self.settings.ingest, worker=reader, progress=on_page
            )
            chunks = self.splitter().split(sections, source=candidate.file.name, path=candidate.doc)
            if not chunks:
                raise LoaderError("no text found")
        except KBQAError as error:
            report.failed.append((candidate.doc, str(error)))
            return None
        except OSError as error:
            report.failed.append((candidate.doc, f"cannot read: {error.strerror or error}"))
            return None
        except Exception as error:  # a loader bug must not stop the batch
            report.failed.append(
                (candidate.doc, f"unexpected error: {type(error).__name__}: {error}")
            )
            return None
        pages = {chunk.page for chunk in chunks if chunk.page is not None}
        record = FileRecord(
            doc=candidate.doc,
            source=candidate.file.name,
            origin=str(candidate.file),
            sha256=digest,
            size=stat.st_size,
            mtime=stat.st_mtime,
            pages=max(pages) if pages else None,
            chunks=len(chunks),
            added_at=time.time(),
        )
        return _Prepared(record, chunks, is_update=known is not None)

    def splitter(self):
        if self._splitter is None:
            from kbqa.splitter import ChineseAwareSplitter

            embedder = self.embedder
            size = self.settings.splitter.chunk_size or (
                min(embedder.max_tokens, MAX_CHUNK_TOKENS) - HEADING_TOKENS
            )
            overlap = min(self.settings.splitter.chunk_overlap, size // 4)
            self._splitter = ChineseAwareSplitter(
                chunk_size=size,
                chunk_overlap=overlap,
                count_tokens=lambda text: embedder.count_tokens([text])[0],
                count_tokens_batch=embedder.count_tokens,
            )
        return self._splitter

    def _commit(
        self,
        pending: list[_Prepared],
        report: IngestReport,
        on_embedded: Callable[[float, int, int], None] = lambda fraction, done, of: None,
    ) -> None:
        if not pending:
            return
        texts = [embedding_text(chunk) for prepared in pending for chunk in prepared.chunks]
        started = time.perf_counter()
        # Embedded in steps (so the progress bar moves), longest first in the embedder's tokens
        # across the whole batch: each step's texts are then of similar length and pad little.
        # In input order, files' short last chunks padded their steps' batches (the 2 MB corpus
        # took 1.22x the embedder's own time on its chunks; docs/benchmarks.md).
        embedder = self.embedder
        lengths = count_in_batches(embedder.count_tokens, texts)  # a 50 MB file's at once: GBs
        order = sorted(range(len(texts)), key=lambda index: -lengths[index])
        vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
        on_embedded(0.0, 0, len(texts))
        for start in range(0, len(texts), PROGRESS_STEP_CHUNKS):
            step = order[start : start + PROGRESS_STEP_CHUNKS]
            vectors[step] = embedder.encode_documents([texts[i] for i in step])
            done = min(len(texts), start + PROGRESS_STEP_CHUNKS)
            on_embedded(done / len(texts), done, len(texts))
        report.embed_seconds += time.perf_counter() - started
        documents, offset = [], 0
        for prepared in pending:
            count = len(prepared.chunks)
            new_chunks = [
                NewChunk(
                    uid=f"{prepared.record.doc}#{chunk.position}",
                    text=chunk.text,
                    metadata=chunk.metadata(),
                    doc=prepared.record.doc,
                    position=chunk.position,
                )
                for chunk in prepared.chunks
            ]
            documents.append((prepared.record, new_chunks, vectors[offset : offset + count]))
            offset += count
        self.store.replace_documents(documents)
        for prepared in pending:
            (report.updated if prepared.is_update else report.added).append(prepared.record.doc)
            report.chunks_added += len(prepared.chunks)
            report.pages += prepared.record.pages or 0

    def _prune(
        self,
        paths: Sequence[str | os.PathLike[str]],
        candidates: list[Candidate],
        report: IngestReport,
    ) -> None:
        """Remove files that were ingested from the given folders and are gone from them."""
        roots = [str(Path(p).expanduser().absolute()) for p in paths if Path(p).is_dir()]
        present = {candidate.doc for candidate in candidates}
        failed = {doc for doc, _ in report.failed}
        gone = [
            record.doc
            for record in self.store.files()
            if record.doc not in present
            and record.doc not in failed
            and record.origin
            and any(record.origin.startswith(root.rstrip("/") + "/") for root in roots)
        ]
        if gone:
            self.store.delete_documents(gone)
            report.removed.extend(gone)


def embedding_text(chunk: Chunk) -> str:
    """What the embedder sees: the document's name and the heading above a chunk give it
    context the text may lack (a man page's option entry does not repeat the program's name)."""
    title = Path(chunk.source).stem
    if chunk.heading and chunk.heading not in chunk.text:
        title = f"{title} · {chunk.heading}"
    return f"{title}\n{chunk.text}"


def _names(docs: Sequence[str]) -> str:
    return docs[0] if len(docs) == 1 else f"{counted(len(docs), 'file')} ({docs[0]}, ...)"


def counted(count: int, noun: str) -> str:
    """ "1 chunk", "2 chunks" (English nouns with a plain -s plural)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _progress_bar(
    total: int, progress: bool | ProgressCallback, stream: Any = None, mininterval: float = 0.1
) -> ProgressCallback:
    if callable(progress):
        return progress
    # One file gets a bar too: a scanned PDF's OCR reports each page on it.
    if not progress or total < 1:
        return lambda done, total_, current: None
    from tqdm import tqdm

    # Whole files on the bar (the fraction while embedding is only for callbacks); the text
    # beside it says what is being done now, and is cleared when that file is finished.
    bar = tqdm(
        total=total,
        unit="file",
        desc="ingesting",
        leave=False,
        file=stream,
        mininterval=mininterval,
    )

    def update(done: float, total_: int, current: str) -> None:
        whole = min(int(done + 1e-9), total_)
        if whole != bar.n:
            bar.update(whole - bar.n)
        bar.set_postfix_str(_shorten(current, 60))
        if whole >= total_ and not current:
            bar.close()

    return update


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3) :]
