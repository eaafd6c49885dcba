"""The app's actions without the browser, on the real service (real embedder, real files)."""

from __future__ import annotations

from pathlib import Path

from kbqa.chain.types import Answer, Citation
from kbqa.service import Service
from kbqa.settings import Settings
from kbqa.ui.core import (
    delete_file,
    file_rows,
    format_answer,
    ingest_uploads,
    new_session,
    open_citation,
    search_rows,
)
from tests.docgen import write_text_pdf

PAGES = [
    "Cover. The Juniper field guide.",
    "Birds. The crested tit nests in old pine forests and feeds on spiders.",
    "鸟类。凤头山雀在古老的松林中筑巢，以蜘蛛为食。",
]


def test_upload_search_cite_and_delete(kbqa_home: Path, tmp_path: Path) -> None:
    settings = Settings.load()
    service = Service(settings)
    session = new_session(settings)
    guide = write_text_pdf(tmp_path / "in" / "野外指南 guide.pdf", PAGES)
    junk = tmp_path / "in" / "photo.heic"  # a format kbqa does not read (.png it OCRs)
    junk.write_bytes(b"\x00\x00\x00\x18ftypheic")
    seen: list[tuple[int, int, str]] = []

    rows = ingest_uploads(
        service, session, [str(guide), str(junk)], progress=lambda *a: seen.append(a)
    )

    assert rows[0][:2] == ["photo.heic", "rejected"]
    assert rows[1][:2] == ["野外指南 guide.pdf", "added"]
    assert seen and seen[-1][:2] == (1, 1)
    kept = kbqa_home / "uploads" / "default" / "野外指南 guide.pdf"
    assert kept.read_bytes() == guide.read_bytes()
    assert file_rows(service, "default") == [["野外指南 guide.pdf", 3, 3]]

    # Uploading the same file again changes nothing.
    again = ingest_uploads(service, session, [str(guide)])
    assert again == [["野外指南 guide.pdf", "unchanged", "chunks: 3"]]

    hits = search_rows(service, session, "where does the crested tit nest?", None)
    assert hits[0][3:5] == ["野外指南 guide.pdf", 2]
    assert 0.0 <= hits[0][2] <= 1.0  # the calibrated relevance (e5, hybrid)

    session.citations = [
        Citation(1, "野外指南 guide.pdf", 2, PAGES[1], 0.9, path="野外指南 guide.pdf")
    ]
    view = open_citation(service, session, 1)
    assert view is not None and view.page is not None
    assert view.page.marked and view.page.coverage == 1.0
    assert "page 2 of 3" in view.note
    whole = view.page.boxes

    # A reply that quotes one passage of the chunk: that passage is what is marked.
    quote = "feeds on spiders."
    session.citations = [
        Citation(1, "野外指南 guide.pdf", 2, PAGES[1], 0.9, path="野外指南 guide.pdf", quote=quote)
    ]
    view = open_citation(service, session, 1)
    assert view is not None and view.page is not None and view.page.marked
    assert "Quoted in the reply:** feeds on spiders." in view.passage_md
    width = lambda boxes: sum(box[2] - box[0] for box in boxes)  # noqa: E731
    assert width(view.page.boxes) < width(whole) / 2

    assert delete_file(service, session, "野外指南 guide.pdf") == 3
    assert file_rows(service, "default") == []
    assert not kept.exists()
    assert session.citations == []


def test_each_session_searches_with_its_own_threshold(kbqa_home: Path, tmp_path: Path) -> None:
    settings = Settings.load()
    service = Service(settings)
    strict, loose = new_session(settings), new_session(settings)
    ingest_uploads(service, strict, [str(write_text_pdf(tmp_path / "g.pdf", PAGES))])
    strict.settings.retrieval.threshold = 0.99
    strict.settings.retrieval.k = loose.settings.retrieval.k = 5
    assert search_rows(service, strict, "crested tit", None) == []
    assert len(search_rows(service, loose, "crested tit", None)) == 3


def test_answer_lists_the_sources_it_cites() -> None:
    cited = Citation(2, "a_b*.pdf", 4, "text", 0.8)
    answer = Answer(
        "q",
        "q",
        "It is 42 [2].",
        citations=[Citation(1, "x.md", None, "t", 0.5), cited],
        cited=[2],
    )
    assert format_answer(answer, "en") == (
        "It is 42 [2].\n\n**Sources**\n- \\[2\\] a\\_b\\*.pdf · p. 4"
    )
    assert format_answer(answer, "zh").endswith("**出处**\n- \\[2\\] a\\_b\\*.pdf · 第 4 页")


def test_table_and_ocr_passages_say_what_they_are(kbqa_home: Path) -> None:
    settings = Settings.load()
    service, session = Service(settings), new_session(settings)
    text = "| Item | Limit |\n| --- | --- |\n| *file* \\| size | 50 MB |"
    table = Citation(1, "limits.xlsx", None, text, 0.7, kind="table", table="Sheet1")
    scan = Citation(2, "scan.pdf", 3, "扫描的文字", 0.6, kind="ocr")
    session.citations = [table, scan]
    view = open_citation(service, session, 1)
    assert view is not None
    # Shown as a table (not quoted lines), its cells escaped like any passage.
    assert view.passage_md.endswith(
        "\n\n| Item | Limit |\n| --- | --- |\n| \\*file\\* \\| size | 50 MB |"
    )
    assert "**limits.xlsx** · Sheet1 · similarity 0.70" in view.passage_md
    answer = Answer("q", "q", "See [1] [2].", citations=[table, scan], cited=[1, 2])
    assert format_answer(answer, "en").endswith(
        "- \\[1\\] limits.xlsx · Sheet1\n- \\[2\\] scan.pdf · p. 3 · OCR text"
    )
    assert format_answer(answer, "zh").endswith("· 第 3 页 · OCR 识别文本")
    assert table.label() == "[1] limits.xlsx, Sheet1" and scan.label() == "[2] scan.pdf, p. 3 (OCR)"


def test_files_the_loaders_refuse_get_their_reason_and_are_not_kept(
    kbqa_home: Path, tmp_path: Path, monkeypatch
) -> None:
    from tests.docgen import write_encrypted_pdf, write_image_only_pdf, write_text_file

    monkeypatch.setenv("KBQA_INGEST__OCR", "false")  # the scan is refused (OCR: tests/test_ocr.py)
    settings = Settings.load()
    service = Service(settings)
    session = new_session(settings)
    incoming = tmp_path / "in"
    files = [
        write_encrypted_pdf(incoming / "locked.pdf"),
        write_image_only_pdf(incoming / "scan.pdf"),
        write_text_file(incoming / "笔记.txt", "会议纪要：下周一检修水泵。", encoding="gb18030"),
    ]
    rows = {row[0]: row[1:] for row in ingest_uploads(service, session, [str(f) for f in files])}
    assert rows["locked.pdf"] == ["failed", "encrypted PDF (password required)"]
    assert rows["scan.pdf"][0] == "failed" and "OCR" in rows["scan.pdf"][1]
    assert rows["笔记.txt"] == ["added", "chunks: 1"]
    kept = sorted(p.name for p in (kbqa_home / "uploads" / "default").iterdir())
    assert kept == ["笔记.txt"]  # the copies of refused files are gone
