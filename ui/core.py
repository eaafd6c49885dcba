"""What the web app shows, without Gradio: per-session state, and the service's results as text.

The work is done by the service layer (`kbqa.service.Service`: knowledge bases, the model cache,
upload acceptance, search); this module turns its data into the rows and messages of one
session's language. `kbqa/ui/panels/` wires these to components. The rule stays visible: anything
per user lives in a `Session` (stored in the browser session's `gr.State`), anything shared lives
in the one `Service`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.service.errors import error_info
from kbqa.service.uploads import sanitize_filename
from kbqa.text.table import markdown_cells
from kbqa.types import OCR, TABLE
from kbqa.ui.i18n import TEXT, t

if TYPE_CHECKING:
    from kbqa.chain.conversation import Conversation
    from kbqa.chain.types import Answer, Citation
    from kbqa.ingest import IngestReport
    from kbqa.service import FileResult, Service
    from kbqa.settings import Settings
    from kbqa.ui.pages import PageView

ProgressFn = Callable[[float, int, str], None]
log = logging.getLogger(__name__)


def model_choices(current: str, extra: list[str] | None = None) -> list[tuple[str, str]]:
    """(label, name) for each registry model, the configured one and `extra` (the operator's
    allowed models) included, for the settings menu."""
    from kbqa.llm.catalog import CATALOG

    choices = [(f"{spec.name} · {_size(spec.params)}", spec.name) for spec in CATALOG]
    for name in reversed([current, *(extra or [])]):
        if name not in {known for _, known in choices}:
            choices.insert(0, (name, name))
    return choices


def _size(parameters: float) -> str:
    return f"{parameters / 1e6:.0f}M" if parameters < 1e9 else f"{parameters / 1e9:.1f}B"


@dataclass
class Session:
    """One browser session's state: its language, knowledge base, settings and conversation."""

    settings: Settings  # this session's own copy: top-k, threshold, mode, model, temperature
    lang: str = "en"
    # The service's conversation on this session's knowledge base, built at the first question.
    # It holds `settings` itself, so a changed setting applies from the next question on.
    conversation: Conversation | None = None
    citations: list[Citation] = field(default_factory=list)  # of the last answer

    @property
    def kb_name(self) -> str:
        return self.settings.kb

    def switch_kb(self, name: str) -> None:
        """Another knowledge base: a new conversation (the history was about the other one)."""
        self.settings.kb = name
        self.conversation = None
        self.citations = []

    def reset(self) -> None:
        if self.conversation is not None:
            self.conversation.reset()
        self.citations = []


def new_session(settings: Settings, lang: str = "en") -> Session:
    return Session(settings=settings.model_copy(deep=True), lang=lang)


# -- chat ------------------------------------------------------------------------------------
def ask(service: Service, session: Session, question: str) -> Iterator[tuple[str, Any]]:
    """Answer `question` in the session's conversation.

    Yields ("status", text) while preparing, ("token", text) as the reply streams, and finally
    ("done", Answer).
    """
    lang = session.lang
    if not service.models.is_ready(session.settings):
        yield "status", t(lang, "loading_model", model=session.settings.llm.model)
    if session.conversation is None:
        session.conversation = service.conversation(session.kb_name, session.settings)
    yield "status", t(lang, "searching")
    for event in session.conversation.stream(question):
        if event.kind == "retrieved":
            hits = event.answer.hits if event.answer is not None else []
            yield "status", t(lang, "found", n=len(hits))
        elif event.kind == "token":
            yield "token", event.text
        elif event.kind == "done" and event.answer is not None:
            session.citations = list(event.answer.citations)
            yield "done", event.answer


def model_status(service: Service, session: Session) -> str:
    """Whether the session's model is loaded, loading, or loads at the next question."""
    wanted = session.settings.llm
    values = {"model": wanted.model, "quantize": wanted.quantize}
    states = service.models.status()
    if service.models.is_ready(session.settings):
        return t(session.lang, "model_status_loaded", **values)
    if any(s.model == wanted.model and s.state == "loading" for s in states):
        return t(session.lang, "model_status_loading", **values)
    if not any(s.state == "ready" for s in states):
        return t(session.lang, "model_status_none", **values)
    return t(session.lang, "model_status_pending", **values)


def citation_label(citation: Citation, lang: str) -> str:
    where = f" · {t(lang, 'page_short', page=citation.page)}" if citation.page else ""
    return f"[{citation.number}] {citation.source}{where}{_kind_note(citation, lang)}"


def _kind_note(citation: Citation, lang: str) -> str:
    """· Table 2, or · OCR text: what kind of passage a citation is."""
    if citation.kind == TABLE:
        return f" · {t(lang, 'table_label', table=citation.table or '')}"
    if citation.kind == OCR:
        return f" · {t(lang, 'ocr_label')}"
    return ""


def _table_md(text: str) -> str:
    """A table passage (Markdown rows) shown as a table, every cell escaped like other text."""
    lines = []
    for line in text.splitlines():
        cells = markdown_cells(line)
        if cells and all(cell and set(cell) <= {"-"} for cell in cells):
            lines.append("|" + "|".join(" --- " for _ in cells) + "|")
        elif cells:
            lines.append("| " + " | ".join(_md_escape(cell) for cell in cells) + " |")
    return "\n".join(lines)


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


def open_citation(service: Service, session: Session, number: int) -> CitationView | None:
    """The passage of citation `number` of the last answer, and its page image when there is one."""
    citation = next((c for c in session.citations if c.number == number), None)
    if citation is None:
        return None
    lang = session.lang
    header = f"**{_md_escape(citation.source)}**"
    if citation.page:
        header += f" · {t(lang, 'page_short', page=citation.page)}"
    header += _kind_note(citation, lang)
    header += f" · {t(lang, 'score', score=citation.score)}"
    if citation.kind == TABLE:
        quoted = _table_md(citation.text)
    else:
        quoted = "\n".join(f"> {_md_escape(line)}" for line in citation.text.splitlines() if line)
    passage_md = f"{header}\n\n{quoted}"
    if citation.quote:
        # The reply quotes one passage of the chunk: that is what is shown first and marked.
        label = t(lang, "quoted")
        passage_md = f"{header}\n\n**{label}:** {_md_escape(citation.quote)}\n\n{quoted}"
    marked = citation.quote or citation.text
    if not citation.source.lower().endswith(".pdf") or not citation.page:
        return CitationView(passage_md, None, t(lang, "no_image_format"))
    original = service.find_original(citation.path, citation.source, kb=session.kb_name)
    if original is None:
        return CitationView(passage_md, None, t(lang, "no_image_missing"))
    from kbqa.ui.pages import render_page

    try:
        view = render_page(original, citation.page, marked)
    except Exception as error:  # a damaged or replaced file: say so, keep the passage
        return CitationView(passage_md, None, t(lang, "no_image_error", error=error))
    note = t(lang, "page_long", page=view.page, count=view.page_count) + " · "
    note += t(lang, "marked" if view.marked else "not_marked")
    return CitationView(passage_md, view, note)


# -- knowledge base panel --------------------------------------------------------------------
def file_rows(service: Service, kb_name: str) -> list[list[Any]]:
    """[document, chunks, pages] per file; the document is its key (its name, for uploads)."""
    return [[record.doc, record.chunks, record.pages or ""] for record in service.files(kb_name)]


def ingest_uploads(
    service: Service,
    session: Session,
    files: list[str],
    progress: ProgressFn | None = None,
) -> list[list[str]]:
    """Check, keep and ingest uploaded files. Returns one [file, result, detail] row per file.

    `progress(done, total, name)` is called while the files are read (name: the file at hand)."""
    names = [sanitize_filename(Path(file).name) for file in files]

    def step(done: float, total: int, _what: str) -> None:
        # The knowledge base reports fractions of files while it embeds, and in its own words;
        # the file at hand is named here. Its position is known when no file was rejected.
        if progress is not None:
            at_hand = names[min(int(done), total - 1)] if total == len(names) else ""
            progress(done, total, at_hand)

    report = service.upload(files, kb=session.kb_name, progress=step)
    return [_result_row(result, session.lang) for result in report.results]


def _result_row(result: FileResult, lang: str) -> list[str]:
    # Rejections first (in upload order), then the accepted files, as the service lists them.
    notes: list[str] = []
    if result.status == "rejected":
        notes.append(rejection_text(result.code, result.params, lang))
    elif result.status == "failed":
        notes.append(result.detail)  # the loader's reason ("encrypted PDF (password required)")
    elif result.chunks is not None:
        notes.append(t(lang, "chunks_n", n=result.chunks))
    if result.renamed and result.status != "rejected":
        notes.append(t(lang, "renamed", name=result.stored_as))
    return [result.name, t(lang, f"result_{result.status}"), "; ".join(notes)]


def rejection_text(code: str, params: dict[str, Any], lang: str) -> str:
    """Why an upload was refused (a `kbqa.service.Rejection` code), in `lang`."""
    values = dict(params)
    if code == "unsupported_type":
        values["extension"] = values.get("extension") or t(lang, "no_extension")
        values["allowed"] = ", ".join(values.get("allowed", []))
    return t(lang, f"reject_{code}", **values)


def delete_file(service: Service, session: Session, doc: str) -> int:
    """Remove document `doc` from the session's knowledge base, and its kept upload if any."""
    removed = service.remove_file(doc, kb=session.kb_name)
    session.citations = [c for c in session.citations if (c.path or c.source) != doc]
    return removed


def reindex(service: Service, session: Session) -> str:
    """Read every file of the session's knowledge base again; what happened, as one line."""
    report: IngestReport = service.reindex(kb=session.kb_name)
    counts = {
        key: len(getattr(report, key))
        for key in ("added", "updated", "unchanged", "removed", "failed")
    }
    return t(session.lang, "reindexed", **counts, seconds=report.seconds)


# -- retrieval tab ---------------------------------------------------------------------------
def search_rows(
    service: Service, session: Session, query: str, mode: str | None
) -> list[list[Any]]:
    hits = service.search(query, kb=session.kb_name, settings=session.settings, mode=mode)
    return [
        [
            rank,
            round(float(hit.score), 3),
            _relevance(hit),
            hit.source + _kind_note(hit, session.lang),
            hit.page or "",
            hit.text,
        ]
        for rank, hit in enumerate(hits, start=1)
    ]


def _relevance(hit: Any) -> float | str:
    return "" if hit.relevance is None else round(float(hit.relevance), 2)


def user_message(error: BaseException, lang: str) -> str:
    """An error as the user should read it: in their language when its code has a text, else
    the service's message (KBQAErrors say what to do; others only what failed)."""
    info = error_info(error)
    key = f"error_{info.code}"
    if key in TEXT["en"]:
        return t(lang, "error", error=t(lang, key, **info.params))
    return t(lang, "error", error=info.message)
