"""The development question set is honest, the shipped documents are what the scripts build, and
the question/prediction file reader rejects malformed input with clear errors.

Documents are extracted here directly (pypdfium2, python-docx, BeautifulSoup, plain decoding),
not through kbqa's loaders, so a loader bug cannot make the dev set look right.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import unicodedata
from collections import Counter
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from kbqa.eval.dataset import (
    DatasetError,
    Prediction,
    Question,
    parse_question,
    read_predictions,
    read_questions,
    write_predictions,
    write_questions,
)
from kbqa.eval.metrics import answer_matches, normalize
from kbqa.types import Hit
from tests.conftest import REPO

DEV_SET = REPO / "eval" / "dev" / "questions.jsonl"
KNOWLEDGE = REPO / "knowledge"
CORPUS = REPO / "eval" / "corpus"


def corpus_files() -> dict[str, Path]:
    files = [p for folder in (KNOWLEDGE, CORPUS) for p in sorted(folder.iterdir()) if p.is_file()]
    names = Counter(p.name for p in files)
    assert not [n for n, c in names.items() if c > 1], "base names must be unique"
    return {p.name: p for p in files}


@cache
def pages_of(name: str) -> tuple[str, ...]:
    """The text of a document: one entry per physical page for PDFs, one entry otherwise."""
    path = corpus_files()[name]
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(str(path))
        try:
            return tuple(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        finally:
            pdf.close()
    if suffix == ".docx":
        import docx

        document = docx.Document(str(path))
        cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
        return ("\n".join([p.text for p in document.paragraphs] + cells),)
    if suffix in (".html", ".htm"):
        from bs4 import BeautifulSoup

        return (BeautifulSoup(path.read_bytes(), "html.parser").get_text("\n"),)
    data = path.read_bytes()
    try:
        return (data.decode("utf-8"),)
    except UnicodeDecodeError:
        return (data.decode("gb18030"),)


@pytest.fixture(scope="module")
def dev() -> list[Question]:
    return read_questions(DEV_SET)


def answerable(items: list[Question]) -> list[Question]:
    return [q for q in items if q.answerable]


# --- the dev set -------------------------------------------------------------------------------


def test_dev_set_size_languages_and_kinds(dev: list[Question]) -> None:
    assert len(dev) >= 48
    langs = Counter(q.lang for q in dev)
    assert set(langs) == {"zh", "en"}
    assert 0.4 <= langs["zh"] / len(dev) <= 0.6
    kinds = Counter((q.lang, q.kind) for q in dev)
    for lang in ("zh", "en"):
        assert kinds[lang, "unanswerable"] >= 3
        assert kinds[lang, "multi-turn"] >= 3
    assert sum(kinds[lang, "unanswerable"] for lang in ("zh", "en")) >= 6
    assert sum(kinds[lang, "multi-turn"] for lang in ("zh", "en")) >= 6


def test_every_document_is_asked_about(dev: list[Question]) -> None:
    asked = {q.doc for q in dev}
    assert set(corpus_files()) <= asked


def test_follow_ups_lean_on_the_conversation(dev: list[Question]) -> None:
    # The last turn refers back with a pronoun, so it cannot be answered on its own.
    pronoun = re.compile(r"它|其|\b(it|its|they|their|them)\b", re.I)
    for q in dev:
        if q.kind == "multi-turn":
            assert pronoun.search(q.turns[-1]), q.id


def test_unanswerable_items_carry_no_ground_truth(dev: list[Question]) -> None:
    for q in dev:
        if q.kind == "unanswerable":
            assert q.answers == () and q.evidence is None and q.doc is None, q.id


def test_evidence_is_on_the_stated_page_and_nowhere_else(dev: list[Question]) -> None:
    names = corpus_files()
    for q in answerable(dev):
        assert q.doc in names, f"{q.id}: {q.doc} is not in knowledge/ or eval/corpus/"
        assert q.evidence, q.id
        pages = pages_of(q.doc)
        is_pdf = q.doc.lower().endswith(".pdf")
        assert (q.page is not None) == is_pdf, f"{q.id}: page must be set for PDFs only"
        evidence = normalize(q.evidence)
        if is_pdf:
            assert q.page is not None and 1 <= q.page <= len(pages), q.id
            assert evidence in normalize(pages[q.page - 1]), f"{q.id}: not on page {q.page}"
        # Exactly one place in the whole corpus holds it, so retrieval is scored against one spot.
        places = [
            (name, index)
            for name in names
            for index, text in enumerate(pages_of(name))
            if evidence in normalize(text)
        ]
        assert len(places) == 1, f"{q.id}: evidence found at {places}"


def test_an_accepted_answer_is_in_the_evidence(dev: list[Question]) -> None:
    for q in answerable(dev):
        assert q.evidence and answer_matches(q, q.evidence), q.id


def test_unanswerable_questions_are_not_covered(dev: list[Question]) -> None:
    # The subject each unanswerable question hinges on appears nowhere in the corpus.
    subjects = ["GPT-4", "INT2", "password_max_age", "C 线", "eviction_policy", "LLaMA 2", "café"]
    everything = normalize(" ".join(t for n in corpus_files() for t in pages_of(n))).casefold()
    for subject in subjects:
        assert normalize(subject).casefold() not in everything, subject
    questions = " ".join(q.question for q in dev if q.kind == "unanswerable")
    assert all(s in questions for s in subjects)


# --- the shipped documents ---------------------------------------------------------------------


def test_sample_knowledge_base_is_small_bilingual_and_has_the_demo_fact() -> None:
    texts = [p for p in KNOWLEDGE.iterdir() if p.suffix == ".md"]
    assert {p.name.split(".")[-2] for p in texts} == {"zh", "en"}
    assert sum(p.stat().st_size for p in texts) < 100_000
    assert "ChatGLM-6B 具有 62 亿参数" in (KNOWLEDGE / "chatglm-6b.zh.md").read_text("utf-8")
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(KNOWLEDGE / "llm-families.pdf"))
    try:
        assert len(pdf) >= 5
        assert len(list(pdf.get_toc())) == len(pdf)  # one bookmark per section page
    finally:
        pdf.close()


def test_eval_corpus_formats_and_size() -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(CORPUS / "orrery-gateway-manual.pdf"))
    try:
        assert len(pdf) >= 60
    finally:
        pdf.close()
    assert {p.suffix for p in CORPUS.iterdir()} >= {".pdf", ".txt", ".md", ".html", ".docx"}
    assert sum(p.stat().st_size for p in CORPUS.iterdir()) < 3_000_000
    gbk = (CORPUS / "property-notice.zh.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        gbk.decode("utf-8")  # really GBK, so the loader's encoding detection is exercised
    assert "枫林苑" in gbk.decode("gbk")


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


def test_committed_documents_are_what_the_scripts_build(tmp_path: Path) -> None:
    knowledge = _script("build_knowledge_pdf")
    rebuilt = knowledge.build(tmp_path / "llm-families.pdf", knowledge.PAGES)
    assert rebuilt.read_bytes() == (KNOWLEDGE / "llm-families.pdf").read_bytes()
    corpus = _script("build_eval_corpus")
    built = corpus.build_corpus(tmp_path / "corpus")
    assert sorted(p.name for p in built) == sorted(p.name for p in CORPUS.iterdir())
    for path in built:
        assert path.read_bytes() == (CORPUS / path.name).read_bytes(), (
            f"{path.name} differs: run python scripts/build_eval_corpus.py and commit"
        )


# --- reading and writing the files -------------------------------------------------------------


def write_lines(path: Path, *rows: object) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "en-1", "lang": "en", "question": "Q?", "answers": ["a"], "kind": "fact"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, "missing 'id'"),
        ({"question": None}, "missing 'question'"),
        ({"question": "  "}, "'question' is empty"),
        ({"kind": "trivia"}, "'kind' must be one of"),
        ({"answers": "a"}, "'answers' must be a list of strings"),
        ({"answers": []}, "no 'answers'"),
        ({"kind": "unanswerable"}, "unanswerable item must have empty 'answers'"),
        ({"kind": "multi-turn"}, "needs 'turns'"),
        ({"kind": "multi-turn", "turns": ["First?", "Other?"]}, "must equal the last turn"),
        ({"turns": ["First?", "Q?"]}, "'turns' given but 'kind' is 'fact'"),
        ({"doc": "docs/guide.pdf", "page": 2}, "must be a file base name"),
        ({"page": 0, "doc": "a.pdf"}, "1-based page number"),
        ({"page": 3}, "'page' given without 'doc'"),
    ],
)
def test_invalid_questions_are_rejected(tmp_path: Path, change: dict, message: str) -> None:
    row = {**GOOD, **change}
    row = {k: v for k, v in row.items() if v is not None}
    path = write_lines(tmp_path / "q.jsonl", GOOD | {"id": "ok"}, row)
    with pytest.raises(DatasetError, match=re.escape(message)) as error:
        read_questions(path)
    assert f"{path}:2" in str(error.value)  # the line is named


def test_reader_reports_bad_json_duplicates_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"q\.jsonl:2: not valid JSON"):
        read_questions(write_lines(tmp_path / "q.jsonl", GOOD, "{oops"))
    with pytest.raises(DatasetError, match=r"duplicate id 'en-1' \(first at .*:1\)"):
        read_questions(write_lines(tmp_path / "q.jsonl", GOOD, GOOD))
    with pytest.raises(DatasetError, match="no questions"):
        read_questions(write_lines(tmp_path / "q.jsonl", ""))
    with pytest.raises(DatasetError, match="file not found"):
        read_questions(tmp_path / "missing.jsonl")


def test_unknown_fields_are_ignored_and_defaults_filled(tmp_path: Path) -> None:
    rows = [
        {"id": 7, "question": "它的词表有多大？", "answers": ["130528"], "source_url": "x"},
        {"id": "t", "question": "And it?", "turns": ["About X?", "And it?"], "answers": ["1"]},
    ]
    first, second = read_questions(write_lines(tmp_path / "q.jsonl", *rows))
    assert (first.id, first.lang, first.kind, first.page) == ("7", "zh", "fact", None)
    assert second.kind == "multi-turn" and second.conversation == ("About X?", "And it?")


def test_questions_and_predictions_round_trip(tmp_path: Path, dev: list[Question]) -> None:
    assert read_questions(write_questions(tmp_path / "q.jsonl", dev)) == dev
    hits = [Hit(text="文本 1", source="a.pdf", page=2, score=0.71234), Hit("t2", "b.md", None, 0.5)]
    predictions = [Prediction.from_hits("zh-001", hits, "答案"), Prediction("en-001")]
    path = write_predictions(tmp_path / "p.jsonl", iter(predictions))
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["retrieved"][0] == {
        "text": "文本 1",
        "source": "a.pdf",
        "page": 2,
        "score": 0.7123,
    }
    assert first["answer"] == "答案"
    back = read_predictions(path)
    assert [p.id for p in back] == ["zh-001", "en-001"]
    assert back[0].retrieved[1].page is None and back[1].answer == ""


def test_predictions_reader_validates_and_keeps_the_last_of_repeated_ids(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "p.jsonl",
        {"id": "a", "retrieved": [], "answer": "old"},
        {"id": "a", "retrieved": [{"text": "x", "source": "s.pdf", "page": 1}], "answer": "new"},
    )
    (only,) = read_predictions(path)
    assert only.answer == "new" and only.retrieved[0].score is None
    bad = write_lines(tmp_path / "bad.jsonl", {"id": "a", "retrieved": [{"source": "s"}]})
    with pytest.raises(DatasetError, match=r"retrieved\[0\]: missing 'text'"):
        read_predictions(bad)


def test_parse_question_accepts_nfkc_variants_of_its_own_evidence() -> None:
    # Evidence is compared NFKC-normalised: full-width punctuation in the file is fine.
    q = parse_question(GOOD | {"evidence": "ＡＢＣ，４０９６。", "doc": "a.md"})
    assert normalize(q.evidence or "") == unicodedata.normalize("NFKC", "ABC,4096。")


# -- eval/tables ---------------------------------------------------------------------------------


@cache
def _table_texts(doc: str) -> list[str]:
    from kbqa import loaders
    from kbqa.types import TABLE

    sections = loaders.load(REPO / "eval" / "real" / "docs" / doc)
    return [normalize(s.text) for s in sections if s.kind == TABLE]


@pytest.mark.parametrize("split", ["tune", "test"])
def test_table_questions_ask_for_a_cell_of_a_table_kbqa_reads(split: str) -> None:
    """Every item's evidence is a cell (or the row's text) of a table as the loaders read it, so
    the set measures table retrieval; both languages; ids unique across the splits."""
    questions = read_questions(REPO / "eval" / "tables" / f"{split}.jsonl")
    assert {q.lang for q in questions} == {"zh", "en"} and len(questions) >= 18
    for question in questions:
        assert question.page is None and question.answers
        tables = _table_texts(question.doc)
        assert any(normalize(question.evidence) in table for table in tables), question.id
    other = "test" if split == "tune" else "tune"
    other_ids = {q.id for q in read_questions(REPO / "eval" / "tables" / f"{other}.jsonl")}
    assert not other_ids & {q.id for q in questions}
