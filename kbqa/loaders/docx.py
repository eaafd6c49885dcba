"""Word (.docx): paragraphs and tables in document order, Heading styles tracked as "H1 > H2".

A table of at least two rows and two columns is a table Section of its own ("Table N", the first
row as its header); smaller ones, and tables nested in a cell, read as lines of " | "-joined cells.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import check_chars
from kbqa.loaders._ooxml import check_inflated
from kbqa.loaders._textutil import HEADING_SEPARATOR, clean_text
from kbqa.text.table import (
    MAX_COLUMNS,
    lead_line,
    markdown_table,
    normalise_rows,
    table_heading,
)
from kbqa.types import TABLE, Section

# English built-in names and the Chinese names some templates use ("标题 1").
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# What a run's text is made of (python-docx's Run.text), read child by child: python-docx selects
# them with one XPath union, which lxml merges in quadratic time (a paragraph of 1 MB of tabs and
# spaces, each tab its own element, took minutes).
_RUN_CONTENT = frozenset(
    f"{_W}{name}" for name in ("br", "cr", "noBreakHyphen", "ptab", "t", "tab")
)


def load_docx(path: Path, limits: Any) -> list[Section]:
    with path.open("rb") as handle:
        magic = handle.read(8)
    if not magic.strip():
        raise LoaderError("empty file")
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise LoaderError(
            "not a .docx package (an OLE file: a password-protected document or an old .doc)"
        )
    if not zipfile.is_zipfile(path):
        raise LoaderError("corrupt .docx (not a ZIP package)")
    check_inflated(path, limits, ".docx")

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise LoaderError(f"corrupt .docx ({type(exc).__name__}: {exc})"[:200]) from None
    except Exception as exc:  # lxml XMLSyntaxError and friends from a damaged part
        if "Excessive depth" in str(exc):  # libxml2's 256 levels: tables nested ~80 deep
            raise LoaderError(
                "document too deeply nested to read (XML more than 256 levels deep, "
                "such as tables nested in table cells)"
            ) from None
        raise LoaderError(f"corrupt .docx ({type(exc).__name__})") from None
    if getattr(document.element, "body", None) is None:  # the main part is not a w:document
        raise LoaderError("corrupt .docx (its main part is not a Word document)")

    sections: list[Section] = []
    stack: list[str] = []
    lines: list[str] = []

    chars = 0

    def flush() -> None:
        nonlocal chars
        content = clean_text("\n".join(lines))
        chars += len(content)
        check_chars(chars, limits)
        if content.strip() and not (len(lines) == 1 and stack and lines[0] == stack[-1]):
            path_ = HEADING_SEPARATOR.join(part for part in stack if part)
            sections.append(Section(text=content, heading=path_ or None))
        lines.clear()

    tables = 0
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):  # a Table
            if not getattr(limits, "tables", True):  # ingest.tables off: cells as text
                lines.extend(_table_lines(block))
                continue
            caption, rows, nested = _table_rows(block)
            if len(rows) < 2 or len(rows[0]) < 2:  # one row or column: lays the page out
                lines.extend(_table_lines(block))
                continue
            lead = None if caption else lead_line("\n".join(lines))
            flush()
            tables += 1
            text = markdown_table(rows)
            chars += len(text)
            check_chars(chars, limits)
            above = HEADING_SEPARATOR.join(part for part in stack if part) or None
            heading = table_heading(above, caption or lead, HEADING_SEPARATOR)
            sections.append(
                Section(
                    text, heading=heading, kind=TABLE, rows=tuple(rows), table=f"Table {tables}"
                )
            )
            for inner in nested:
                lines.extend(_table_lines(inner))
            continue
        text = _paragraph_text(block).strip()
        if not text:
            continue
        level = _heading_level(block)
        if level is None:
            lines.append(text)
            continue
        flush()
        del stack[level - 1 :]
        stack.extend([""] * (level - 1 - len(stack)))
        stack.append(text)
        lines.append(text)
    flush()
    if not sections:
        raise LoaderError("no text found")
    return sections


def _run_text(run: Any) -> str:
    return "".join(str(child) for child in run if child.tag in _RUN_CONTENT)


def _paragraph_text(paragraph: Any) -> str:
    """python-docx's Paragraph.text (runs, and runs inside hyperlinks), in linear time."""
    return _p_text(paragraph._p)


def _p_text(p: Any) -> str:
    """A w:p element's text."""
    parts: list[str] = []
    for child in p:
        if child.tag == f"{_W}r":
            parts.append(_run_text(child))
        elif child.tag == f"{_W}hyperlink":
            parts.extend(_run_text(run) for run in child if run.tag == f"{_W}r")
    return "".join(parts)


def _heading_level(paragraph: Any) -> int | None:
    try:
        style = paragraph.style
    except (AttributeError, KeyError, ValueError):  # a damaged or missing styles part
        style = None
    seen = 0
    while style is not None and seen < 10:  # follow based-on styles: "My Heading" -> Heading 2
        name = (style.name or "").strip()
        # Levels: the Title style is 1, "Heading N" is N+1, so a title heads the whole path.
        if name.lower() == "title":
            return 1
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1)) + 1
        level = _outline_level(style.element)
        if level is not None:
            return level + 1
        style = style.base_style
        seen += 1
    level = _outline_level(paragraph._p)
    return level + 1 if level is not None else None


def _outline_level(element: Any) -> int | None:
    # w:outlineLvl (0-8) marks a heading in documents that use custom style names.
    ppr = element.find(f"{_W}pPr")
    lvl = ppr.find(f"{_W}outlineLvl") if ppr is not None else None
    if lvl is None:
        return None
    try:
        value = int(lvl.get(f"{_W}val"))
    except (TypeError, ValueError):
        return None
    return value + 1 if 0 <= value < 9 else None


# Tables are read from their XML, not through python-docx's Row.cells: that follows a vertically
# merged cell up to its first row once per row below it, recursively (a cell merged down 500 rows
# ran past 60 s, and deeper ones hit the recursion limit), yields a cell once per column of its
# w:gridSpan (gridSpan="999999999": a billion cells), and raises ValueError on a merge with no
# cell above it. Here each w:tc is read once: spans are clamped to MAX_COLUMNS, and a continued
# merge takes the text of the cell above it in the row read just before.
_TR, _TC, _TBL, _P, _TCPR = (f"{_W}{name}" for name in ("tr", "tc", "tbl", "p", "tcPr"))
# A caption made of title rows is cut (a table of 20,000 full-width merged rows is all title).
_MAX_CAPTION_CHARS = 200


def _int_attribute(element: Any, child: str, default: int) -> int:
    found = element.find(f"{_W}{child}") if element is not None else None
    try:
        return int(found.get(f"{_W}val")) if found is not None else default
    except (TypeError, ValueError):
        return default


def _cell_shape(tc: Any) -> tuple[int, bool]:
    """The grid columns a w:tc spans (1 to MAX_COLUMNS), and whether it continues a vertical
    merge (w:vMerge without val="restart")."""
    props = tc.find(_TCPR)
    span = min(max(_int_attribute(props, "gridSpan", 1), 1), MAX_COLUMNS)
    merge = props.find(f"{_W}vMerge") if props is not None else None
    return span, merge is not None and merge.get(f"{_W}val", "continue") == "continue"


def _cell_text(tc: Any) -> str:
    texts = (_p_text(p).strip() for p in tc.iterchildren(_P))
    return " ".join(text for text in texts if text)


def _table_rows(table: Any) -> tuple[str, list[tuple[str, ...]], list[Any]]:
    """The table's caption, its cleaned rows (a merged cell repeated in each column it spans, so
    the columns stay aligned with the header), and the tables (w:tbl) nested in its cells.

    Leading rows of one cell merged across the whole width are a title, not the header: they
    become the caption."""
    rows: list[list[str]] = []
    nested: list[Any] = []
    above: list[str] = []
    for tr in _tbl(table).iterchildren(_TR):
        before = min(max(_int_attribute(tr.find(f"{_W}trPr"), "gridBefore", 0), 0), MAX_COLUMNS)
        cells: list[str] = [""] * before
        for tc in tr.iterchildren(_TC):
            nested.extend(tc.iterchildren(_TBL))
            if len(cells) >= MAX_COLUMNS:
                continue  # past what normalise_rows keeps; nested tables still read
            span, continues = _cell_shape(tc)
            offset = len(cells)
            text = (above[offset] if offset < len(above) else "") if continues else _cell_text(tc)
            cells.extend([text] * span)
        rows.append(cells)
        above = cells
    cleaned = normalise_rows(rows)
    titles = 0
    while len(cleaned) - titles > 1 and len(cleaned[titles]) > 1 and len(set(cleaned[titles])) == 1:
        titles += 1
    caption = " ".join(row[0] for row in cleaned[: min(titles, 8)])[:_MAX_CAPTION_CHARS]
    return caption, cleaned[titles:], nested  # a slice, not pop(0) per title row


def _table_lines(table: Any) -> list[str]:
    """One line per row, cells joined by " | " (a merged cell once: a horizontal merge is one
    w:tc, and a vertical one is read in its first row); nested tables follow."""
    out: list[str] = []
    for tr in _tbl(table).iterchildren(_TR):
        cells: list[str] = []
        nested: list[Any] = []
        for tc in tr.iterchildren(_TC):
            nested.extend(tc.iterchildren(_TBL))
            if not _cell_shape(tc)[1]:
                cells.append(_cell_text(tc))
        if any(cells):
            out.append(" | ".join(cells))
        for inner in nested:
            out.extend(_table_lines(inner))
    return out


def _tbl(table: Any) -> Any:
    """A python-docx Table's w:tbl element (or the element itself)."""
    return getattr(table, "_tbl", table)
