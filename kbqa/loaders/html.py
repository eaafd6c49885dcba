"""HTML (.html, .htm): visible text only, split at h1-h6 like Markdown ("H1 > H2" paths)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import chars_error, check_chars
from kbqa.loaders._textutil import clean_text, decode_bytes
from kbqa.loaders.text import HEADING_SEPARATOR
from kbqa.types import Section

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
_HEADING = {f"h{level}": level for level in range(1, 7)}
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
        for content, heading in collector.sections
    ]
    if not sections:
        raise LoaderError("no text found (only markup or scripts)")
    return sections


class _Collector:
    """lxml parser target: visible text split at h1-h6, the way a reader sees the page."""

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self.sections: list[tuple[str, str]] = []  # (text, heading path; "" for the page title)
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
            self._parts.append("\n")
            return
        if name in _HEADING:
            self._end_heading()
            self._flush()
            self._heading_at, self._heading_level = depth, _HEADING[name]
        if name == "pre":
            self._in_pre += 1
        if name in _BLOCK:
            self._parts.append("\n")

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
        if name in _BLOCK:
            self._parts.append("\n")
        elif name in _CELL:
            self._parts.append(" | ")

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
        self._parts.append(text if self._in_pre else _SPACES.sub(" ", text))
        self._chars += len(text)
        if self._chars > self.limits.max_chars and self.failure is None:
            self.failure = chars_error(self.limits)
            raise self.failure
        if self._heading_at:
            self._heading_parts.append(text)

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
        lines = (line.strip().removesuffix(" |") for line in "".join(self._parts).split("\n"))
        content = clean_text("\n".join(line for line in lines if line))
        if content.strip():
            heading = HEADING_SEPARATOR.join(part for part in self._stack if part)
            self.sections.append((content, heading))
        self._parts.clear()
