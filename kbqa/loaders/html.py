"""HTML (.html, .htm): visible text only, split at h1-h6 like Markdown ("H1 > H2" paths)."""

from __future__ import annotations

import re
from pathlib import Path

from kbqa.errors import LoaderError
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


def load_html(path: Path) -> list[Section]:
    from bs4 import BeautifulSoup
    from bs4.element import NavigableString, Tag

    text = _decode_html(path.read_bytes())
    soup = BeautifulSoup(text, "lxml")
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else ""

    sections: list[Section] = []
    stack: list[str] = []
    parts: list[str] = []

    def flush() -> None:
        # Block elements end lines; blank lines between them carry no meaning in HTML.
        lines = (line.strip().removesuffix(" |") for line in "".join(parts).split("\n"))
        content = clean_text("\n".join(line for line in lines if line))
        if content.strip():
            path_ = HEADING_SEPARATOR.join(part for part in stack if part) or page_title
            sections.append(Section(text=content, heading=path_ or None))
        parts.clear()

    # Iterative walk (deeply nested pages would overflow a recursive one); a (node, True) entry
    # marks the end of an element, where a block element ends its line.
    pending: list[tuple[object, bool]] = [(soup, False)]
    in_pre = 0
    while pending:
        node, leaving = pending.pop()
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a Comment, Doctype, CData, ...
                parts.append(str(node) if in_pre else _SPACES.sub(" ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if leaving:
            if name == "pre":
                in_pre -= 1
            if name in _BLOCK:
                parts.append("\n")
            elif name in _CELL:
                parts.append(" | ")
            continue
        if name in _SKIP:
            continue
        if name == "br":
            parts.append("\n")
            continue
        if name in _HEADING:
            flush()
            level = _HEADING[name]
            del stack[level - 1 :]
            stack.extend([""] * (level - 1 - len(stack)))
            stack.append(_SPACES.sub(" ", node.get_text(" ")).strip())
        if name == "pre":
            in_pre += 1
        if name in _BLOCK:
            parts.append("\n")
        pending.append((node, True))
        pending.extend((child, False) for child in reversed(node.contents))
    flush()
    if not sections:
        raise LoaderError("no text found (only markup or scripts)")
    return sections
