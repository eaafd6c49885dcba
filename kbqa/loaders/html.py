"""HTML (.html, .htm): visible text only, split at h1-h6 like Markdown ("H1 > H2" paths).

A data table (at least two rows and two columns, holding no other table) becomes a table
Section of its own, the first row as the header, labelled "Table N" (with its caption). Layout
tables (one column or row, or tables around tables) read as text, cells joined by " | ".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import chars_error, check_chars
from kbqa.loaders._textutil import HEADING_SEPARATOR, clean_text, decode_bytes
from kbqa.text.table import (
    MAX_COLUMNS,
    MAX_LEAD_CHARS,
    lead_line,
    markdown_table,
    normalise_rows,
    table_heading,
)
from kbqa.types import TABLE, Section

# Never shown to a reader.
_SKIP = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "canvas"}
)
# Elements that start on a new line when rendered.
_BLOCK = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
    ]
)
_CELL = frozenset({"td", "th"})
_TABLE_PARTS = frozenset({"table", "tr", "td", "th", "caption"})
_HEADING = {f"h{level}": level for level in range(1, 7)}
_MAX_CAPTION_CHARS = 200
_SPACES = re.compile(r"\s+")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _decode_html(data: bytes) -> str:
    # A declared charset wins (GBK pages usually declare it); otherwise sniff like a text file.
    match = _META_CHARSET.search(data[:4096])
    if match and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        encoding = match.group(1).decode("ascii").lower()
        if encoding in ("gb2312", "gbk"):
            encoding = "gb18030"  # browsers read gb2312/gbk labels as GB18030, a superset
        try:
            return data.decode(encoding, errors="replace")
        except LookupError:
            pass
    return decode_bytes(data)


# Decoded text fed to the parser at a time (lxml copies what it is fed).
_FEED_CHARS = 1 << 20


def load_html(path: Path, limits: Any) -> list[Section]:
    """Stream the page through lxml's HTML parser (libxml2, the parser BeautifulSoup's "lxml"
    builder drives) into a collector: no tree is built, so memory stays near the text's size (a
    40 MB page took 4.1 GB as a BeautifulSoup tree)."""
    from lxml import etree

    data = path.read_bytes()
    check_chars(len(data) // 4, limits)
    text = _decode_html(data)
    del data
    collector = _Collector(limits)
    parser = etree.HTMLParser(target=collector, huge_tree=True, no_network=True)
    try:
        for start in range(0, len(text), _FEED_CHARS):
            parser.feed(text[start : start + _FEED_CHARS])
        parser.close()
    except etree.LxmlError as exc:
        if collector.failure is not None:  # lxml wraps what the collector raised
            raise collector.failure from None
        raise LoaderError(f"unreadable HTML ({exc})"[:200]) from None
    if collector.failure is not None:
        raise collector.failure
    page_title = collector.title or ""
    sections = [
        Section(text=content, heading=heading or page_title or None)
        if rows is None
        else Section(
            text=content,
            heading=heading or page_title or None,
            kind=TABLE,
            rows=rows,
            table=label,
        )
        for content, heading, rows, label in collector.sections
    ]
    if not sections:
        raise LoaderError("no text found (only markup or scripts)")
    return sections


class _Table:
    """A <table> being read: its rows of cells, or plain text once it proves a layout table."""

    def __init__(self) -> None:
        self.rows: list[list[str]] = []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.caption: list[str] | None = None  # while the <caption> is read
        self.caption_text = ""
        self.layout = False

    def open(self, name: str) -> None:
        """A <tr>, <td>/<th> or <caption> starts (ending the row or cell before it)."""
        if name == "tr":
            self.end_row()
            self.row = []
        elif name in _CELL:
            self.end_cell()
            self.cell = []
        elif name == "caption":
            self.caption = []

    def close(self, name: str) -> None:
        if name == "tr":
            self.end_row()
        elif name in _CELL:
            self.end_cell()
        elif name == "caption" and self.caption is not None:
            # Cut: the caption heads every chunk of the table (a 5 MB caption, in each one).
            caption = _SPACES.sub(" ", "".join(self.caption)).strip()
            self.caption_text = caption[:_MAX_CAPTION_CHARS]
            self.caption = None

    def end_cell(self) -> None:
        if self.cell is not None:
            if self.row is None:
                self.row = []
            # Past MAX_COLUMNS, the cells of the rows after the first are dropped (normalise_rows
            # drops them; 20 MB of <td>s in rows of 3,500 held them all: +296 MB). The first row
            # is kept whole: a one-row table is a layout table, read whole as text.
            if len(self.row) < MAX_COLUMNS or not self.rows:
                self.row.append("".join(self.cell))
            self.cell = None

    def end_row(self) -> None:
        self.end_cell()
        if self.row is not None:
            self.rows.append(self.row)
            self.row = None

    def as_text(self) -> str:
        self.end_row()
        return "\n".join(" | ".join(c.strip() for c in row) for row in self.rows) + "\n"


# (text, heading path ("" for the page title), a table's rows or None, a table's label)
_Found = tuple[str, str, tuple[tuple[str, ...], ...] | None, str | None]


class _Collector:
    """lxml parser target: visible text split at h1-h6, the way a reader sees the page."""

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self._keep_tables = bool(getattr(limits, "tables", True))  # ingest.tables
        self.sections: list[_Found] = []
        self.title: str | None = None  # the first <title>'s text
        self.failure: LoaderError | None = None
        self._stack: list[str] = []  # heading path
        self._parts: list[str] = []
        self._chars = 0
        self._open: list[str] = []  # names of the open elements
        self._node: list[str] = []  # pieces of the text node being read (lxml cuts long ones)
        self._skip_at = 0  # depth of the element whose content is never shown (0: none)
        self._title_at = 0  # depth of the <title> being read
        self._title_parts: list[str] = []
        self._heading_at = 0  # depth of the h1-h6 being read
        self._heading_level = 0
        self._heading_parts: list[str] = []
        self._in_pre = 0
        self._tables: list[_Table] = []  # the open <table>s, innermost last
        self._table_count = 0

    # -- events ------------------------------------------------------------------------------

    def start(self, tag: Any, attrib: Any) -> None:
        self._text_node()
        name = tag.lower() if isinstance(tag, str) else ""
        self._open.append(name)
        depth = len(self._open)
        if name == "title" and self.title is None and not self._title_at:
            self._title_at = depth
        if self._skip_at:
            return
        if name in _SKIP:
            self._skip_at = depth
            return
        if name == "br":
            self._emit("\n")
            return
        if name in _TABLE_PARTS and self._table_start(name):
            return
        if name in _HEADING and not self._in_data_table():
            self._end_heading()
            self._flush()
            self._heading_at, self._heading_level = depth, _HEADING[name]
        if name == "pre":
            self._in_pre += 1
        if name in _BLOCK:
            self._emit("\n")

    def end(self, tag: Any) -> None:
        self._text_node()
        if not self._open:
            return
        depth = len(self._open)
        name = self._open.pop()
        if depth == self._title_at:
            self.title = " ".join(part.strip() for part in self._title_parts if part.strip())
            self._title_at = 0
        if self._skip_at:
            if depth == self._skip_at:
                self._skip_at = 0
            return
        if name == "br":
            return
        if name == "pre":
            self._in_pre -= 1
        if depth == self._heading_at:
            self._end_heading()
        if name in _TABLE_PARTS and self._table_end(name):
            return
        if name in _BLOCK:
            self._emit("\n")
        elif name in _CELL:
            self._emit(" | ")

    def data(self, text: str) -> None:
        self._node.append(text)

    def comment(self, text: str) -> None:
        self._text_node()  # a comment ends a text node, and is never shown

    def pi(self, target: str, data: str | None = None) -> None:
        self._text_node()

    def doctype(self, *args: Any) -> None:
        self._text_node()

    def close(self) -> None:
        self._text_node()
        self._end_heading()
        self._flush()

    # -- collecting --------------------------------------------------------------------------

    def _text_node(self) -> None:
        if not self._node:
            return
        text = "".join(self._node)
        self._node.clear()
        if self._title_at:
            self._title_parts.append(text)
        if self._skip_at:
            return
        self._emit(text if self._in_pre else _SPACES.sub(" ", text))
        self._chars += len(text)
        if self._chars > self.limits.max_chars and self.failure is None:
            self.failure = chars_error(self.limits)
            raise self.failure
        if self._heading_at:
            self._heading_parts.append(text)

    def _emit(self, text: str) -> None:
        """Text to the open data table's cell (or caption), else to the running text."""
        table = self._tables[-1] if self._tables else None
        if table is None or table.layout:
            self._parts.append(text)
        elif table.cell is not None:
            table.cell.append(" " if text == "\n" else text)
        elif table.caption is not None:
            table.caption.append(text)
        elif text.strip():
            # Text in a table but in no cell: browsers show it before the table (HTML's foster
            # parenting); it was dropped, and with it the text of <table> repeated 100,000 times.
            self._parts.append(text)
        # else: whitespace between a data table's rows and cells

    def _tail(self, size: int) -> str:
        """The last `size` characters of the running text."""
        pieces: list[str] = []
        total = 0
        for part in reversed(self._parts):
            pieces.append(part)
            total += len(part)
            if total >= size:
                break
        return "".join(reversed(pieces))[-size:]

    def _in_data_table(self) -> bool:
        return bool(self._tables) and not self._tables[-1].layout

    def _table_start(self, name: str) -> bool:
        """Handle a table element's start; True when it needs nothing more."""
        if name == "table" and not self._keep_tables:
            return False  # read as text, cells joined by " | "
        if name == "table":
            if self._tables and not self._tables[-1].layout:
                # A table around a table lays the page out: what it read so far is text.
                outer = self._tables[-1]
                outer.layout = True
                self._parts.append(outer.as_text())
            # The text before a table stays in the running text: a data table's end flushes it
            # as a Section of its own, and a layout table's text joins it. (A flush here made a
            # Section per level of nested layout tables: 5,000 for tables nested 5,000 deep.)
            self._tables.append(_Table())
            return True
        if not self._in_data_table():
            return False
        self._tables[-1].open(name)
        return True

    def _table_end(self, name: str) -> bool:
        """Handle a table element's end; True when it needs nothing more."""
        if name == "table" and self._tables:
            table = self._tables.pop()
            if not table.layout:
                self._end_table(table)
            else:
                self._parts.append("\n")
            return True
        if not self._in_data_table():
            return False
        self._tables[-1].close(name)
        return True

    def _end_table(self, table: _Table) -> None:
        table.end_row()
        rows = normalise_rows(table.rows)
        if len(rows) < 2 or len(rows[0]) < 2:  # one row or one column: a layout table
            # Its text read whole from the raw rows: normalise_rows cuts cells to MAX_CELL_CHARS
            # and rows to MAX_COLUMNS (a page laid out in one cell kept 1,000 characters).
            text = "\n".join(" | ".join(c.strip() for c in row if c.strip()) for row in table.rows)
            self._parts.append(text + "\n")
            return
        # The sentence above it, looked for only now, and in the last characters of the running
        # text only (a look at each <table>'s start took 9 s for 100,000 nested <table>s): the
        # running text is as it was at the table's start, since a data table holds no heading
        # and no table.
        lead = None if table.caption_text else lead_line(self._tail(4 * MAX_LEAD_CHARS))
        self._flush()
        self._table_count += 1
        caption = table.caption_text
        label = f"Table {self._table_count}" + (f": {caption[:80]}" if caption else "")
        above = HEADING_SEPARATOR.join(part for part in self._stack if part)
        heading = table_heading(above, caption or lead, HEADING_SEPARATOR) or ""
        self.sections.append((markdown_table(rows), heading, tuple(rows), label))

    def _end_heading(self) -> None:
        if not self._heading_at:
            return
        level = self._heading_level
        del self._stack[level - 1 :]
        self._stack.extend([""] * (level - 1 - len(self._stack)))
        # Its strings joined by a space, as BeautifulSoup's get_text(" ") did.
        self._stack.append(_SPACES.sub(" ", " ".join(self._heading_parts)).strip())
        self._heading_at = 0
        self._heading_parts = []

    def _flush(self) -> None:
        # Block elements end lines; blank lines between them carry no meaning in HTML.
        lines = (
            line.strip().removesuffix(" |").removeprefix("| ")
            for line in "".join(self._parts).split("\n")
        )
        # Lines of nothing but cell separators (the empty cells of layout tables) are dropped.
        content = clean_text("\n".join(line for line in lines if line.strip("| ")))
        if content.strip():
            heading = HEADING_SEPARATOR.join(part for part in self._stack if part)
            self.sections.append((content, heading, None, None))
        self._parts.clear()
