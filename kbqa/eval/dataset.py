"""Question files and prediction files (JSONL), as described in the question-set format.

Question file, one object a line:
    {"id": "en-001", "lang": "en", "question": "...", "answers": ["..."], "doc": "guide.pdf",
     "page": 24, "evidence": "...", "kind": "fact"}
  `kind` is fact, multi-turn (then `turns`, whose last entry equals `question`) or unanswerable
  (then `answers` is empty). `page` is the 1-based physical PDF page, null for other formats.
Prediction file, one object a line:
    {"id": "en-001", "retrieved": [{"text": "...", "source": "guide.pdf", "page": 24,
     "score": 0.71}], "answer": "..."}

Unknown fields are ignored. Invalid input raises `DatasetError` naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kbqa.errors import KBQAError
from kbqa.text.language import LANGUAGES, detect_language
from kbqa.types import Hit

Kind = Literal["fact", "multi-turn", "unanswerable"]
KINDS: tuple[str, ...] = ("fact", "multi-turn", "unanswerable")
LANGS: tuple[str, ...] = LANGUAGES


class DatasetError(KBQAError):
    """A question or prediction file is malformed; the message says where and why."""


@dataclass(frozen=True)
class Question:
    id: str
    question: str  # for multi-turn items, the last turn
    lang: str  # "zh" or "en"
    kind: Kind = "fact"
    answers: tuple[str, ...] = ()  # any one of them in the reply makes it correct
    doc: str | None = None  # base name of the document that answers it
    page: int | None = None  # 1-based physical page when `doc` is a PDF
    evidence: str | None = None  # the sentence of `doc` that holds the answer
    turns: tuple[str, ...] = ()  # multi-turn only: every turn, in order, the last == question
    case_sensitive: bool = False  # answers match case-insensitively unless this is set

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"

    @property
    def conversation(self) -> tuple[str, ...]:
        """What to send, in order, to one conversation: the turns, or just the question."""
        return self.turns or (self.question,)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "lang": self.lang,
            "kind": self.kind,
            "question": self.question,
        }
        if self.turns:
            data["turns"] = list(self.turns)
        data["answers"] = list(self.answers)
        data["doc"] = self.doc
        data["page"] = self.page
        data["evidence"] = self.evidence
        if self.case_sensitive:
            data["case_sensitive"] = True
        return data


@dataclass(frozen=True)
class RetrievedChunk:
    text: str
    source: str  # file base name
    page: int | None = None
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        score = None if self.score is None else round(float(self.score), 4)
        return {"text": self.text, "source": self.source, "page": self.page, "score": score}


@dataclass(frozen=True)
class Prediction:
    id: str
    retrieved: tuple[RetrievedChunk, ...] = ()  # best first
    answer: str = ""  # the reply without its source list; "" in retrieval-only mode

    @classmethod
    def from_hits(cls, id: str, hits: Sequence[Hit], answer: str = "") -> Prediction:
        chunks = tuple(
            RetrievedChunk(text=h.text, source=h.source, page=h.page, score=h.score) for h in hits
        )
        return cls(id=id, retrieved=chunks, answer=answer)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "retrieved": [chunk.to_json() for chunk in self.retrieved],
            "answer": self.answer,
        }


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _fail(where: str, message: str) -> DatasetError:
    return DatasetError(f"{where}: {message}" if where else message)


def _string(obj: dict[str, Any], key: str, where: str, *, required: bool) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise _fail(where, f"missing '{key}'")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key == "id":
        return str(value)  # numeric ids are common in hand-written sets
    if not isinstance(value, str):
        raise _fail(where, f"'{key}' must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise _fail(where, f"'{key}' is empty")
    return value


def _string_list(obj: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"'{key}' must be a list of strings")
    if any(not v.strip() for v in value):
        raise _fail(where, f"'{key}' contains an empty string")
    return tuple(value)


def _page(obj: dict[str, Any], where: str) -> int | None:
    page = obj.get("page")
    if page is None:
        return None
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise _fail(where, f"'page' must be a 1-based page number or null, not {page!r}")
    return page


def parse_question(obj: Any, where: str = "") -> Question:
    """Validate one question object; `where` ("file:line") prefixes error messages."""
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object, not {type(obj).__name__}")
    id_ = _string(obj, "id", where, required=True)
    assert id_ is not None
    where = f"{where} (id {id_})" if where else f"id {id_}"
    question = _string(obj, "question", where, required=True)
    assert question is not None
    turns = _string_list(obj, "turns", where)
    kind = obj.get("kind") or ("multi-turn" if turns else "fact")
    if kind not in KINDS:
        raise _fail(where, f"'kind' must be one of {', '.join(KINDS)}, not {kind!r}")
    lang = _string(obj, "lang", where, required=False) or detect_language(question)
    answers = _string_list(obj, "answers", where)
    doc = _string(obj, "doc", where, required=False)
    page = _page(obj, where)
    evidence = _string(obj, "evidence", where, required=False)
    case_sensitive = obj.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise _fail(where, "'case_sensitive' must be true or false")

    if kind == "multi-turn":
        if len(turns) < 2:
            raise _fail(where, "a multi-turn item needs 'turns' with at least two questions")
        if turns[-1].strip() != question.strip():
            raise _fail(
                where,
                f"'question' must equal the last turn: {question!r} != {turns[-1]!r}",
            )
    elif turns:
        raise _fail(where, f"'turns' given but 'kind' is {kind!r} (use 'multi-turn')")
    if kind == "unanswerable":
        if answers:
            raise _fail(where, "an unanswerable item must have empty 'answers'")
    elif not answers:
        raise _fail(where, "no 'answers': give the accepted answers, or use kind 'unanswerable'")
    if doc is not None and (not doc.strip() or os.path.basename(doc) != doc or "\\" in doc):
        raise _fail(where, f"'doc' must be a file base name, not {doc!r}")
    if page is not None and doc is None:
        raise _fail(where, "'page' given without 'doc'")
    if evidence is not None and not evidence.strip():
        raise _fail(where, "'evidence' is empty")
    return Question(
        id=id_,
        question=question,
        lang=lang,
        kind=kind,
        answers=answers,
        doc=doc,
        page=page,
        evidence=evidence,
        turns=turns,
        case_sensitive=case_sensitive,
    )


def parse_prediction(obj: Any, where: str = "") -> Prediction:
    if not isinstance(obj, dict):
        raise _fail(where, f"expected a JSON object, not {type(obj).__name__}")
    id_ = _string(obj, "id", where, required=True)
    assert id_ is not None
    where = f"{where} (id {id_})" if where else f"id {id_}"
    answer = _string(obj, "answer", where, required=False) or ""
    raw = obj.get("retrieved") or []
    if not isinstance(raw, list):
        raise _fail(where, "'retrieved' must be a list")
    chunks: list[RetrievedChunk] = []
    for rank, item in enumerate(raw, start=1):
        at = f"{where}, retrieved[{rank - 1}]"
        if not isinstance(item, dict):
            raise _fail(at, "expected a JSON object")
        text = _string(item, "text", at, required=False)
        if text is None:
            raise _fail(at, "missing 'text'")
        source = _string(item, "source", at, required=False) or ""
        score = item.get("score")
        if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
            raise _fail(at, f"'score' must be a number or null, not {score!r}")
        chunks.append(
            RetrievedChunk(
                text=text,
                source=source,
                page=_page(item, at),
                score=None if score is None else float(score),
            )
        )
    return Prediction(id=id_, retrieved=tuple(chunks), answer=answer)


def _jsonl(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, object) for each non-blank line."""
    try:
        handle = path.open(encoding="utf-8-sig")  # -sig: tolerate a BOM from Windows editors
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from None
            except UnicodeDecodeError:
                raise DatasetError(f"{where}: not UTF-8 text") from None


def read_questions(path: str | os.PathLike[str]) -> list[Question]:
    """Read and validate a question file; ids must be unique."""
    path = Path(path)
    questions: list[Question] = []
    seen: dict[str, str] = {}
    for where, obj in _jsonl(path):
        item = parse_question(obj, where)
        if item.id in seen:
            raise DatasetError(f"{where}: duplicate id {item.id!r} (first at {seen[item.id]})")
        seen[item.id] = where
        questions.append(item)
    if not questions:
        raise DatasetError(f"{path}: no questions")
    return questions


def read_predictions(path: str | os.PathLike[str]) -> list[Prediction]:
    """Read a prediction file; a repeated id keeps its last line (a resumed run appends)."""
    path = Path(path)
    by_id: dict[str, Prediction] = {}
    for where, obj in _jsonl(path):
        prediction = parse_prediction(obj, where)
        by_id.pop(prediction.id, None)
        by_id[prediction.id] = prediction
    return list(by_id.values())


def _write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        handle.writelines(_line(row) for row in rows)
    return path


def _line(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_questions(path: str | os.PathLike[str], questions: Iterable[Question]) -> Path:
    return _write_jsonl(path, (q.to_json() for q in questions))


def write_predictions(path: str | os.PathLike[str], predictions: Iterable[Prediction]) -> Path:
    """Write predictions; `predictions` may be a generator, each line is written as it comes."""
    return _write_jsonl(path, (p.to_json() for p in predictions))


def prediction_line(prediction: Prediction) -> str:
    """One prediction as a JSONL line, for callers that append as they go."""
    return _line(prediction.to_json())
