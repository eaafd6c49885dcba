"""PDFs with tables for the table tests: ruled and unruled grids, wrapped cells, Chinese, and
the look-alikes that are not tables (prose in two columns, a contents page with dot leaders)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tests.docgen import cjk_font


def _pdf():
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("cjk", "", str(cjk_font()))
    pdf.set_font("cjk", size=11)
    pdf.set_auto_page_break(True, margin=15)
    return pdf


def write_table_pdf(
    path: Path,
    rows: Sequence[Sequence[str]],
    *,
    ruled: bool = True,
    before: str = "",
    after: str = "",
    pages_before: int = 0,
) -> Path:
    """A PDF whose table (rows[0] the header) sits between two paragraphs, after
    `pages_before` pages of prose."""
    from fpdf.enums import TableBordersLayout

    pdf = _pdf()
    for number in range(pages_before):
        pdf.add_page()
        pdf.multi_cell(0, 6, f"Prose page {number + 1}. " + "Nothing tabular is here. " * 20)
    pdf.add_page()
    if before:
        pdf.multi_cell(0, 6, before)
        pdf.ln(4)
    layout = TableBordersLayout.ALL if ruled else TableBordersLayout.NONE
    # Unruled tables in manuals put a wrapped cell's first line level with its row (top-aligned).
    align = "MIDDLE" if ruled else "TOP"
    with pdf.table(borders_layout=layout, first_row_as_headings=False, v_align=align) as table:
        for cells in rows:
            row = table.row()
            for cell in cells:
                row.cell(cell)
    if after:
        pdf.ln(4)
        pdf.multi_cell(0, 6, after)
    pdf.output(str(path))
    return path


def write_two_column_pdf(path: Path, left: str, right: str) -> Path:
    """A page of prose laid out in two columns (as papers are)."""
    pdf = _pdf()
    pdf.add_page()
    top = pdf.get_y()
    pdf.multi_cell(88, 6, left)
    pdf.set_xy(110, top)
    pdf.multi_cell(88, 6, right)
    pdf.output(str(path))
    return path


def write_contents_pdf(path: Path, entries: Sequence[tuple[str, int]]) -> Path:
    """A table of contents: titles, dot leaders, page numbers at the right margin."""
    pdf = _pdf()
    pdf.add_page()
    for title, page in entries:
        pdf.cell(150, 7, f"{title} " + ". " * 30)
        pdf.cell(0, 7, str(page), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def write_grid_pdf(path: Path, rows: int, columns: int, *, size: float = 2) -> Path:
    """One page of `rows` x `columns` one-letter text segments in a grid (drawn at `size`
    points, each a gutter from the next): thousands of cells for the table finder to read."""
    from fpdf import FPDF

    pdf = FPDF(format="A4", unit="pt")
    pdf.add_font("cjk", "", str(cjk_font()))
    pdf.set_font("cjk", size=size)
    pdf.add_page()
    left, top = 20.0, 30.0
    width = (pdf.w - 2 * left) / columns
    pitch = (pdf.h - 2 * top) / rows
    for r in range(rows):
        for c in range(columns):
            pdf.text(left + c * width, top + r * pitch + size, chr(65 + (r + c) % 26))
    pdf.output(str(path))
    return path
