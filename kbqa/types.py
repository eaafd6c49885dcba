"""Records that flow through the pipeline: loader -> splitter -> store -> retriever -> chain."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# What a Section or Chunk holds: running text, a table's rows, or text read from an image by OCR.
TEXT, TABLE, OCR = "text", "table", "ocr"
KINDS = (TEXT, TABLE, OCR)


@dataclass(frozen=True)
class Section:
    """A run of text a loader found: one PDF page, the text under one heading, or one table.

    A table (kind "table") keeps its cells in `rows`, the header row first, and its label in
    `table` ("Table 2", a sheet's name); `text` is the table as Markdown. The splitter packs a
    table's rows into chunks that each repeat the header and never cut a row.
    """

    text: str
    page: int | None = None  # 1-based physical page for PDFs (slides for .pptx), else None
    heading: str | None = None
    kind: str = TEXT
    rows: tuple[tuple[str, ...], ...] = ()
    table: str | None = None

    def to_json(self) -> list[Any]:
        """A compact JSON form (the reader process's replies)."""
        if self.kind == TABLE:
            return [self.text, self.page, self.heading, self.kind, self.rows, self.table]
        if self.kind != TEXT:
            return [self.text, self.page, self.heading, self.kind]
        return [self.text, self.page, self.heading]

    @classmethod
    def from_json(cls, data: list[Any]) -> Section:
        text, page, heading, *rest = data
        kind = rest[0] if rest else TEXT
        rows = tuple(tuple(row) for row in rest[1]) if len(rest) > 1 else ()
        table = rest[2] if len(rest) > 2 else None
        return cls(text, page, heading, kind, rows, table)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document sized for the embedder, with where it came from."""

    text: str
    source: str  # the file's base name
    path: str  # the file's path relative to the ingested folder
    position: int  # 0-based index of the chunk within its document
    page: int | None = None
    heading: str | None = None
    kind: str = TEXT  # "text", "table" (rows under their header) or "ocr" (read from an image)
    table: str | None = None  # a table chunk's table: "Table 2", a sheet's name

    def metadata(self) -> dict[str, Any]:
        data = asdict(self)
        del data["text"]
        # Plain text chunks keep the metadata they always had (stores and tests compare it).
        if data["kind"] == TEXT:
            del data["kind"]
        if data["table"] is None:
            del data["table"]
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
    kind: str = TEXT  # as Chunk.kind
    table: str | None = None
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
            "kind": self.kind,
            "table": self.table,
        }
