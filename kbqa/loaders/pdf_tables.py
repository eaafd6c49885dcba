"""Tables on PDF pages, ruled or not, found from where PDFium places the text.

PDFium gives a page's text as segments (runs of characters with no wide gap), each with its
box. A table is a run of at least MIN_ROWS lines that each hold two or more cells (segments a
gutter apart) whose x-ranges line up in columns; a line with no cell in the first column
continues the row above (a wrapped cell). Ruling lines are not needed, so one method reads ruled
and unruled tables alike. Two-column page layouts also line up; they are told apart by their
cells: prose columns hold long lines, while a table has at least one column of short cells.

The page then reads as: the text above the table, the table, the text below (text beside a table
on its own lines is rare, and is read with the table's cells).
"""

from __future__ import annotations

import ctypes
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from statistics import median
from typing import Any

from kbqa.text.cjk import is_cjk
from kbqa.text.table import lead_line, normalise_rows

MIN_ROWS = 3  # the header and two rows
# Cells are a gutter apart: wider than this many times the line's height (a word space is about
# a quarter of it; table gutters measured 1.5-15x in generated and real manuals).
GUTTER_HEIGHTS = 1.2
# A table has a column whose cells are at most this long in median (prose columns run 60+).
SHORT_CELL_CHARS = 40
_LEADER = re.compile(r"(?:\.\s?){4,}|…{2,}|·{4,}")
_CAPTION = re.compile(r"^\s*(?:Table|TABLE|Tab\.|表)\s*[\dA-Z一二三四五六七八九十]+[-.:：\s]", re.U)


@dataclass
class _Cell:
    left: float
    right: float
    bottom: float
    top: float
    text: str = ""  # read only for the cells of a table (a text read per segment is slow)


@dataclass
class _Line:
    top: float
    bottom: float
    cells: list[_Cell]

    @property
    def height(self) -> float:
        return self.top - self.bottom


@dataclass(frozen=True)
class PageTable:
    rows: list[tuple[str, ...]]  # header first, every row as wide as the header
    top: float  # PDF user space, origin bottom-left
    bottom: float


@dataclass(frozen=True)
class PagePart:
    """A piece of a page in reading order: text (`rows` empty) or a table."""

    text: str
    rows: tuple[tuple[str, ...], ...] = ()
    caption: str | None = None  # "Table 3: ..." on the line above
    lead: str | None = None  # else the sentence above, saying what the table lists


def page_parts(page: Any, textpage: Any, normalize: Any) -> list[PagePart] | None:
    """The page as text and tables in reading order; None when it holds no table."""
    lines = _lines(textpage)
    found: list[list[float]] = []  # the page's rules, read once when a table needs them

    def rules() -> list[float]:
        if not found:
            found.append(_rules(page))
        return found[0]

    tables = _tables(lines, _PageText(textpage), rules)
    if not tables:
        return None
    _, _, width, height = page.get_bbox()
    parts: list[PagePart] = []
    upper = float(height) + 1
    for table in tables:
        above = normalize(textpage.get_text_bounded(0, table.top + 0.5, float(width), upper))
        caption = _caption(above)
        if above.strip():
            parts.append(PagePart(above))
        lead = None if caption else lead_line(above)
        parts.append(PagePart("", tuple(table.rows), caption, lead))
        upper = table.bottom - 0.5
    below = normalize(textpage.get_text_bounded(0, 0, float(width), upper))
    if below.strip():
        parts.append(PagePart(below))
    return parts


def _caption(text: str) -> str | None:
    last = text.strip().rsplit("\n", 1)[-1].strip()
    return last[:80] if _CAPTION.match(last) else None


# -- lines and cells -----------------------------------------------------------------------------


def _lines(textpage: Any) -> list[_Line]:
    """The page's segments grouped into visual lines, top to bottom, cells left to right."""
    segments: list[_Cell] = []
    for index in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(index)
        if top > bottom and right > left:
            segments.append(_Cell(left, right, bottom, top))
    segments.sort(key=lambda s: (-(s.bottom + s.top) / 2, s.left))
    lines: list[_Line] = []
    for segment in segments:
        middle = (segment.top + segment.bottom) / 2
        line = lines[-1] if lines else None
        if line is not None and line.bottom <= middle <= line.top:
            line.cells.append(segment)
            line.top, line.bottom = max(line.top, segment.top), min(line.bottom, segment.bottom)
        else:
            lines.append(_Line(segment.top, segment.bottom, [segment]))
    for line in lines:
        line.cells = _merge_close(sorted(line.cells, key=lambda c: c.left), line.height)
    return lines


def _merge_close(cells: list[_Cell], height: float) -> list[_Cell]:
    """Join segments closer than a gutter (a font change or a kerning gap splits them too)."""
    gutter = max(4.0, GUTTER_HEIGHTS * height)
    merged: list[_Cell] = []
    for cell in cells:
        if merged and cell.left - merged[-1].right < gutter:
            last = merged[-1]
            merged[-1] = _Cell(
                last.left,
                max(last.right, cell.right),
                min(last.bottom, cell.bottom),
                max(last.top, cell.top),
            )
        else:
            merged.append(cell)
    return merged


# -- tables --------------------------------------------------------------------------------------


def _rules(page: Any) -> list[float]:
    """Heights of the horizontal rules drawn on the page (lines, and the edges of boxes: cell
    borders and row shading), top first."""
    import pypdfium2.raw as pdfium_c

    heights: list[float] = []
    for drawn in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_PATH], max_depth=3):
        left, bottom, right, top = drawn.get_bounds()
        if right - left < 8:
            continue
        heights.extend([(top + bottom) / 2] if top - bottom <= 2 else [top, bottom])
    rules: list[float] = []
    for height in sorted(heights, reverse=True):
        if not rules or rules[-1] - height > 1.5:
            rules.append(height)
    return rules


def _tables(lines: list[_Line], textpage: _PageText, rules: Any) -> list[PageTable]:
    tables: list[PageTable] = []
    index = 0
    while index < len(lines):
        if len(lines[index].cells) < 2:
            index += 1
            continue
        end = _run_end(lines, index)
        table = _table(lines[index:end], textpage, rules)
        if table is None:
            index = end  # no table starts inside a run that is none (and this keeps it linear)
            continue
        tables.append(table)
        index = end
    return tables


def _run_end(lines: list[_Line], start: int) -> int:
    """End (exclusive) of the run of table-like lines from `start`: multi-cell lines, and lines
    continuing a wrapped cell, each close below the one before."""
    first_left = lines[start].cells[0].left
    pitch = median(line.height for line in lines[start : start + 8])
    end = start + 1
    while end < len(lines):
        line, previous = lines[end], lines[end - 1]
        if previous.bottom - line.top > 2.0 * max(pitch, line.height):
            break
        continues = len(line.cells) == 1 and line.cells[0].left > first_left + 2 * pitch
        if len(line.cells) < 2 and not continues:
            break
        end += 1
    return end


def _table(run: list[_Line], textpage: _PageText, rules: Any) -> PageTable | None:
    multi = [line for line in run if len(line.cells) >= 2]
    if len(multi) < MIN_ROWS:
        return None
    columns = _columns(multi)
    if len(columns) < 2:
        return None
    # Every column prose (cells wider than SHORT_CELL_CHARS, at about half a line's height a
    # character): a page laid out in columns. Judged on the boxes, before any text is read.
    widths = [[] for _ in columns]
    for line in multi:
        for cell in line.cells:
            widths[_column_of(cell, columns)].append((cell.right - cell.left) / line.height)
    if not any(values and median(values) <= SHORT_CELL_CHARS / 2 for values in widths):
        return None
    # Rows as cells per column, judged on the boxes; a line with nothing in the first column
    # continues the row above (a wrapped cell).
    # A ruled table's rows lie between its rules (a wrapped cell may be centred, its first line
    # above the row's other cells); without rules, a line with nothing in the first column
    # continues the row above.
    pitch = median(line.height for line in run)
    inside = [y for y in rules() if run[-1].bottom - pitch < y < run[0].top + pitch]
    below = [-y for y in inside]  # ascending: the rules above a height found by bisection
    grid: list[list[list[_Cell]]] = []
    band = None
    for line in run:
        placed: list[list[_Cell]] = [[] for _ in columns]
        for cell in line.cells:
            placed[_column_of(cell, columns)].append(cell)
        middle = (line.top + line.bottom) / 2
        line_band = bisect_left(below, -middle) if len(inside) >= 2 else None
        joins = line_band == band if line_band is not None else not placed[0]
        if grid and joins:
            for column, cells in enumerate(placed):
                grid[-1][column].extend(cells)
        else:
            grid.append(placed)
        band = line_band
    if len(grid) < MIN_ROWS or sum(1 for row in grid if sum(map(bool, row)) >= 2) < MIN_ROWS:
        return None
    # Rows are read in order: a few rows tell a table of contents or an index (dot leaders).
    segments = textpage.segment_texts(run)
    rows: list[tuple[str, ...]] = []
    leaders = 0
    for number, row in enumerate(grid, start=1):
        texts = tuple(_cell_text(cells, segments) for cells in row)
        leaders += any(_LEADER.search(text) for text in texts)
        if leaders * 3 >= max(number, MIN_ROWS):
            return None
        rows.append(texts)
    # Cleaned as the other loaders' tables are: "|" escaped (it broke the Markdown table), cells
    # cut to MAX_CELL_CHARS, at most MAX_COLUMNS columns (a grid of 200 columns kept them all).
    cleaned = normalise_rows(rows)
    if len(cleaned) < MIN_ROWS or len(cleaned[0]) < 2:
        return None
    return PageTable(cleaned, run[0].top, run[-1].bottom)


def _cell_text(cells: list[_Cell], segments: dict[int, str]) -> str:
    text = ""
    for cell in cells:
        text = _join(text, " ".join(segments.get(id(cell), "").split()))
    return text


class _PageText:
    """The text of the segments of a page, from one pass over its characters.

    A PDFium bounded-text read scans every character of the page, so a read per cell was
    quadratic in a page's cells (a grid of 4,800 tiny cells took 5 s, 16,000 about a minute).
    Each character is placed once instead, at its box's centre; a space, a character PDFium
    generated (a space or line break) or one without a box goes with the character before it."""

    def __init__(self, textpage: Any) -> None:
        self.textpage = textpage
        self._chars: list[tuple[float, float, int, str]] | None = None  # (y, x, index, char)
        self._heights: list[float] = []

    def _read(self) -> list[tuple[float, float, int, str]]:
        import pypdfium2.raw as pdfium_c

        page = self.textpage
        left, right, bottom, top = (ctypes.c_double() for _ in range(4))
        chars: list[tuple[float, float, int, str]] = []
        x = y = None
        for index in range(page.count_chars()):
            code = pdfium_c.FPDFText_GetUnicode(page, index)
            char = chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else ""
            if (
                char
                and not char.isspace()
                and pdfium_c.FPDFText_IsGenerated(page, index) != 1
                and pdfium_c.FPDFText_GetCharBox(page, index, left, right, bottom, top)
            ):
                x, y = (left.value + right.value) / 2, (bottom.value + top.value) / 2
            elif x is None or y is None:
                continue
            else:
                char = " "
            chars.append((y, x, index, char))
        chars.sort()
        self._heights = [char[0] for char in chars]
        return chars

    def segment_texts(self, run: list[_Line]) -> dict[int, str]:
        """The text of each cell (segment) of the lines of `run`, by the cell's id."""
        if self._chars is None:
            self._chars = self._read()
        low = bisect_left(self._heights, run[-1].bottom - 1)
        high = bisect_right(self._heights, run[0].top + 1)
        middles = [-(line.top + line.bottom) / 2 for line in run]  # ascending
        lefts = [[cell.left for cell in line.cells] for line in run]
        pieces: dict[int, list[str]] = {}
        for y, x, _, char in sorted(self._chars[low:high], key=lambda c: c[2]):
            at = bisect_left(middles, -y)  # run[at - 1] and run[at] have y between their middles
            # In every cell whose box holds it, as a bounded read of each cell had it (lines can
            # overlap: a raised quote or caret makes a thin line of its own inside a taller one).
            for number in range(max(0, at - 2), min(len(run), at + 2)):
                line = run[number]
                if not line.bottom - 1 <= y <= line.top + 1:
                    continue
                column = bisect_right(lefts[number], x + 1) - 1
                if column >= 0 and x <= line.cells[column].right + 1:
                    pieces.setdefault(id(line.cells[column]), []).append(char)
        return {key: "".join(chars) for key, chars in pieces.items()}


def _columns(lines: list[_Line]) -> list[tuple[float, float]]:
    """Columns: the union of overlapping cell x-ranges, left to right."""
    spans = sorted((cell.left, cell.right) for line in lines for cell in line.cells)
    columns: list[list[float]] = []
    for left, right in spans:
        if columns and left <= columns[-1][1]:
            columns[-1][1] = max(columns[-1][1], right)
        else:
            columns.append([left, right])
    return [(left, right) for left, right in columns]


def _column_of(cell: _Cell, columns: list[tuple[float, float]]) -> int:
    """The column a cell lies in (columns are disjoint and sorted; cells of the run built them)."""
    middle = (cell.left + cell.right) / 2
    return max(0, bisect_right(columns, (middle, float("inf"))) - 1)


def _join(left: str, right: str) -> str:
    if not left or not right:
        return left or right
    if left.endswith("-") and right[:1].islower():
        return left[:-1] + right
    return left + ("" if is_cjk(left[-1]) or is_cjk(right[0]) else " ") + right
