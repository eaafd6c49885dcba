"""The eval/real question set: third-party documents that are what the manifest says, questions
whose evidence is really on the stated page as kbqa extracts it, and the documented tune/test split.

The checks themselves live in eval/real/check.py (the same functions `python eval/real/check.py`
runs); this file runs them and shows, on altered items, that they do catch mistakes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from kbqa.eval.dataset import Question
from tests.conftest import REPO

REAL = REPO / "eval" / "real"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REAL / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


check = _module("check")
fetch = sys.modules.get("fetch") or _module("fetch")
mantext = sys.modules.get("mantext") or _module("mantext")


@pytest.fixture(scope="module")
def sets() -> dict[str, list[Question]]:
    return check.read_all()


@pytest.fixture(scope="module")
def everything(sets: dict[str, list[Question]]) -> list[Question]:
    return [q for items in sets.values() for q in items]


def test_committed_documents_match_the_manifest() -> None:
    assert fetch.verify() == []
    entries = json.loads((REAL / "sources.json").read_text(encoding="utf-8"))["documents"]
    assert len(entries) >= 12
    for entry in entries:
        assert entry["licence"] and entry["version"] and entry["package"], entry["doc"]
        assert entry["source"] in ("debian", "pypi")
        assert (REAL / "docs" / entry["doc"]).stat().st_size == entry["bytes"]
    pdfs = [e for e in entries if e["doc"].endswith(".pdf")]
    assert len(pdfs) >= 4 and any(e["lang"] == "zh" for e in pdfs)
    assert {e["lang"] for e in entries} == {"zh", "en"}
    assert {Path(e["doc"]).suffix for e in entries} >= {".pdf", ".txt", ".md", ".html"}
    assert 2_000_000 <= sum(e["bytes"] for e in entries) <= 4_000_000


def test_a_changed_document_is_reported(tmp_path: Path) -> None:
    for entry in json.loads((REAL / "sources.json").read_text(encoding="utf-8"))["documents"]:
        (tmp_path / entry["doc"]).write_bytes((REAL / "docs" / entry["doc"]).read_bytes())
    (tmp_path / "dd.zh.txt").write_bytes(b"changed\n")
    (tmp_path / "stray.md").write_text("x", encoding="utf-8")
    assert fetch.verify(tmp_path) == [
        "dd.zh.txt: sha256 differs from the manifest",
        "stray.md: not in the manifest",
    ]


def test_size_languages_and_kinds(everything: list[Question]) -> None:
    assert len(everything) >= 200
    langs = Counter(q.lang for q in everything)
    assert langs["zh"] >= 80 and langs["en"] >= 80
    kinds = Counter(q.kind for q in everything)
    assert kinds["multi-turn"] >= 20 and kinds["unanswerable"] >= 30
    asked = {q.doc for q in everything if q.doc}
    assert asked == set(check.documents())  # every document is asked about


def test_split_follows_the_rule_and_both_halves_cover_everything(sets) -> None:
    assert check.check_splits(sets) == []
    total = sum(len(items) for items in sets.values())
    for items in sets.values():
        assert 0.4 <= len(items) / total <= 0.6
        cells = Counter((q.lang, q.kind) for q in items)
        for lang in ("zh", "en"):
            for kind in ("fact", "multi-turn", "unanswerable"):
                assert cells[lang, kind] >= 3, (lang, kind)


def test_every_item_checks_out_against_the_extracted_text(everything: list[Question]) -> None:
    problems = [p for q in everything for p in check.check_question(q)]
    assert problems == []


def test_the_extra_tune_questions_check_out_and_belong_to_tune(sets) -> None:
    extra = check.read_extra()
    assert len(extra) >= 40 and {q.kind for q in extra} == {"fact", "unanswerable"}
    assert check.check_splits(sets, extra) == []
    assert [p for q in extra for p in check.check_question(q)] == []
    moved = dataclasses.replace(extra[0], id=next(q.id for q in sets["test"]))
    assert any("in both" in p for p in check.check_splits(sets, [moved]))


def test_the_checker_catches_wrong_pages_evidence_answers_and_present_terms(everything) -> None:
    pdf = next(q for q in everything if q.page and q.kind == "fact")
    moved = dataclasses.replace(pdf, page=pdf.page + 1)
    assert check.check_question(moved) == [
        f"{pdf.id}: evidence not on page {moved.page} of {pdf.doc}"
    ]
    text = next(q for q in everything if q.doc and not q.page and q.kind == "fact")
    invented = dataclasses.replace(text, evidence=text.evidence + " and something else")
    assert check.check_question(invented) == [f"{text.id}: evidence not in {text.doc}"]
    common = dataclasses.replace(text, evidence="GNU")
    assert any("evidence occurs in" in p for p in check.check_question(common))
    wrong = dataclasses.replace(text, answers=("no such answer",))
    assert check.check_question(wrong) == [f"{text.id}: no accepted answer occurs in the evidence"]
    follow = next(q for q in everything if q.kind == "multi-turn")
    bare = dataclasses.replace(follow, turns=(*follow.turns[:-1], "And the default?"))
    assert f"{follow.id}: the follow-up has no pronoun" in check.check_question(bare)
    near = next(q for q in everything if q.kind == "unanswerable")
    assert check.check_unanswerable(near) == []
    assert check.check_unanswerable(near, ("RateLimitBurst",)) == [
        f"{near.id}: 'RateLimitBurst' does occur in the documents"
    ]


def test_unanswerable_notes_name_the_absent_term(everything: list[Question]) -> None:
    rows = [
        json.loads(line)
        for split in (*check.SPLITS, *check.EXTRA)
        for line in check.split_file(split).read_text(encoding="utf-8").splitlines()
    ]
    for row in rows:
        if row["kind"] == "unanswerable":
            assert row["absent"] in row["note"] and "no match" in row["note"], row["id"]


def test_man_pages_are_laid_out_like_man_does() -> None:
    page = mantext.man_to_text(
        '.TH DEMO 1\n.SH OPTIONS\n.TP\n.BI "\\-n " NUM\nUse \\fINUM\\fR lines\n(default 10).\n'
        ".PP\nDone \\- bye.\n"
    )
    assert (
        page
        == "DEMO(1)\n\nOPTIONS\n\n    -n NUM\n        Use NUM lines (default 10).\n\n    Done - bye.\n"
    )
