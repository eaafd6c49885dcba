"""What the web app does, without Gradio: shared resources, per-session state, and the actions.

`ui/app.py` only wires these to components. Keeping them here makes them testable without a
browser, and keeps the rule visible: anything per user lives in a `Session` (stored in the
browser session's `gr.State`), anything shared lives in `Resources`, behind its locks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.errors import KBQAError
from kbqa.ui.i18n import t
from kbqa.ui.uploads import MIB, accept_uploads, allowed_extensions, stored_original, upload_dir

if TYPE_CHECKING:
    from kbqa.chain.types import Answer, Citation
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.llm.base import ChatBackend
    from kbqa.settings import LLMSettings, Settings
    from kbqa.types import Hit
    from kbqa.ui.pages import PageView

ProgressFn = Callable[[float, int, str], None]
log = logging.getLogger(__name__)


class Resources:
    """Objects shared by every browser session: open knowledge bases and the loaded model."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._kbs: dict[str, KnowledgeBase] = {}
        self._write_locks: dict[str, threading.Lock] = {}
        self._loaded: list[str] = []  # most recently used first, as the registry keeps them
        self._loading: list[str] = []

    # -- knowledge bases -------------------------------------------------------------------
    def kb_names(self) -> list[str]:
        from kbqa.knowledge_base import KnowledgeBase

        names = set(KnowledgeBase.list_names(self.settings))
        names.update(self._kbs)
        return sorted(names)

    def kb(self, name: str, *, create: bool = False) -> KnowledgeBase:
        from kbqa.knowledge_base import KnowledgeBase

        with self._lock:
            kb = self._kbs.get(name)
            if kb is None:
                kb = KnowledgeBase.open(name, self.settings, create=create)
                self._kbs[name] = kb
            return kb

    def create_kb(self, name: str) -> KnowledgeBase:
        from kbqa.knowledge_base import KnowledgeBase

        with self._lock:
            kb = KnowledgeBase.create(name, self.settings)
            self._kbs[name] = kb
            return kb

    def writing(self, name: str) -> threading.Lock:
        """The lock that serialises changes (upload, delete, re-index) to knowledge base `name`."""
        with self._lock:
            return self._write_locks.setdefault(name, threading.Lock())

    # -- the model -------------------------------------------------------------------------
    # The registry keeps loaded models (the two most recently used) and loads one at a time;
    # sessions ask it for theirs at every question, so a model switched out is never kept here.
    # What is loaded is tracked here too: asking the registry would wait behind a load in progress.
    def loaded_models(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def loading_model(self) -> str | None:
        with self._lock:
            return self._loading[-1] if self._loading else None

    def needs_loading(self, llm: LLMSettings) -> bool:
        return llm.model not in self.loaded_models()

    def llm(self, llm: LLMSettings) -> ChatBackend:
        """The model for `llm`, loaded on first use."""
        from kbqa.llm.registry import MAX_LOADED, load_llm

        with self._lock:
            self._loading.append(llm.model)
        try:
            backend = load_llm(llm)
        finally:
            with self._lock:
                self._loading.remove(llm.model)
        with self._lock:
            if llm.model in self._loaded:
                self._loaded.remove(llm.model)
            self._loaded.insert(0, llm.model)
            del self._loaded[MAX_LOADED:]
        return backend

    def preload(self, llm: LLMSettings) -> threading.Thread:
        """Start loading `llm` in the background, so the first question does not wait for it."""

        def run() -> None:
            try:
                self.llm(llm)
            except Exception:  # the first question reports the error to the user
                log.warning("preloading the model failed", exc_info=True)

        thread = threading.Thread(target=run, name="kbqa-preload", daemon=True)
        thread.start()
        return thread


def model_choices(current: str) -> list[tuple[str, str]]:
    """(label, name) for each registry model, the configured one included, for the settings menu."""
    from kbqa.llm.catalog import CATALOG

    choices = [(f"{spec.name} · {_size(spec.params)}", spec.name) for spec in CATALOG]
    if current not in {name for _, name in choices}:
        choices.insert(0, (current, current))
    return choices


def _size(parameters: float) -> str:
    return f"{parameters / 1e6:.0f}M" if parameters < 1e9 else f"{parameters / 1e9:.1f}B"


@dataclass
class Session:
    """One browser session's state: its language, knowledge base, settings and conversation."""

    settings: Settings  # this session's own copy: top-k, threshold, model, temperature
    lang: str = "en"
    conversation: Any = None  # kbqa.chain.conversation.Conversation, built at the first question
    conversation_key: tuple[Any, ...] | None = None
    citations: list[Citation] = field(default_factory=list)  # of the last answer

    @property
    def kb_name(self) -> str:
        return self.settings.kb

    def reset(self) -> None:
        if self.conversation is not None:
            self.conversation.reset()
        self.citations = []


def new_session(settings: Settings, lang: str = "en") -> Session:
    return Session(settings=settings.model_copy(deep=True), lang=lang)


# -- chat ------------------------------------------------------------------------------------
def ask(resources: Resources, session: Session, question: str) -> Iterator[tuple[str, Any]]:
    """Answer `question` in the session's conversation.

    Yields ("status", text) while preparing, ("token", text) as the reply streams, and finally
    ("done", Answer).
    """
    lang = session.lang
    llm_settings = session.settings.llm
    if resources.needs_loading(llm_settings):
        yield "status", t(lang, "loading_model", model=llm_settings.model)
    llm = resources.llm(llm_settings)
    kb = resources.kb(session.kb_name, create=True)
    conversation = _conversation(session, kb, llm)
    yield "status", t(lang, "searching")
    for event in conversation.stream(question):
        if event.kind == "retrieved":
            hits = event.answer.hits if event.answer is not None else []
            yield "status", t(lang, "found", n=len(hits))
        elif event.kind == "token":
            yield "token", event.text
        elif event.kind == "done" and event.answer is not None:
            session.citations = list(event.answer.citations)
            yield "done", event.answer


def _conversation(session: Session, kb: KnowledgeBase, llm: ChatBackend) -> Any:
    from kbqa.chain.conversation import Conversation

    key = (session.kb_name, id(kb), id(llm))
    if session.conversation is None or session.conversation_key != key:
        previous, previous_key = session.conversation, session.conversation_key
        view = SessionKB(kb, session.settings)
        session.conversation = Conversation(view, llm, session.settings, preload=False)
        # Another model on the same knowledge base carries on the same conversation.
        if previous is not None and previous_key and previous_key[0] == session.kb_name:
            session.conversation.turns = list(previous.turns)
        session.conversation_key = key
    return session.conversation


class SessionKB:
    """The shared knowledge base as one session sees it: searches use the session's threshold
    and mode (the chain calls `kb.search` without them, which would use the base's defaults)."""

    def __init__(self, kb: KnowledgeBase, settings: Settings) -> None:
        self._kb = kb
        self._settings = settings

    def search(self, query: str, k: int | None = None, **options: Any) -> list[Hit]:
        retrieval = self._settings.retrieval
        if options.get("threshold") is None:
            options["threshold"] = retrieval.threshold
        if options.get("mode") is None:
            options["mode"] = retrieval.mode
        return self._kb.search(query, k, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kb, name)


def citation_label(citation: Citation, lang: str) -> str:
    where = f" · {t(lang, 'page_short', page=citation.page)}" if citation.page else ""
    return f"[{citation.number}] {citation.source}{where}"


def format_answer(answer: Answer, lang: str) -> str:
    """The reply as shown in the chat: the answer text, then its sources as a list."""
    text = answer.text.strip()
    # `sources` are the citations the text refers to (all offered ones when it names none).
    sources = answer.sources
    if answer.refused or not sources:
        return text
    lines = [f"- {_md_escape(citation_label(c, lang))}" for c in sources]
    return f"{text}\n\n**{t(lang, 'sources')}**\n" + "\n".join(lines)


def _md_escape(text: str) -> str:
    # File names can hold Markdown syntax ("__init__.md", "*draft*.pdf").
    for char in "\\`*_{}[]<>#|":
        text = text.replace(char, "\\" + char)
    return text


# -- citations -------------------------------------------------------------------------------
@dataclass
class CitationView:
    passage_md: str
    page: PageView | None
    note: str


def open_citation(resources: Resources, session: Session, number: int) -> CitationView | None:
    """The passage of citation `number` of the last answer, and its page image when there is one."""
    citation = next((c for c in session.citations if c.number == number), None)
    if citation is None:
        return None
    lang = session.lang
    header = f"**{_md_escape(citation.source)}**"
    if citation.page:
        header += f" · {t(lang, 'page_short', page=citation.page)}"
    header += f" · {t(lang, 'score', score=citation.score)}"
    quoted = "\n".join(f"> {_md_escape(line)}" for line in citation.text.splitlines() if line)
    passage_md = f"{header}\n\n{quoted}"
    if not citation.source.lower().endswith(".pdf") or not citation.page:
        return CitationView(passage_md, None, t(lang, "no_image_format"))
    original = find_original(resources, session.kb_name, citation.path, citation.source)
    if original is None:
        return CitationView(passage_md, None, t(lang, "no_image_missing"))
    from kbqa.ui.pages import render_page

    try:
        view = render_page(original, citation.page, citation.text)
    except Exception as error:  # a damaged or replaced file: say so, keep the passage
        return CitationView(passage_md, None, t(lang, "no_image_error", error=error))
    note = t(lang, "page_long", page=view.page, count=view.page_count) + " · "
    note += t(lang, "marked" if view.marked else "not_marked")
    return CitationView(passage_md, view, note)


def find_original(resources: Resources, kb_name: str, doc: str, source: str) -> Path | None:
    """The file a cited document was read from: where it was ingested, else the kept upload."""
    kb = resources.kb(kb_name, create=True)
    for record in kb.files():
        if record.doc == doc or (not doc and record.source == source):
            if record.origin and Path(record.origin).is_file():
                return Path(record.origin)
            break
    return stored_original(resources.settings.home, kb_name, source)


# -- knowledge base panel --------------------------------------------------------------------
def file_rows(resources: Resources, kb_name: str) -> list[list[Any]]:
    """[document, chunks, pages] per file; the document is its key (its name, for uploads)."""
    kb = resources.kb(kb_name, create=True)
    return [[record.doc, record.chunks, record.pages or ""] for record in kb.files()]


def ingest_uploads(
    resources: Resources,
    session: Session,
    files: list[str],
    progress: ProgressFn | None = None,
) -> list[list[str]]:
    """Check, keep and ingest uploaded files. Returns one [file, result, detail] row per file.

    `progress(done, total, name)` is called before each file is read (name: that file)."""
    lang = session.lang
    settings = resources.settings
    dest = upload_dir(settings.home, session.kb_name)
    rows: list[list[str]] = []
    with resources.writing(session.kb_name):
        batch = accept_uploads(
            files,
            dest,
            allowed=allowed_extensions(),
            max_bytes=settings.ui.max_upload_mb * MIB,
        )
        for name, reason in batch.rejected:
            rows.append([name, t(lang, "result_rejected"), reason])
        if not batch.accepted:
            return rows
        kb = resources.kb(session.kb_name, create=True)
        report = None
        names = [path.name for path in batch.accepted]

        def step(done: float, total: int, _finished: str) -> None:
            # The knowledge base reports fractions of files while it embeds; name the file at hand.
            if progress is not None:
                progress(done, total, names[min(int(done), len(names) - 1)])

        step(0, len(names), "")
        try:
            report = kb.add(batch.accepted, progress=step)
        finally:
            failed = [path for path, _ in report.failed] if report else batch.accepted
            batch.finish(failed)
    outcome: dict[str, tuple[str, str]] = {}
    for key, entries in (
        ("result_added", report.added),
        ("result_updated", report.updated),
        ("result_unchanged", report.unchanged),
    ):
        for entry in entries:
            outcome[Path(entry).name] = (t(lang, key), "")
    for entry, reason in report.failed:
        outcome[Path(entry).name] = (t(lang, "result_failed"), reason)
    chunks = {record.doc: record.chunks for record in kb.files()}
    for path in batch.accepted:
        result, detail = outcome.get(path.name, (t(lang, "result_added"), ""))
        notes = [detail] if detail else []
        if path.name in chunks and not detail:
            notes.append(t(lang, "chunks_n", n=chunks[path.name]))
        if path.name in batch.renamed:
            notes.append(t(lang, "renamed", name=path.name))
        rows.append([batch.renamed.get(path.name, path.name), result, "; ".join(notes)])
    return rows


def delete_file(resources: Resources, session: Session, doc: str) -> int:
    """Remove document `doc` from the session's knowledge base, and its kept upload if any."""
    kb = resources.kb(session.kb_name)
    folder = upload_dir(resources.settings.home, session.kb_name).resolve()
    with resources.writing(session.kb_name):
        origins = [r.origin for r in kb.files() if r.doc == doc and r.origin]
        removed = kb.remove(doc)
        for origin in origins:
            # Only our own copies: a file ingested from the user's folders is theirs.
            if Path(origin).resolve().parent == folder:
                Path(origin).unlink(missing_ok=True)
    session.citations = [c for c in session.citations if (c.path or c.source) != doc]
    return removed


def reindex(resources: Resources, session: Session) -> str:
    with resources.writing(session.kb_name):
        return resources.kb(session.kb_name).reindex().summary()


# -- retrieval tab ---------------------------------------------------------------------------
def search_rows(
    resources: Resources, session: Session, query: str, mode: str | None
) -> list[list[Any]]:
    retrieval = session.settings.retrieval
    hits: list[Hit] = resources.kb(session.kb_name, create=True).search(
        query, k=retrieval.k, threshold=retrieval.threshold, mode=mode or retrieval.mode
    )
    return [
        [rank, round(float(hit.score), 3), hit.source, hit.page or "", hit.text]
        for rank, hit in enumerate(hits, start=1)
    ]


def user_message(error: BaseException, lang: str) -> str:
    """An error as the user should read it: KBQAErrors say what to do; others only what failed."""
    if isinstance(error, KBQAError):
        return t(lang, "error", error=error)
    return t(lang, "error", error=f"{type(error).__name__}: {error}")
