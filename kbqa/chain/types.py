"""What the RAG chain returns to its callers (CLI, Python API, UI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kbqa.types import Hit


@dataclass(frozen=True)
class Citation:
    number: int  # the [n] used in the answer text
    source: str  # file base name
    page: int | None  # 1-based PDF page, None for other formats
    text: str  # the cited chunk's text
    score: float  # cosine similarity in [0, 1]
    path: str = ""


@dataclass
class Answer:
    question: str  # as the user asked it
    query: str  # the standalone query used for retrieval (after follow-up rewriting)
    text: str  # the reply as the user reads it, without the source list
    citations: list[Citation] = field(default_factory=list)  # the sources offered to the model, in [n] order
    hits: list[Hit] = field(default_factory=list)  # everything retrieved, best first
    refused: bool = False  # True when the knowledge base did not hold the answer
    language: Literal["zh", "en"] = "en"


@dataclass(frozen=True)
class AnswerEvent:
    """One item of a streamed answer: text pieces first, then exactly one final `done` event."""

    kind: Literal["retrieved", "token", "done"]
    text: str = ""
    answer: Answer | None = None  # set on "done" (and the hits on "retrieved")
