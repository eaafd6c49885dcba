"""Excel (.xlsx): every worksheet is a table Section, its name the heading and the label.

Read with openpyxl in read-only mode (rows streamed from the sheet's XML, never a whole sheet
of cell objects) and data_only: a formula cell gives the value the spreadsheet application saved
with it (a file never opened in one after a formula was written has none: the cell is empty).
The first non-empty row of a sheet is its header.

Bounded work on hostile or sloppy files:
- a ZIP bomb is refused by its declared sizes before parsing (`open_package`);
- the sheet's declared dimension is ignored (a bogus "A1:XFD1048576" would make openpyxl pad every
  row to 16,384 cells and the sheet to a million rows): rows are read as stored, at most
  MAX_COLUMNS (64) columns each;
- reading a sheet stops after MAX_EMPTY_RUN empty rows in a row: a sheet of a million formatted
  but empty rows costs a few thousand rows of parsing, not a million. Data past such a gap is not
  read (real sheets separate blocks by a few blank rows, not ten thousand);
- the characters of all sheets together are counted against max_chars as the rows come.
"""

from __future__ import annotations

import datetime as dt
import sys
import zipfile
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._ooxml import open_package
from kbqa.loaders.tabular import RowCollector
from kbqa.text.table import MAX_COLUMNS
from kbqa.types import Section

# Empty rows in a row after which the rest of a sheet is not read (see the module docstring).
MAX_EMPTY_RUN = 10_000


def _import_openpyxl() -> Any:
    """openpyxl, imported without numpy where numpy is not loaded yet: openpyxl only uses it to
    write numpy numbers, and in the reader process (kbqa/loaders/worker.py) numpy would cost
    0.15 s and 120 MB of its capped address space."""
    if "openpyxl" in sys.modules or "numpy" in sys.modules:
        import openpyxl

        return openpyxl
    sys.modules["numpy"] = None  # type: ignore[assignment]  # makes `import numpy` fail
    try:
        import openpyxl
    finally:
        del sys.modules["numpy"]
    return openpyxl


def _cell_text(value: object) -> object:
    """A cached cell value as a spreadsheet shows it, near enough: TRUE/FALSE, dates without a
    midnight time, whole floats without ".0"."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def load_xlsx(path: Path, limits: Any) -> list[Section]:
    open_package(path, limits, path.suffix.lower() or ".xlsx", "spreadsheet", ".xls")
    openpyxl = _import_openpyxl()
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (KeyError, zipfile.BadZipFile, ValueError, TypeError) as exc:
        raise LoaderError(f"corrupt .xlsx ({type(exc).__name__}: {exc})"[:200]) from None
    except (MemoryError, RecursionError):  # loaders.load names these
        raise
    except Exception as exc:  # openpyxl's InvalidFileException, XML syntax errors, ...
        raise LoaderError(f"corrupt .xlsx ({type(exc).__name__})"[:200]) from None
    sections: list[Section] = []
    collector = RowCollector(limits)
    try:
        for sheet in book.worksheets:
            try:
                _read_sheet(sheet, collector)
            except (LoaderError, MemoryError, RecursionError):
                raise
            except Exception as exc:  # a damaged sheet part
                raise LoaderError(
                    f"corrupt .xlsx (sheet {sheet.title!r}: {type(exc).__name__})"[:200]
                ) from None
            section = collector.section(heading=sheet.title, table=sheet.title)
            if section is not None:
                sections.append(section)
    finally:
        book.close()
    if not sections:
        raise LoaderError("empty spreadsheet (no cell has a value)")
    return sections


def _read_sheet(sheet: Any, collector: RowCollector) -> None:
    if hasattr(sheet, "reset_dimensions"):  # read-only sheets: don't trust the declared size
        sheet.reset_dimensions()
    empty_run = 0
    for values in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
        if collector.add([_cell_text(value) for value in values]):
            empty_run = 0
            continue
        empty_run += 1
        if empty_run >= MAX_EMPTY_RUN:
            break
