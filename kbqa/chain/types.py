"""What the RAG chain returns to its callers (CLI, Python API, UI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from kbqa.types import OCR, TABLE, TEXT, Hit


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] used in the answer text
    source: str  # file base name
    page: int | None  # 1-based PDF page, None for other formats
    text: str  # the cited chunk's text
    score: float  # cosine similarity in [0, 1]
    path: str = ""
    # The passage of `text` a reply built from the source quotes ("" when it quotes none), and
    # where it lies in `text` (character offsets; None when not located): what the UI marks.
    quote: str = ""
    span: tuple[int, int] | None = None
    kind: str = TEXT  # "text", "table" (rows under their header, as Markdown) or "ocr"
    table: str | None = None  # a table passage's table: "Table 2", a sheet's name

    def label(self) -> str:
        """`[1] guide.pdf, p. 3` (no page for formats without pages), with the table it is from
        (`, Table 2`) or `(OCR)` for text read from a scanned page or an image."""
        page = f", p. {self.page}" if self.page is not None else ""
        return f"[{self.number}] {self.path or self.source}{page}{self.where()}"

    def where(self) -> str:
        if self.kind == TABLE and self.table:
            return f", {self.table}"
        return " (OCR)" if self.kind == OCR else ""


@dataclass
class Answer:
    question: str  # as the user asked it
    query: str  # the standalone query used for retrieval (after follow-up rewriting)
    text: str  # the reply as the user reads it, without the source list
    citations: list[Citation] = field(
        default_factory=list
    )  # the sources offered to the model, in [n] order
    hits: list[Hit] = field(default_factory=list)  # everything retrieved, best first
    refused: bool = False  # True when the knowledge base did not hold the answer
    language: Literal["zh", "en"] = "en"
    # Added by the chain (all optional for consumers):
    cited: list[int] = field(default_factory=list)  # the [n] numbers the text uses, in order
    rewrite: Literal["none", "llm", "history"] = "none"  # how `query` was made from `question`
    resolved: str = ""  # the question as the model read it (a follow-up made standalone)
    model_text: str = ""  # the model's own words (without the grounding note); "" when refused
    # Why a small model's own words were withheld from a source-first reply (the checks that
    # failed, chain/guard.py); "" when they were shown or the model is trusted.
    note: str = ""
    refusal_reason: str = ""  # why the knowledge base was judged not to hold the answer
    prompt_tokens: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)  # the prompt sent to the model
    timings: dict[str, float] = field(default_factory=dict)  # seconds: retrieve, first_token, total

    @property
    def sources(self) -> list[Citation]:
        """The citations the text refers to, or all offered ones when it names none."""
        if not self.cited:
            return list(self.citations)
        return [c for c in self.citations if c.number in self.cited]

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "query": self.query,
            "answer": self.text,
            "refused": self.refused,
            "language": self.language,
            "citations": [
                {
                    "number": c.number,
                    "source": c.source,
                    "page": c.page,
                    "score": round(c.score, 4),
                    "kind": c.kind,
                    "table": c.table,
                }
                for c in self.citations
            ],
            "cited": self.cited,
            "retrieved": [h.to_json() for h in self.hits],
        }


@dataclass(frozen=True)
class AnswerEvent:
    """One item of a streamed answer: text pieces first, then exactly one final `done` event."""

    kind: Literal["retrieved", "token", "done"]
    text: str = ""
    answer: Answer | None = None  # set on "done" (and the hits on "retrieved")
