"""`Service`: what the CLI, the web app and a REST server do, in one place, as data.

One `Service` per process (or per server): it owns the knowledge-base registry and the model
cache, and every call takes the settings it should use (a UI session's or a request's own), so
nothing reads the config file behind the caller's back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kbqa.llm.cache import MAX_LOADED, ModelCache
from kbqa.service.kbs import KnowledgeBases
from kbqa.service.uploads import (
    MIB,
    Upload,
    accept_uploads,
    allowed_extensions,
    stored_original,
    upload_dir,
)

if TYPE_CHECKING:
    from kbqa.chain.conversation import Conversation
    from kbqa.chain.types import Answer, AnswerEvent
    from kbqa.ingest import IngestReport
    from kbqa.settings import Settings
    from kbqa.store.base import FileRecord
    from kbqa.types import Hit


FileStatus = Literal["added", "updated", "unchanged", "failed", "rejected"]


@dataclass(frozen=True)
class FileResult:
    """What became of one uploaded file. `code` says why for "rejected" (a `Rejection` code)
    and "failed" ("unreadable_file"); `detail` is the English reason; `params` feed a
    translated message."""

    name: str  # as uploaded
    stored_as: str  # the safe name it is kept and cited under
    status: FileStatus
    code: str = ""
    detail: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    chunks: int | None = None  # chunks it holds now (added, updated, unchanged)

    @property
    def renamed(self) -> bool:
        return self.name != self.stored_as


@dataclass
class UploadReport:
    results: list[FileResult] = field(default_factory=list)
    ingest: IngestReport | None = None  # None when nothing was accepted


ProgressFn = Callable[..., None]  # passed to KnowledgeBase.add as its progress callback


class Service:
    """The knowledge bases and models of one process, and the actions on them.

    `settings` are the defaults (home, the default knowledge base, the default model); each
    call may pass its own `settings` (a UI session's, a request's) for k, mode, threshold,
    refusal cut-off, prompts and the model. Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        models: ModelCache | None = None,
        max_loaded: int = MAX_LOADED,
    ) -> None:
        self.settings = settings
        self.kbs = KnowledgeBases(settings)
        self.models = models or ModelCache(max_loaded)

    # -- asking ---------------------------------------------------------------------------------

    def conversation(
        self,
        kb: str | None = None,
        settings: Settings | None = None,
        *,
        qa_template: str | Path | None = None,
    ) -> Conversation:
        """A multi-turn conversation on knowledge base `kb` (default: `settings.kb`) that
        retrieves and answers with `settings` (default: the service's), its model from the
        shared cache. Change `conversation.settings` between turns; its history stays."""
        from kbqa.chain.conversation import Conversation

        settings = settings or self.settings
        base = self.kbs.open(kb or settings.kb)
        return Conversation(base, settings=settings, models=self.models, qa_template=qa_template)

    def stream(
        self,
        question: str,
        *,
        kb: str | None = None,
        history: Sequence[Any] = (),
        settings: Settings | None = None,
    ) -> Iterator[AnswerEvent]:
        """One answer, streamed, with earlier turns given as chat messages or (question, answer)
        pairs (a stateless request: the OpenAI-style `messages`)."""
        from kbqa.chain.conversation import _pairs

        conversation = self.conversation(kb, settings)
        for question_before, answer_before in _pairs(list(history)):
            conversation.add_turn(question_before, answer_before)
        yield from conversation.stream(question)

    def ask(
        self,
        question: str,
        *,
        kb: str | None = None,
        history: Sequence[Any] = (),
        settings: Settings | None = None,
    ) -> Answer:
        """`stream`'s final `Answer`."""
        answer = None
        for event in self.stream(question, kb=kb, history=history, settings=settings):
            if event.kind == "done":
                answer = event.answer
        assert answer is not None
        return answer

    def preload(self, settings: Settings | None = None) -> None:
        """Load the model of `settings` in the background (the first question then need not
        wait for it)."""
        self.models.preload(settings or self.settings)

    # -- searching ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        kb: str | None = None,
        settings: Settings | None = None,
        mode: str | None = None,
        sources: Sequence[str] | None = None,
    ) -> list[Hit]:
        """The best chunks for `query` with `settings`' k, mode, threshold and expansion."""
        settings = settings or self.settings
        retrieval = settings.retrieval
        return self.kbs.open(kb or settings.kb).search(
            query,
            k=retrieval.k,
            mode=mode or retrieval.mode,
            threshold=retrieval.threshold,
            expand=retrieval.expand,
            sources=sources,
        )

    # -- files ----------------------------------------------------------------------------------

    def files(self, kb: str | None = None) -> list[FileRecord]:
        return self.kbs.open(kb, create=True).files()

    def upload(
        self,
        files: Iterable[Upload],
        *,
        kb: str | None = None,
        progress: ProgressFn | None = None,
    ) -> UploadReport:
        """Check, keep (under home/uploads/KB) and ingest uploaded files; one result per file.

        A file is a path named as uploaded, or (original name, path). The size limit is
        `settings.ui.max_upload_mb`; the types are those the loaders read."""
        name = kb or self.settings.kb
        dest = upload_dir(self.settings.home, name)
        report = UploadReport()
        with self.kbs.writing(name):
            batch = accept_uploads(
                files,
                dest,
                allowed=allowed_extensions(),
                max_bytes=self.settings.ui.max_upload_mb * MIB,
            )
            for rejection in batch.rejected:
                report.results.append(
                    FileResult(
                        name=batch.renamed.get(rejection.name, rejection.name),
                        stored_as=rejection.name,
                        status="rejected",
                        code=rejection.code,
                        detail=rejection.message,
                        params=dict(rejection.params),
                    )
                )
            if not batch.accepted:
                return report
            base = self.kbs.open(name, create=True)
            ingested = None
            try:
                ingested = base.add(batch.accepted, progress=progress or False)
            finally:
                failed = [path for path, _ in ingested.failed] if ingested else batch.accepted
                batch.finish(failed)
            chunks = {record.doc: record.chunks for record in base.files()}
        report.ingest = ingested
        outcome: dict[str, tuple[FileStatus, str]] = {}
        for status, entries in (
            ("added", ingested.added),
            ("updated", ingested.updated),
            ("unchanged", ingested.unchanged),
        ):
            for entry in entries:
                outcome[Path(entry).name] = (status, "")
        for entry, reason in ingested.failed:
            outcome[Path(entry).name] = ("failed", reason)
        for path in batch.accepted:
            status, detail = outcome.get(path.name, ("added", ""))
            report.results.append(
                FileResult(
                    name=batch.renamed.get(path.name, path.name),
                    stored_as=path.name,
                    status=status,
                    code="unreadable_file" if status == "failed" else "",
                    detail=detail,
                    chunks=None if status == "failed" else chunks.get(path.name),
                )
            )
        return report

    def remove_file(self, doc: str, *, kb: str | None = None) -> int:
        """Remove document `doc` from the knowledge base, and its kept upload if any; returns
        the number of chunks removed."""
        name = kb or self.settings.kb
        base = self.kbs.open(name)
        folder = upload_dir(self.settings.home, name).resolve()
        with self.kbs.writing(name):
            origins = [r.origin for r in base.files() if r.doc == doc and r.origin]
            removed = base.remove(doc)
            for origin in origins:
                # Only our own copies: a file ingested from the user's folders is theirs.
                if Path(origin).resolve().parent == folder:
                    Path(origin).unlink(missing_ok=True)
        return removed

    def reindex(self, *, kb: str | None = None, progress: ProgressFn | None = None) -> IngestReport:
        name = kb or self.settings.kb
        with self.kbs.writing(name):
            return self.kbs.open(name).reindex(progress=progress or False)

    def find_original(self, doc: str, source: str, *, kb: str | None = None) -> Path | None:
        """The file a cited document was read from: where it was ingested, else the kept upload."""
        name = kb or self.settings.kb
        for record in self.kbs.open(name, create=True).files():
            if record.doc == doc or (not doc and record.source == source):
                if record.origin and Path(record.origin).is_file():
                    return Path(record.origin)
                break
        return stored_original(self.settings.home, name, source)

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Wait for background model loads, close the models and the knowledge bases."""
        self.models.close()
        self.kbs.close()

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
