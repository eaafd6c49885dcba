"""OCR, only where it is needed: image files, and PDF pages without a usable text layer.

RapidOCR (rapidocr-onnxruntime, PP-OCRv4 detection and recognition for Chinese and English, the
models inside the wheel: it runs offline) is created on first use and kept for the process, so
`import kbqa`, the reader process's start and a batch without scans never load onnxruntime or
OpenCV.

`ocr_image(image)` returns the text of one image in reading order: the boxes grouped into lines
top to bottom, each line left to right, lines joined with "\\n". `load_image(path, limits)` reads
an image file (every frame of a multi-page TIFF is a page) into Sections of kind "ocr".

Images are bounded before they are decoded: PIL's `Image.open` reads only the header, and an
image of more pixels than `pixel_limit(limits)` (derived from the reader's memory limit) is
refused by name; an allowed but large one is scaled down to what the recogniser can use.

Within `reporting(callback)`, the callback hears (pages done, pages) as pages are OCR'd (the
reader process forwards it to the main process: kbqa/loaders/worker.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.text.cjk import HAN, is_cjk
from kbqa.types import OCR, Section

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")

NO_TEXT_RECOGNISED = "no text recognised in the image (OCR found none)"
NO_TEXT_ON_PAGES = "no extractable text: the pages have no text layer and OCR recognised none"
OCR_OFF = "an image: no text without OCR (ingest.ocr is off)"

# PDF pages are rendered at this resolution, chosen by `kbqa bench ocr` (docs/benchmarks.md,
# "OCR"): Chinese pages' CER 1.1-1.3% at 300 dpi, 1.5-1.8% at 200, 2.6-2.9% at 150 (English
# 0.1% at 200 and 300, 1.1% at 150), for the same CPU time per page at 200 and 300 (the
# recogniser reads crops scaled to 48 px high whatever the resolution).
PDF_DPI = 300
# The longest side, in pixels, of what the engine is given (an A4 page at 300 dpi is 2481 x 3508;
# larger images are scaled down). RapidOCR's own default (2000) would scale a 300-dpi page down.
# The detector works on the page scaled to 960 px: a larger page costs memory, little time.
MAX_SIDE = 3600
# Text boxes the detector may return per page: a dense page of text has 40-120 line boxes, a
# table a few hundred; a page of noise thousands, each a recogniser call.
MAX_BOXES = 400
# Recognised text below this confidence is dropped (RapidOCR's default is 0.5).
MIN_SCORE = 0.5
# The address space the reader needs besides the image (Python, PDFium, onnxruntime's sessions
# and threads), in MB, and what one pixel costs while it is decoded and converted (RGB decode,
# the RGB->BGR copy, the scaled copy): a bound, not an estimate.
_BASE_MB = 1400
_BYTES_PER_PIXEL = 12
# The reader's address space OCR needs for a page (measured peak 1.2-1.7 GB with the default
# 2048 MB cap; at 1024 MB onnxruntime fails): what a failure says.
OCR_MEMORY_MB = 1_800
# At most this many pixels whatever the memory: 200 megapixels is a 14,000 x 14,000 image.
_MAX_PIXELS = 200_000_000

# A rendered page whose darkest pixel is lighter than this holds no text.
_BLANK_LEVEL = 200

_engine: Any = None
_engine_lock = threading.Lock()
_progress = threading.local()

ProgressFn = Callable[[int, int], None]


def pixel_limit(limits: Any) -> int:
    """Pixels one image (or one rendered page) may have, from the reader's memory limit."""
    memory_mb = int(getattr(limits, "max_memory_mb", 2048))
    budget = max(64, memory_mb - _BASE_MB) << 20
    return min(_MAX_PIXELS, budget // _BYTES_PER_PIXEL)


def pixels_error(width: int, height: int, limits: Any) -> LoaderError:
    return LoaderError(
        f"image of {width:,} x {height:,} pixels is over the {pixel_limit(limits):,}-pixel limit "
        f"(from ingest.max_memory_mb = {limits.max_memory_mb})"
    )


def memory_error_message(exc: BaseException, limits: Any) -> str:
    cap = getattr(limits, "max_memory_mb", None)
    where = f"ingest.max_memory_mb is {cap}" if cap else "ingest.max_memory_mb"
    return (
        f"OCR failed ({type(exc).__name__}), most likely for memory: it needs about "
        f"{OCR_MEMORY_MB:,} MB of address space ({where})"
    )


def enabled(limits: Any) -> bool:
    return bool(getattr(limits, "ocr", True))


def engine() -> Any:
    """The process's RapidOCR engine, created on first use."""
    global _engine
    with _engine_lock:
        if _engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:  # pragma: no cover - a broken install
                raise LoaderError(
                    f"OCR is not available ({exc}): pip install rapidocr-onnxruntime==1.4.4"
                ) from None
            threads = min(4, os.cpu_count() or 1)
            _engine = RapidOCR(
                max_side_len=MAX_SIDE,
                text_score=MIN_SCORE,
                # Detection on the page scaled to at most 960 px (the crops the recogniser
                # reads come from the full page): as accurate as 1536 or the full page, and
                # faster (docs/benchmarks.md, "OCR").
                det_limit_side_len=960,
                det_limit_type="max",
                det_max_candidates=MAX_BOXES,
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
            )
    return _engine


# -- progress -------------------------------------------------------------------------------


@contextlib.contextmanager
def reporting(callback: ProgressFn | None) -> Iterator[None]:
    """Within the block, `report(done, total)` calls `callback` (this thread only)."""
    previous = getattr(_progress, "callback", None)
    _progress.callback = callback
    try:
        yield
    finally:
        _progress.callback = previous


def report(done: int, total: int) -> None:
    callback = getattr(_progress, "callback", None)
    if callback is not None:
        callback(done, total)


# -- one image --------------------------------------------------------------------------------


def ocr_image(image: Any, limits: Any = None) -> str:
    """The text of one image (PIL image or numpy array), in reading order; "" if none."""
    image = _fit(image)
    try:
        # No angle classifier: it turned 2 of 11 long English lines upside down (read as
        # noise), and scanned pages are upright or nearly so.
        result, _ = engine()(image, use_cls=False)
    except LoaderError:
        raise
    except Exception as exc:  # onnxruntime's or OpenCV's allocation failed under the cap
        raise LoaderError(memory_error_message(exc, limits)) from None
    if not result:
        return ""
    items = []
    for box, text, score in result:
        text = " ".join(str(text).split())
        if not text or float(score) < MIN_SCORE:
            continue
        xs = [point[0] for point in box]
        ys = [point[1] for point in box]
        items.append((min(xs), min(ys), max(ys), text))
    return "\n".join(_join_line(line) for line in reading_order(items))


def reading_order(
    items: list[tuple[float, float, float, str]],
) -> list[list[tuple[float, float, float, str]]]:
    """Boxes (left, top, bottom, text) grouped into lines top to bottom, each left to right.

    A box joins the line above when its vertical middle lies within that line's band (boxes of
    one line, slightly tilted or of different heights, overlap vertically by far more than half)."""
    lines: list[list[tuple[float, float, float, str]]] = []
    bands: list[tuple[float, float]] = []
    for item in sorted(items, key=lambda item: (item[1] + item[2]) / 2):
        middle = (item[1] + item[2]) / 2
        if bands and bands[-1][0] <= middle <= bands[-1][1]:
            lines[-1].append(item)
            top, bottom = bands[-1]
            height = item[2] - item[1]
            # The band follows the line's boxes, never wider than their own height.
            bands[-1] = (max(top, middle - height / 2), min(bottom, middle + height / 2))
        else:
            lines.append([item])
            bands.append((item[1], item[2]))
    return [sorted(line, key=lambda item: item[0]) for line in lines]


def _join_line(line: list[tuple[float, float, float, str]]) -> str:
    out = ""
    for _, _, _, text in line:
        if out and not (is_cjk(out[-1]) or is_cjk(text[0])):
            out += " "
        out += text
    return spaced(out)


# The recogniser drops the space between Chinese and Latin runs ("基于 LangChain 和" is read
# "基于LangChain和"); putting it back took Chinese pages' CER from 6-9% to 1-2.7%.
_LATIN_CJK = re.compile(rf"(?<=[A-Za-z0-9%])(?=[{HAN}])|(?<=[{HAN}])(?=[A-Za-z0-9])")


def spaced(text: str) -> str:
    """`text` with a space put between Chinese and Latin (or digit) runs."""
    return _LATIN_CJK.sub(" ", text)


def _fit(image: Any) -> Any:
    """An RGB PIL image no larger than MAX_SIDE on its longest side."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = Image.fromarray(image)
    if image.mode not in ("RGB", "L"):
        if "A" in image.getbands() or image.mode == "P":
            image = image.convert("RGBA")
            background = Image.new("RGBA", image.size, "white")
            image = Image.alpha_composite(background, image)
        image = image.convert("RGB")
    longest = max(image.size)
    if longest > MAX_SIDE:
        scale = MAX_SIDE / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    if image.mode == "L":
        image = image.convert("RGB")
    return image


# -- image files ------------------------------------------------------------------------------


def load_image(path: Path, limits: Any) -> list[Section]:
    """An image file's text by OCR: one Section per frame (page number for multi-page TIFFs)."""
    from PIL import Image, UnidentifiedImageError

    if not enabled(limits):
        raise LoaderError(OCR_OFF)
    if path.stat().st_size == 0:
        raise LoaderError("empty file")
    limit = pixel_limit(limits)
    # Our own limit, checked from the header before any decoding, replaces PIL's (which would
    # refuse a bomb without saying its size).
    pil_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with Image.open(path) as image:
            Image.MAX_IMAGE_PIXELS = pil_limit
            frames = getattr(image, "n_frames", 1)
            if frames > limits.max_pages:
                raise LoaderError(
                    f"has {frames:,} frames, over the {limits.max_pages}-page limit "
                    "(ingest.max_pages)"
                )
            texts: list[str] = []
            if frames > 1:
                report(0, frames)
            Image.MAX_IMAGE_PIXELS = None  # checked below, frame by frame
            for index in range(frames):
                if index:
                    image.seek(index)
                width, height = image.size
                if image.format == "JPEG" and max(width, height) > 2 * MAX_SIDE:
                    # Decoded at 1/2, 1/4 or 1/8 of its size: a big photo costs what it needs.
                    image.draft("RGB", (MAX_SIDE, MAX_SIDE))
                if image.size[0] * image.size[1] > limit:
                    raise pixels_error(width, height, limits)
                try:
                    image.load()
                    text = ocr_image(image, limits)
                except (OSError, ValueError, SyntaxError, EOFError) as exc:
                    raise LoaderError(f"corrupt or truncated image ({exc})") from None
                texts.append(text)
                report(index + 1, frames)
    except UnidentifiedImageError:
        raise LoaderError("not an image PIL can read (corrupt, or an unknown format)") from None
    except LoaderError:
        raise
    except MemoryError:
        raise
    except Exception as exc:  # PIL's decoders fail on damaged headers in many ways
        raise LoaderError(
            f"corrupt or truncated image ({type(exc).__name__}: {exc})"[:300]
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit
    paged = len(texts) > 1
    sections = [
        Section(text=text, page=number if paged else None, kind=OCR)
        for number, text in enumerate(texts, start=1)
        if text.strip()
    ]
    if not sections:
        raise LoaderError(NO_TEXT_RECOGNISED)
    return sections


# -- PDF pages --------------------------------------------------------------------------------


def ocr_pdf_pages(
    data: bytes, indexes: list[int], limits: Any, lock: contextlib.AbstractContextManager[Any]
) -> dict[int, str]:
    """The text OCR reads on the given pages (0-based) of a PDF, rendered with PDFium at PDF_DPI
    (less where the page is larger than MAX_SIDE or the pixel limit allows); {} when PDFium
    cannot open it. `lock` serialises the calls into PDFium (kbqa.loaders.pdf.PDFIUM_LOCK); it
    is not held while a page is OCR'd. Progress is reported after each page."""
    import pypdfium2 as pdfium

    if not indexes:
        return {}
    limit = pixel_limit(limits)
    texts: dict[int, str] = {}
    with lock:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            return {}
    report(0, len(indexes))  # the pages to OCR are known: say so before the first
    try:
        for done, index in enumerate(indexes, start=1):
            with lock:
                try:
                    page = doc[index]
                    image = None
                    # A page that draws nothing (a blank page of a text PDF) is not rendered.
                    if next(iter(page.get_objects(max_depth=1)), None) is not None:
                        width, height = page.get_size()  # points
                        scale = PDF_DPI / 72
                        if width > 0 and height > 0:
                            scale = min(scale, MAX_SIDE / max(width, height))
                            scale = min(scale, (limit / (width * height)) ** 0.5)
                        image = page.render(scale=scale, grayscale=True).to_pil()
                    page.close()
                except (pdfium.PdfiumError, ValueError, OSError):
                    image = None  # a page PDFium cannot draw has no text to read
            # Nor is one that is blank once drawn (white on white, a margin's crop marks).
            if image is not None and image.getextrema()[0] < _BLANK_LEVEL:
                texts[index] = ocr_image(image, limits)
            del image
            report(done, len(indexes))
    finally:
        with lock:
            doc.close()
    return texts
