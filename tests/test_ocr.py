"""OCR, only where it is needed (issue 9): image files and PDF pages without a text layer are read
by RapidOCR (PP-OCRv4, offline); pages with a text layer never are. Pages of known Chinese and
English text are drawn here with the CJK font; the bad inputs (a page of noise, a 20,000 x
20,000 image, an image bomb) each end with a clear message, in bounded time, and the rest of the
batch is ingested. OCR is slow on 2 cores: the images are small and few."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from kbqa import loaders
from kbqa.bench.ocr import cer, noise_image, render_page
from kbqa.errors import LoaderError
from kbqa.knowledge_base import KnowledgeBase
from kbqa.loaders import ocr
from kbqa.loaders.pdf import NO_TEXT
from kbqa.settings import IngestSettings, Settings
from tests import docgen
from tests.kb.conftest import FAST_EMBEDDER, make_kb

pytest.importorskip("rapidocr_onnxruntime")

ZH = "扫描版说明书：水泵每周检修一次。"
EN = "The backup job runs at two."
MIXED = "默认端口是 8080，使用 HTTPS 连接。"


def _image(lines: list[str], size: int = 40, width: int = 1000):
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(docgen.cjk_font()), size)
    image = Image.new("L", (width, 40 + len(lines) * size * 2), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((30, 20 + index * size * 2), line, fill=0, font=font)
    return image


def _scanned_pdf(path: Path, texts: list[str]) -> Path:
    """A PDF of A4 pages that are pictures of text: no text layer at all."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    for text in texts:
        pdf.add_page()
        pdf.image(_image([text]), x=10, y=20, w=180)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def _png(path: Path, width: int, height: int, raw_rows: bytes | None = None) -> Path:
    """A 1-bit PNG of the given size. With raw_rows=None its data is a real zlib stream of
    white rows (an image bomb: tiny file, `width * height` pixels once decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    if raw_rows is None:
        compressor = zlib.compressobj(9)
        row = b"\x00" + b"\xff" * ((width + 7) // 8)
        block = row * 256
        parts = [compressor.compress(block) for _ in range(height // 256)]
        parts.append(compressor.compress(row * (height % 256)))
        raw_rows = b"".join(parts) + compressor.flush()
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw_rows)
    path.write_bytes(data + chunk(b"IEND", b""))
    return path


def _kb(home: Path, **ingest: object) -> KnowledgeBase:
    return make_kb(home, "ocr", embedder=FAST_EMBEDDER, **ingest)


def _chunks(kb: KnowledgeBase) -> list[tuple[str, dict]]:
    return [(row.text, row.metadata) for row in kb.store.records.iter_chunks()]


# -- reading text -----------------------------------------------------------------------------


def test_an_image_of_chinese_and_english_text_is_read_in_order() -> None:
    found = ocr.ocr_image(_image([ZH, EN, MIXED]))
    lines = found.split("\n")
    assert len(lines) == 3, found
    for line, expected in zip(lines, [ZH, EN, MIXED], strict=True):
        assert cer(expected, line) <= 0.03, (expected, line)
    # The space between Chinese and Latin runs, which the recogniser drops, is put back.
    assert "是 8080" in lines[2] and "使用 HTTPS 连接" in lines[2]


def test_reading_order_is_top_to_bottom_then_left_to_right() -> None:
    boxes = [  # (left, top, bottom, text), shuffled; the right half of line 1 sits 3 px lower
        (500, 103, 133, "右"),
        (20, 200, 230, "third"),
        (20, 100, 130, "左"),
        (20, 150, 180, "second line"),
        (400, 152, 181, "continues"),
    ]
    lines = ocr.reading_order(boxes)
    assert [[text for *_, text in line] for line in lines] == [
        ["左", "右"],
        ["second line", "continues"],
        ["third"],
    ]


def test_clean_page_at_the_chosen_dpi_reads_under_three_percent_cer() -> None:
    text = "备份任务每天凌晨两点运行，保留三十天的副本。The proxy listens on port 3128."
    image, reference = render_page(text, ocr.PDF_DPI, size_inches=(8.27, 1.5))
    assert cer(reference, ocr.ocr_image(image)) <= 0.03


def test_image_files_are_registered_and_a_multi_page_tiff_keeps_its_pages(tmp_path: Path) -> None:
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"} <= set(loaders.LOADERS)
    first, second = _image(["第一页：水泵"], width=600), _image(["Page two: gears"], width=600)
    tiff = tmp_path / "scan.tiff"
    first.save(tiff, save_all=True, append_images=[second])
    sections = loaders.load(tiff)
    assert [(s.page, s.kind) for s in sections] == [(1, "ocr"), (2, "ocr")]
    assert "水泵" in sections[0].text and "gears" in sections[1].text
    jpeg = tmp_path / "photo.jpg"
    first.convert("RGB").save(jpeg, quality=90)
    (section,) = loaders.load(jpeg)
    assert section.kind == "ocr" and section.page is None and "水泵" in section.text


# -- PDFs ---------------------------------------------------------------------------------------


def test_scanned_pdf_is_ingested_as_ocr_chunks_with_page_numbers(kbqa_home: Path, tmp_path: Path):
    pdf = _scanned_pdf(tmp_path / "scan.pdf", [ZH, EN])
    kb = _kb(kbqa_home)  # the reader process, with the default memory limit
    calls: list[tuple[float, int, str]] = []
    report = kb.add([pdf], progress=lambda *call: calls.append(call))
    assert report.added == ["scan.pdf"] and not report.failed
    chunks = _chunks(kb)
    assert {meta["kind"] for _, meta in chunks} == {"ocr"}
    by_page = {meta["page"]: text for text, meta in chunks}
    assert "水泵" in by_page[1] and "backup" in by_page[2]
    # Progress per page, from the reader process.
    labels = [label for _, _, label in calls]
    ocr_labels = [label for label in labels if label.startswith("OCR ")]
    assert ocr_labels == [f"OCR {n}/2 pages of scan.pdf" for n in range(3)]
    assert kb.search("水泵多久检修一次", k=1)[0].kind == "ocr"


def test_mixed_pdf_keeps_text_pages_as_text_and_never_ocrs_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PdfWriter

    text = docgen.write_text_pdf(tmp_path / "text.pdf", ["第一页有文字层。Page one has text."])
    scan = _scanned_pdf(tmp_path / "scan.pdf", [EN])
    writer = PdfWriter()
    writer.append(str(text))
    writer.append(str(scan))
    writer.append(str(text))
    writer.add_blank_page(width=595, height=842)
    mixed = tmp_path / "mixed.pdf"
    with mixed.open("wb") as handle:
        writer.write(handle)
    read: list[int] = []
    recognised: list[object] = []
    original, original_image = ocr.ocr_pdf_pages, ocr.ocr_image

    def counting(data: bytes, indexes: list[int], *args: object) -> dict[int, str]:
        read.extend(indexes)
        return original(data, indexes, *args)

    def counting_image(image: object, *args: object) -> str:
        recognised.append(image)
        return original_image(image, *args)

    monkeypatch.setattr(ocr, "ocr_pdf_pages", counting)
    monkeypatch.setattr(ocr, "ocr_image", counting_image)
    sections = loaders.load(mixed, IngestSettings(worker=False))
    assert read == [1, 3]  # only the pages without a text layer
    assert len(recognised) == 1  # the blank page is not even drawn
    assert [(s.page, s.kind) for s in sections] == [(1, "text"), (2, "ocr"), (3, "text")]
    assert sections[0].text == "第一页有文字层。Page one has text."
    assert "backup" in sections[1].text


def test_a_page_whose_text_layer_is_garbage_is_read_by_ocr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kbqa.loaders import pdf

    # A CID font without a ToUnicode map, and the map's repair made to fail: PDFium's text
    # is glyph numbers, the page is garbage as text but draws fine.
    path = docgen.write_pdf_without_tounicode(tmp_path / "garbled.pdf", [ZH])
    monkeypatch.setattr(
        pdf, "_repair_unmapped", lambda data, pages, garbled, limits: (pages, garbled)
    )
    (section,) = loaders.load(path, IngestSettings(worker=False))
    assert section.kind == "ocr" and section.page == 1
    assert cer(ZH, section.text) <= 0.1, section.text
    with pytest.raises(LoaderError) as info:
        loaders.load(path, IngestSettings(worker=False, ocr=False))
    assert str(info.value) == pdf.NO_UNICODE


def test_ocr_off_keeps_the_old_messages(
    kbqa_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = _scanned_pdf(tmp_path / "docs" / "scan.pdf", [EN])
    image = tmp_path / "docs" / "page.png"
    _image([EN]).save(image)
    off = IngestSettings(ocr=False)
    with pytest.raises(LoaderError) as info:
        loaders.load(pdf, off)
    assert str(info.value) == NO_TEXT == "no extractable text (scanned? needs OCR)"
    with pytest.raises(LoaderError, match=r"ingest\.ocr is off"):
        loaders.load(image, off)
    # The setting reaches the reader process, from the environment and from the CLI flag.
    assert Settings.load(environ={"KBQA_INGEST__OCR": "false"}).ingest.ocr is False
    from kbqa.cli import main

    code = main(
        ["--home", str(kbqa_home), "ingest", "--no-ocr", "--embedder", FAST_EMBEDDER, "--json"]
        + [str(pdf), str(image)]
    )
    assert code == 1
    report = json.loads(capsys.readouterr().out)
    assert report["added"] == []
    reasons = {item["path"]: item["reason"] for item in report["failed"]}
    assert reasons["scan.pdf"] == NO_TEXT and "ingest.ocr is off" in reasons["page.png"]


# -- bad input ----------------------------------------------------------------------------------


def test_a_page_of_noise_ends_quickly_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    noise_image(1654, 2339).save(path)  # an A4 page at 200 dpi
    started = time.perf_counter()
    with pytest.raises(LoaderError) as info:
        loaders.load(path, IngestSettings(worker=False))
    assert time.perf_counter() - started < 30
    assert str(info.value) == ocr.NO_TEXT_RECOGNISED


def test_huge_images_and_image_bombs_are_refused_before_decoding(tmp_path: Path) -> None:
    huge = _png(tmp_path / "huge.png", 20_000, 20_000, raw_rows=zlib.compress(b"\x00" * 64))
    bomb = _png(tmp_path / "bomb.png", 30_000, 30_000)  # 900 megapixels in ~110 KB
    assert bomb.stat().st_size < 500_000
    for path, size in ((huge, "20,000 x 20,000"), (bomb, "30,000 x 30,000")):
        started = time.perf_counter()
        with pytest.raises(LoaderError) as info:
            loaders.load(path)
        assert time.perf_counter() - started < 2
        assert str(info.value).startswith(f"image of {size} pixels is over the ")
        assert "(from ingest.max_memory_mb = 2048)" in str(info.value)


def test_bad_images_fail_by_name_and_the_rest_of_the_batch_is_ingested(
    kbqa_home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    _png(folder / "bomb.png", 30_000, 30_000)
    _png(folder / "huge.png", 20_000, 20_000, raw_rows=zlib.compress(b"\x00" * 64))
    noise_image(600, 400).save(folder / "noise.png")
    (folder / "truncated.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    _image([ZH], width=800).save(folder / "good.png")
    (folder / "note.txt").write_text("The backup job keeps thirty days of copies.", "utf-8")
    kb = _kb(kbqa_home)
    report = kb.add([folder])
    assert sorted(report.added) == ["good.png", "note.txt"]
    failed = dict(report.failed)
    assert set(failed) == {"bomb.png", "huge.png", "noise.png", "truncated.png"}
    assert "pixel limit" in failed["bomb.png"] and "pixel limit" in failed["huge.png"]
    assert failed["noise.png"] == ocr.NO_TEXT_RECOGNISED
    assert "image" in failed["truncated.png"]
    kinds = {meta["source"]: meta.get("kind", "text") for _, meta in _chunks(kb)}
    assert kinds == {"good.png": "ocr", "note.txt": "text"}


def test_ocr_stays_out_of_the_reader_until_needed(tmp_path: Path) -> None:
    from kbqa.loaders.worker import LoadWorker

    note = tmp_path / "note.txt"
    note.write_text("plain text", "utf-8")
    with LoadWorker(IngestSettings()) as worker:
        loaders.load(note, worker=worker)
        assert not set(worker.modules()) & {"onnxruntime", "cv2", "rapidocr_onnxruntime", "numpy"}


def test_importing_kbqa_and_a_text_ingest_load_no_ocr_engine(tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("plain text", "utf-8")
    code = (
        "import sys, kbqa, kbqa.loaders, kbqa.ingest\n"
        "from kbqa.settings import IngestSettings\n"
        f"kbqa.loaders.load({str(note)!r}, IngestSettings(worker=False))\n"
        "print(sorted({'onnxruntime', 'cv2', 'rapidocr_onnxruntime'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
