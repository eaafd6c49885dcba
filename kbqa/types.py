"""Records that flow through the pipeline: loader -> splitter -> store -> retriever -> chain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Section:
    """A run of text a loader found: one PDF page, or the text under one heading."""

    text: str
    page: int | None = None  # 1-based physical page for PDFs, None for other formats
    heading: str | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedder, with where it came from."""

    text: str
    source: str  # the file's base name
    path: str  # the file's path relative to the ingested folder
    position: int  # 0-based index of the chunk within its document
    page: int | None = None
    heading: str | None = None

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        del data["text"]
        return data


@dataclass
class Hit:
    """A retrieved chunk. `score` is the cosine similarity to the query, clamped to [0, 1]."""

    text: str
    source: str
    page: int | None
    score: float
    path: str = ""
    position: int = 0
    heading: str | None = None
    chunk_id: str = ""
    dense_rank: int | None = None  # 1-based rank in the dense list, None if not in it
    bm25_rank: int | None = None
    # Estimated probability that the chunk holds the answer (kbqa/chain/calibration.py); None
    # where no calibration was measured (other embedders and modes).
    relevance: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source": self.source,
            "page": self.page,
            "score": round(float(self.score), 4),
            "relevance": None if self.relevance is None else round(float(self.relevance), 4),
            "path": self.path,
            "position": self.position,
            "heading": self.heading,
            "chunk_id": self.chunk_id,
        }
