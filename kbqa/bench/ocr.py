"""`kbqa bench ocr`: OCR's character error rate and speed on pages of known text, and what it
costs an ingest.

Pages of Chinese and English prose from the project's own documents are drawn with a CJK font
(fonts-wqy-microhei) as A4 images at each --dpi: clean, rotated a few degrees, and with noise.
Printed: the character error rate (edit distance / reference length, whitespace runs as one
space) per language, resolution and kind of page; OCR pages/s; the whole ingest of a scanned PDF
against OCR alone on its pages; and the ingest of a mixed PDF's text pages against the same
pages as a text-only PDF.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kbqa.bench.common import REPO, machine, sentence_pool

A4_INCHES = (8.27, 11.69)


def font_path() -> Path:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.docgen import cjk_font

    return cjk_font()


def page_text(lang: str, chars: int, seed: int = 0) -> str:
    """About `chars` characters of Chinese or English sentences (deterministic)."""
    zh, en = sentence_pool()
    pool = zh if lang == "zh" else en
    rng = random.Random(f"{lang}-{seed}")
    parts: list[str] = []
    while sum(len(p) for p in parts) < chars:
        parts.append(rng.choice(pool))
    return ("" if lang == "zh" else " ").join(parts)


def render_page(
    text: str,
    dpi: int,
    *,
    font_pt: float = 11.0,
    size_inches: tuple[float, float] = A4_INCHES,
    margin_inches: float = 0.8,
    rotate: float = 0.0,
    noise: float = 0.0,
    seed: int = 0,
) -> tuple[Any, str]:
    """A page image of `text` wrapped to the page, and the text exactly as drawn (lines joined
    with "\\n"). `noise` is the share of pixels flipped to random grey; `rotate` in degrees."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(size_inches[0] * dpi), round(size_inches[1] * dpi)
    font = ImageFont.truetype(str(font_path()), max(6, round(font_pt / 72 * dpi)))
    margin = round(margin_inches * dpi)
    line_height = round(font_pt / 72 * dpi * 1.6)
    room = width - 2 * margin
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for token in re.findall(r"[A-Za-z0-9][\w.\-/%:()]*\s*|\S\s*", paragraph):
            if current and font.getlength(current + token.rstrip()) > room:
                lines.append(current.rstrip())
                current = token.lstrip()
            else:
                current += token
        if current.strip():
            lines.append(current.rstrip())
    lines = lines[: max(1, (height - 2 * margin) // line_height)]
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, fill=0, font=font)
    if rotate:
        image = image.rotate(rotate, resample=Image.Resampling.BICUBIC, fillcolor=255)
    if noise:
        import numpy as np

        rng = np.random.default_rng(seed)
        pixels = np.asarray(image).copy()
        mask = rng.random(pixels.shape) < noise
        pixels[mask] = rng.integers(0, 256, int(mask.sum()), dtype=np.uint8)
        image = Image.fromarray(pixels)
    return image, "\n".join(lines)


def noise_image(width: int, height: int, seed: int = 0) -> Any:
    """A page of pure noise (random grey pixels)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))


def _normal(text: str) -> str:
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (numpy, a row at a time)."""
    import numpy as np

    if not a or not b:
        return len(a) + len(b)
    codes_b = np.array([ord(c) for c in b])
    index = np.arange(len(b) + 1)
    row = index.copy()
    for i, char in enumerate(a, start=1):
        cost = (codes_b != ord(char)).astype(np.int64)
        new = np.empty_like(row)
        new[0] = i
        new[1:] = np.minimum(row[1:] + 1, row[:-1] + cost)
        # Insertions: new[j] = min over k <= j of new[k] + (j - k).
        row = np.minimum.accumulate(new - index) + index
    return int(row[-1])


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate, whitespace runs (line breaks too) counted as one space."""
    reference, hypothesis = _normal(reference), _normal(hypothesis)
    return edit_distance(reference, hypothesis) / max(1, len(reference))


def unspaced(text: str) -> str:
    """OCR text without the spaces kbqa.loaders.ocr.spaced puts between Chinese and Latin runs."""
    from kbqa.loaders.ocr import HAN

    return re.sub(rf"(?<=[A-Za-z0-9%]) (?=[{HAN}])|(?<=[{HAN}]) (?=[A-Za-z0-9])", "", text)


def write_scanned_pdf(path: Path, images: Sequence[Any], dpi: int) -> Path:
    """A PDF of image pages only (no text layer), each image at `dpi`."""
    rgb = [image.convert("RGB") if image.mode not in ("RGB", "L") else image for image in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb[0].save(path, "PDF", resolution=float(dpi), save_all=True, append_images=rgb[1:])
    return path


def run(args: argparse.Namespace) -> int:
    from kbqa.loaders import ocr

    dpis = [int(d) for d in args.dpi.split(",")]
    langs = args.langs.split(",")
    print(f"machine: {machine()}")
    started = time.perf_counter()
    ocr.engine()
    print(f"engine load: {time.perf_counter() - started:.2f} s (rapidocr-onnxruntime, PP-OCRv4)")
    kinds = {"clean": {}, "rotated": {"rotate": 2.0}, "noisy": {"noise": 0.05}}
    seconds_by_dpi: dict[int, list[float]] = {dpi: [] for dpi in dpis}
    cpu_by_dpi: dict[int, list[float]] = {dpi: [] for dpi in dpis}
    print("\ncharacter error rate (mean over pages; 'unspaced': without the space kbqa puts")
    print("between Chinese and Latin runs), seconds per page (wall clock, and CPU time of all")
    print("threads: on a shared machine the CPU time is the steadier figure):")
    print(f"{'lang':<5}{'dpi':>5}  {'kind':<8}{'CER':>8}{'unspaced':>10}{'s/page':>8}{'cpu s':>7}")
    for lang in langs:
        for dpi in dpis:
            for kind, options in kinds.items():
                errors, errors_spaced, seconds, cpu = [], [], [], []
                for page in range(args.pages):
                    text = page_text(lang, args.chars, seed=page)
                    image, reference = render_page(text, dpi, seed=page, **options)
                    began, began_cpu = time.perf_counter(), time.process_time()
                    found = ocr.ocr_image(image)
                    seconds.append(time.perf_counter() - began)
                    cpu.append(time.process_time() - began_cpu)
                    errors.append(cer(reference, found))
                    errors_spaced.append(cer(reference, unspaced(found)))
                seconds_by_dpi[dpi] += seconds
                cpu_by_dpi[dpi] += cpu
                print(
                    f"{lang:<5}{dpi:>5}  {kind:<8}{100 * sum(errors) / len(errors):>7.2f}%"
                    f"{100 * sum(errors_spaced) / len(errors_spaced):>9.2f}%"
                    f"{sum(seconds) / len(seconds):>8.2f}{sum(cpu) / len(cpu):>7.2f}"
                )
    print()
    for dpi, seconds in seconds_by_dpi.items():
        cpu = cpu_by_dpi[dpi]
        print(
            f"{dpi} dpi: {len(seconds) / sum(seconds):.2f} OCR pages/s, "
            f"{sum(cpu) / len(cpu):.2f} CPU s per page ({len(seconds)} pages)"
        )
    if not args.no_ingest:
        _ingest_ratios(args)
    return 0


def _ingest_ratios(args: argparse.Namespace) -> None:
    """Whole ingest of a scanned PDF vs OCR alone; a mixed PDF's text pages vs text only."""
    from kbqa.bench.common import synthetic_pages, write_pdf
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.loaders import load, ocr
    from kbqa.loaders.pdf import PDFIUM_LOCK
    from kbqa.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="kbqa-bench-ocr-"))
    settings = Settings(home=work / "home")
    dpi = ocr.PDF_DPI
    images = [
        render_page(page_text(lang, args.chars, seed=100 + n), dpi)[0]
        for n in range(args.scan_pages)
        for lang in ("zh", "en")
    ]
    scanned = write_scanned_pdf(work / "scan" / "scan.pdf", images, dpi)
    pages = len(images)
    # OCR alone: rendering and recognising the very pages, in this process, engine loaded.
    began, began_cpu = time.perf_counter(), time.process_time()
    ocr.ocr_pdf_pages(scanned.read_bytes(), list(range(pages)), settings.ingest, PDFIUM_LOCK)
    alone, alone_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    warm = KnowledgeBase.create("warm", settings)
    warm.add([write_pdf(work / "warm" / "warm.pdf", ["warm-up page"])])  # the embedder's load
    kb = KnowledgeBase.create("scan", settings)
    kb._embedder = warm._embedder
    report = kb.add([scanned])
    print(
        f"\nscanned PDF, {pages} pages at {dpi} dpi: whole ingest (reader process, embedding) "
        f"{report.seconds:.2f} s, OCR alone {alone:.2f} s ({pages / alone:.2f} pages/s, "
        f"{alone_cpu / pages:.2f} CPU s per page): "
        f"ratio {report.seconds / alone:.2f}"
    )
    # A mixed PDF: --text-pages text pages, then the scanned pages.
    text_only = write_pdf(work / "text" / "text.pdf", synthetic_pages(args.text_pages, 1500, 7))
    mixed = _concat_pdfs(work / "mixed" / "mixed.pdf", [text_only, scanned])
    # The baseline written by the same writer (pypdf), so only the scanned pages differ.
    text_only = _concat_pdfs(work / "text" / "text-pypdf.pdf", [text_only])
    timed: list[float] = []
    original = ocr.ocr_pdf_pages

    def timing(*call: Any) -> dict[int, str]:
        began = time.perf_counter()
        try:
            return original(*call)
        finally:
            timed.append(time.perf_counter() - began)

    ocr.ocr_pdf_pages = timing
    try:
        rounds = {"text-only": [], "mixed": []}
        for _ in range(args.rounds):
            for label, path in (("text-only", text_only), ("mixed", mixed)):
                timed.clear()
                began = time.perf_counter()
                sections = load(path, settings.ingest)
                rounds[label].append(time.perf_counter() - began - sum(timed))
        assert sum(s.kind == "ocr" for s in sections) == pages
    finally:
        ocr.ocr_pdf_pages = original
    text_s, mixed_s = min(rounds["text-only"]), min(rounds["mixed"])
    print(
        f"reading {args.text_pages} text pages (best of {args.rounds}): text-only PDF "
        f"{text_s:.3f} s ({args.text_pages / text_s:.0f} pages/s); the same pages in the mixed "
        f"PDF, its OCR time left out, {mixed_s:.3f} s ({args.text_pages / mixed_s:.0f} pages/s): "
        f"ratio {mixed_s / text_s:.2f}"
    )
    for name, path in (("text-only", text_only), ("mixed", mixed)):
        kb = KnowledgeBase.create(f"ingest-{name}", settings)
        kb._embedder = warm._embedder
        report = kb.add([path])
        print(
            f"whole ingest of the {name} PDF: {report.seconds:.2f} s, {report.chunks_added} chunks"
        )


def _concat_pdfs(target: Path, sources: Sequence[Path]) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for source in sources:
        writer.append(str(source))
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        writer.write(handle)
    return target
