"""Delimited text (.csv, .tsv): one table Section, its first non-empty row the header.

The bytes are decoded as a .txt file's are (`decode_bytes`: BOMs, UTF-8, UTF-16, GB18030, a
detector). A .tsv is split at tabs; a .csv at the delimiter its first rows use most consistently
(",", ";", tab or "|"; "," when none does). Each cell is cut by `clean_cell`, so one 10 MB field
makes a 1,000-character cell, not a 10 MB chunk.

`RowCollector` (shared with the .xlsx loader) cleans rows as they are read and counts their
characters against max_chars as it goes.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import check_chars
from kbqa.loaders._textutil import decode_bytes
from kbqa.text.table import markdown_table, normalise_rows
from kbqa.types import TABLE, Section

_DELIMITERS = (",", ";", "\t", "|")  # in order of preference on a tie
_SNIFF_CHARS = 64 * 1024
_SNIFF_ROWS = 50


class RowCollector:
    """A table's rows, cleaned one at a time as they are read (each row's raw values can go at
    once), with the characters of every table of the file counted against max_chars."""

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self.chars = 0
        self.rows: list[tuple[str, ...]] = []

    def add(self, values: Sequence[object]) -> bool:
        """Keep the row if it has any text; False when it is empty."""
        cleaned = normalise_rows([values])
        if not cleaned:
            return False
        row = cleaned[0]
        self.chars += sum(len(cell) + 3 for cell in row) + 2  # as a Markdown row
        check_chars(self.chars, self.limits)
        self.rows.append(row)
        return True

    def section(self, heading: str | None, table: str, page: int | None = None) -> Section | None:
        """The rows so far as one table Section (of equal width), or None when there are none;
        the collector starts a new table (its character count goes on)."""
        rows, self.rows = self.rows, []
        if not rows:
            return None
        width = max(len(row) for row in rows)
        padded = tuple(row + ("",) * (width - len(row)) for row in rows)
        return Section(
            markdown_table(padded), page=page, heading=heading, kind=TABLE, rows=padded, table=table
        )


def _raise_field_limit(limits: Any) -> None:
    # The csv module refuses a field over 128 KiB by default; a field may be as long as a file's
    # text may be (max_chars). The limit is process-wide, so it is only ever raised.
    wanted = max(int(limits.max_chars), 1 << 20)
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first rows into the most rows of one width above 1."""
    sample = text[:_SNIFF_CHARS]
    truncated = len(text) > len(sample)
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        widths: list[int] = []
        try:
            for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
                if row:
                    widths.append(len(row))
                if len(widths) > _SNIFF_ROWS:
                    break
        except csv.Error:
            continue
        if truncated and len(widths) > 1:
            widths.pop()  # the sample may have cut the last row
        common = Counter(w for w in widths if w > 1).most_common(1)
        if not common:
            continue
        width, count = common[0]
        score = (count, width)
        if score > best_score:  # strictly: the earlier delimiter wins a tie
            best, best_score = delimiter, score
    return best


def _lines(text: str):
    """The lines of `text`, line ends kept, one at a time: csv.reader over io.StringIO would hold
    a second copy of the whole text at 4 bytes a character."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        end = len(text) if end < 0 else end + 1
        yield text[start:end]
        start = end


def _load_delimited(path: Path, limits: Any, delimiter: str | None) -> list[Section]:
    check_chars(path.stat().st_size // 4, limits)  # no encoding takes more than 4 bytes a char
    text = decode_bytes(path.read_bytes())
    check_chars(len(text), limits)
    _raise_field_limit(limits)
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    collector = RowCollector(limits)
    try:
        for row in csv.reader(_lines(text), delimiter=delimiter):
            collector.add(row)
    except csv.Error as exc:
        raise LoaderError(f"malformed {path.suffix.lower()} ({exc})"[:200]) from None
    del text
    section = collector.section(heading=path.stem, table=path.name)
    if section is None:
        raise LoaderError("empty file")
    return [section]


def load_csv(path: Path, limits: Any) -> list[Section]:
    return _load_delimited(path, limits, None)


def load_tsv(path: Path, limits: Any) -> list[Section]:
    return _load_delimited(path, limits, "\t")
