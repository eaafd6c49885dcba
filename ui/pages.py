"""Render one PDF page as an image with a cited passage marked on it (pypdfium2).

The passage is the chunk text the loader extracted from the page, possibly with its whitespace
changed (joined lines, collapsed spaces) or cut at a page boundary. So it is matched against the
page's characters with whitespace removed and case folded, first whole, then as the longest runs
that occur on the page; the matched characters' text rectangles are drawn over the rendering.
"""

from __future__ import annotations

import ctypes
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

# Shortest run of passage characters that counts as found on the page: shorter runs ("the",
# "的数据") occur by chance.
MIN_RUN = 8
HIGHLIGHT_FILL = (255, 214, 0, 90)
HIGHLIGHT_EDGE = (232, 110, 0, 255)


@dataclass
class PageView:
    image: Image.Image
    page: int  # 1-based
    page_count: int
    coverage: float  # share of the passage's (non-space) characters found and marked, 0..1
    boxes: list[
        tuple[int, int, int, int]
    ]  # marked rectangles in image pixels (left, top, right, bottom)

    @property
    def marked(self) -> bool:
        return bool(self.boxes)


def _pdfium_lock():
    # PDFium is not thread-safe across documents: share the loaders' lock so a page rendered for
    # one user never runs while another user's upload is being read.
    from kbqa.loaders.pdf import PDFIUM_LOCK

    return PDFIUM_LOCK


def render_page(
    pdf_path: str | Path, page: int, passage: str | None = None, *, width: int = 900
) -> PageView:
    """Render page `page` (1-based) of `pdf_path` about `width` pixels wide, `passage` marked."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw
    from PIL import Image, ImageDraw

    with _pdfium_lock():
        doc = pdfium.PdfDocument(str(pdf_path))
        try:
            count = len(doc)
            if not 1 <= page <= count:
                raise ValueError(f"page {page} is outside 1..{count}")
            pdf_page = doc[page - 1]
            scale = max(0.5, min(4.0, width / pdf_page.get_width()))
            image = pdf_page.render(scale=scale).to_pil().convert("RGB")
            rects: list[tuple[float, float, float, float]] = []
            coverage = 0.0
            if passage and passage.strip():
                textpage = pdf_page.get_textpage()
                chars = [
                    chr(raw.FPDFText_GetUnicode(textpage, i) or 0x20)
                    for i in range(textpage.count_chars())
                ]
                spans, coverage = find_passage(chars, passage)
                for start, end in spans:
                    for j in range(textpage.count_rects(start, end - start)):
                        rects.append(textpage.get_rect(j))
                textpage.close()
            boxes = [_to_pixels(raw, pdf_page, image.size, rect) for rect in rects]
            pdf_page.close()
        finally:
            doc.close()
    if boxes:
        layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        for box in boxes:
            draw.rectangle(box, fill=HIGHLIGHT_FILL, outline=HIGHLIGHT_EDGE, width=2)
        image = Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB")
    return PageView(image=image, page=page, page_count=count, coverage=coverage, boxes=boxes)


def _to_pixels(raw, pdf_page, size: tuple[int, int], rect: tuple[float, float, float, float]):
    # FPDF_PageToDevice accounts for the crop box and the page's /Rotate, as rendering does.
    left, bottom, right, top = rect
    points = []
    for x, y in ((left, top), (right, bottom)):
        dx, dy = ctypes.c_int(), ctypes.c_int()
        raw.FPDF_PageToDevice(pdf_page, 0, 0, size[0], size[1], 0, x, y, dx, dy)
        points.append((dx.value, dy.value))
    (x0, y0), (x1, y1) = points
    pad = 2
    return (min(x0, x1) - pad, min(y0, y1) - pad, max(x0, x1) + pad, max(y0, y1) + pad)


def _fold(text: str) -> str:
    # Whitespace, soft hyphens and PDFium's U+FFFE (a hyphen it merged at a line end) differ
    # between the page and the loader's text, so none of them takes part in matching.
    return "".join(
        c
        for c in unicodedata.normalize("NFKC", text).casefold()
        if not c.isspace() and c not in "\u00ad\ufffe\ufeff"
    )


def find_passage(chars: list[str], passage: str) -> tuple[list[tuple[int, int]], float]:
    """Where `passage` lies among a page's `chars`: (start, end) char-index spans and coverage."""
    folded: list[str] = []
    owner: list[int] = []  # folded position -> index into chars
    for index, char in enumerate(chars):
        for piece in _fold(char):
            folded.append(piece)
            owner.append(index)
    page_text = "".join(folded)
    wanted = _fold(passage)
    if not wanted or not page_text:
        return [], 0.0
    hits: list[tuple[int, int]] = []  # folded (start, end) on the page
    found = 0
    where = page_text.find(wanted)
    if where >= 0:
        hits.append((where, where + len(wanted)))
        found = len(wanted)
    else:
        position, cursor = 0, 0
        while position < len(wanted):
            length, start = _longest_prefix(page_text, wanted, position, cursor)
            if length >= MIN_RUN:
                hits.append((start, start + length))
                found += length
                position += length
                cursor = start + length
            else:
                position += 1
    spans: list[tuple[int, int]] = []
    for start, end in sorted(hits):
        first, last = owner[start], owner[end - 1] + 1
        if spans and first <= spans[-1][1] + 2:  # adjacent: one span, fewer rectangles
            spans[-1] = (spans[-1][0], max(spans[-1][1], last))
        else:
            spans.append((first, last))
    return spans, found / len(wanted)


def _longest_prefix(haystack: str, needle: str, position: int, cursor: int) -> tuple[int, int]:
    """Longest `needle[position:position+n]` found in `haystack` (after `cursor` if it can be)."""
    low, high, best = 0, len(needle) - position, (0, -1)
    while low < high:  # a prefix that occurs implies every shorter one does: binary search
        middle = (low + high + 1) // 2
        piece = needle[position : position + middle]
        start = haystack.find(piece, cursor)
        if start < 0:
            start = haystack.find(piece)
        if start >= 0:
            low, best = middle, (middle, start)
        else:
            high = middle - 1
    return best
