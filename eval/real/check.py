"""Check the eval/real question set against the documents as kbqa extracts them.

    python eval/real/check.py          # all checks, then the counts per language, kind, split

Checks:
- every file parses with kbqa's reader (`kbqa.eval.dataset.read_questions`), ids are unique
  across `tune.jsonl` and `test.jsonl`, and each id sits in the file the split rule names;
- each answerable item's evidence occurs, normalised as kbqa's metrics compare text (NFKC, all
  whitespace removed: `kbqa.eval.metrics.normalize`), in its document's text as
  `kbqa.loaders.load` extracts it (tables read as text), and for a PDF on the stated 1-based
  physical page;
- the evidence occurs in one place of the corpus only, so retrieval is scored against one spot;
- an accepted answer occurs in the evidence (`kbqa.eval.metrics.answer_matches`);
- multi-turn follow-ups lean on the conversation (a pronoun in the last turn);
- each unanswerable item names, in `absent`, the term it hinges on, and that term occurs in no
  document (case-folded), which its `note` also records;
- the committed documents match the manifest's sha256 (`fetch.verify`).

Split rule: an id goes to `test` when the first byte of sha256(id) is odd, else to `tune`.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOCS = HERE / "docs"
SPLITS = ("tune", "test")
# Questions added after the split, to tune on only: each id is one the split rule puts in `tune`
# (tune-extra.jsonl: 50 items written in the sixteenth session without reading test.jsonl).
EXTRA = ("tune-extra",)
sys.path.insert(0, str(HERE))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kbqa.eval.dataset import Question, read_questions  # noqa: E402
from kbqa.eval.metrics import answer_matches, normalize  # noqa: E402

_PRONOUN = re.compile(r"它|其|\b(it|its|they|their|them|this|that)\b", re.I)


def split_of(question_id: str) -> str:
    """The documented split rule: odd first byte of sha256(id) -> test, even -> tune."""
    return "test" if hashlib.sha256(question_id.encode("utf-8")).digest()[0] % 2 else "tune"


def split_file(split: str) -> Path:
    return HERE / f"{split}.jsonl"


def read_split(split: str) -> list[Question]:
    return read_questions(split_file(split))


def read_all() -> dict[str, list[Question]]:
    return {split: read_split(split) for split in SPLITS}


def read_extra() -> list[Question]:
    return [q for name in EXTRA for q in read_split(name)]


@cache
def pages(doc: str) -> tuple[str, ...]:
    """The document's extracted text: one entry per physical page for PDFs, one entry else.

    Read with tables as text (`ingest.tables` off): the evidence was copied before kbqa kept
    tables as Markdown rows. A table's words then read differently in a chunk ("| 990 | ... |"),
    and a PDF item's hit is still credited by its page (kbqa/eval/metrics.py)."""
    from kbqa.loaders import load
    from kbqa.settings import IngestSettings

    sections = load(DOCS / doc, IngestSettings(tables=False))
    if doc.lower().endswith(".pdf"):
        count = max(s.page or 0 for s in sections)
        by_page = [""] * count
        for section in sections:
            if section.page:
                by_page[section.page - 1] += section.text + "\n"
        return tuple(by_page)
    return ("\n".join(s.text for s in sections),)


@cache
def normalized_pages(doc: str) -> tuple[str, ...]:
    return tuple(normalize(text) for text in pages(doc))


def documents() -> list[str]:
    return sorted(p.name for p in DOCS.iterdir() if p.is_file())


@cache
def corpus_folded() -> str:
    """All documents' text, normalised and case-folded, for the absence check."""
    return "\x00".join(t for d in documents() for t in normalized_pages(d)).casefold()


def evidence_places(evidence: str) -> list[tuple[str, int]]:
    """(doc, 1-based page or 0) of every place in the corpus whose text holds `evidence`."""
    needle = normalize(evidence)
    return [
        (doc, index + 1 if doc.lower().endswith(".pdf") else 0)
        for doc in documents()
        for index, text in enumerate(normalized_pages(doc))
        if needle in text
    ]


def check_question(q: Question) -> list[str]:
    """What is wrong with one item (empty when it is right)."""
    problems: list[str] = []
    if q.kind == "unanswerable":
        return check_unanswerable(q)
    if q.kind == "multi-turn" and not _PRONOUN.search(q.turns[-1]):
        problems.append(f"{q.id}: the follow-up has no pronoun")
    if not q.doc or not (DOCS / q.doc).is_file():
        return [*problems, f"{q.id}: doc {q.doc!r} is not in eval/real/docs"]
    if not q.evidence:
        return [*problems, f"{q.id}: no evidence"]
    is_pdf = q.doc.lower().endswith(".pdf")
    if (q.page is not None) != is_pdf:
        problems.append(f"{q.id}: page must be set for PDFs only")
    texts = normalized_pages(q.doc)
    needle = normalize(q.evidence)
    if is_pdf and q.page is not None:
        if not 1 <= q.page <= len(texts) or needle not in texts[q.page - 1]:
            problems.append(f"{q.id}: evidence not on page {q.page} of {q.doc}")
    elif needle not in texts[0]:
        problems.append(f"{q.id}: evidence not in {q.doc}")
    if len(places := evidence_places(q.evidence)) > 1:
        problems.append(f"{q.id}: evidence occurs in {len(places)} places: {places}")
    if not answer_matches(q, q.evidence):
        problems.append(f"{q.id}: no accepted answer occurs in the evidence")
    return problems


def check_unanswerable(q: Question, absent: tuple[str, ...] | None = None) -> list[str]:
    """`absent`: the terms the item hinges on (default: its `absent` field in the files)."""
    absent = absent if absent is not None else _absent_terms().get(q.id)
    if not absent:
        return [f"{q.id}: unanswerable item without an 'absent' term"]
    problems = [
        f"{q.id}: {term!r} does occur in the documents"
        for term in absent
        if normalize(term).casefold() in corpus_folded()
    ]
    if q.answers or q.doc or q.evidence:
        problems.append(f"{q.id}: unanswerable item carries answers, doc or evidence")
    return problems


@cache
def _absent_terms() -> dict[str, tuple[str, ...]]:
    """id -> the `absent` term(s) of unanswerable items (a field kbqa's reader ignores)."""
    import json

    terms: dict[str, tuple[str, ...]] = {}
    for split in (*SPLITS, *EXTRA):
        for line in split_file(split).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                value = row.get("absent")
                if value:
                    terms[str(row["id"])] = tuple([value] if isinstance(value, str) else value)
    return terms


def check_splits(sets: dict[str, list[Question]], extra: Iterable[Question] = ()) -> list[str]:
    """Ids unique across the files, each in the file its split rule names (`extra`: tune's)."""
    problems = []
    seen: dict[str, str] = {}
    for split, items in [*sets.items(), ("tune", list(extra))]:
        for q in items:
            if q.id in seen:
                problems.append(f"{q.id}: in both {seen[q.id]} and {split}")
            seen[q.id] = split
            if split_of(q.id) != split:
                problems.append(f"{q.id}: the split rule puts it in {split_of(q.id)}, not {split}")
    return problems


def counts(items: Iterable[Question]) -> Counter[tuple[str, str]]:
    return Counter((q.lang, q.kind) for q in items)


def format_counts(sets: dict[str, list[Question]]) -> str:
    kinds = ("fact", "multi-turn", "unanswerable")
    lines = ["| split | lang | " + " | ".join(kinds) + " | total |", "| --- " * 6 + "|"]
    for split, items in sets.items():
        c = counts(items)
        for lang in ("zh", "en"):
            row = [c[lang, k] for k in kinds]
            lines.append(f"| {split} | {lang} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    total = counts(q for items in sets.values() for q in items)
    for lang in ("zh", "en"):
        row = [total[lang, k] for k in kinds]
        lines.append(f"| all | {lang} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return "\n".join(lines)


def check_all() -> list[str]:
    from fetch import verify

    sets = read_all()
    extra = read_extra()
    problems = verify() + check_splits(sets, extra)
    for q in [*(q for items in sets.values() for q in items), *extra]:
        problems += check_question(q)
    return problems


def main() -> int:
    problems = check_all()
    for problem in problems:
        print(problem)
    sets = read_all()
    print(format_counts({**sets, **{name: read_split(name) for name in EXTRA}}))
    print("ok" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
