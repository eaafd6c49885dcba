"""Generators for the documents tests ingest: real files, written the way users' tools write them.

Shared by every test module and by the scripts that build shipped sample PDFs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)


def cjk_font() -> Path:
    for candidate in CJK_FONT_CANDIDATES:
        if candidate.exists():
            return candidate
    raise RuntimeError(
        "no CJK font found: install Debian's fonts-wqy-microhei (scripts/setup.sh --test does)"
    )


def write_text_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    bookmarks: Sequence[str | None] | None = None,
    font_size: float = 11,
) -> Path:
    """Write a PDF with one page per entry of `pages` (text wraps; paragraphs split on blank lines).

    `bookmarks[i]`, when given, adds an outline entry (a heading) pointing at page i+1.
    Uses a CJK-capable TrueType font, so Chinese and English both render and extract.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_font("cjk", "", str(cjk_font()))
    pdf.set_font("cjk", size=font_size)
    for index, text in enumerate(pages):
        pdf.add_page()
        if bookmarks and index < len(bookmarks) and bookmarks[index]:
            pdf.start_section(bookmarks[index], level=0)
        pdf.set_xy(pdf.l_margin, pdf.t_margin)
        pdf.multi_cell(0, font_size * 0.5, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path
