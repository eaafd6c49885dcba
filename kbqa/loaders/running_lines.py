"""Running headers and footers of a paged document: the lines repeated at the pages' edges.

A PDF page's text starts and ends with what its layout repeats page after page: the manual's
title and release ("Debian Policy Manual, Release 4.6.2.0"), the chapter and page ("88 Chapter 9.
The Operating System"), the page number alone ("32") or with the title ("Debian 参考手册 98 /
223"). Left in, they glue onto the page's first sentence ("Debian Policy Manual, Release 4.6.2.0
for packages to use, …"), match every question that names the manual, and read as the label of
the paragraph under them.

A line is running when its shape (the line with each run of digits as one mark, a lone roman
numeral as a number) stands among the first or last EDGE_LINES lines of at least MIN_PAGES
pages, at least half of them within PAGE_GAP pages of another, and its lines agree on every
number but one, which rises with the page (the page number):
- headers and page numbers repeat page after page, or every other page (left and right pages
  differ), where a chapter's opening line ("Chapter 5") repeats only chapters apart;
- section headings that happen to open several pages ("10.1 Version 4.6.1", "10.2 Version
  4.6.0") differ in more numbers than the page's.
Only the edges are stripped: the same words in the middle of a page are text.
"""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import pairwise

EDGE_LINES = 2
MIN_PAGES = 3
PAGE_GAP = 2

_DIGITS = re.compile(r"\d+")
_ROMAN = re.compile(r"[ivxlcdm]+|[IVXLCDM]+")


def _shape(line: str) -> str:
    squeezed = " ".join(line.split())
    return "#" if _ROMAN.fullmatch(squeezed) else _DIGITS.sub("#", squeezed)


def _edge_rows(lines: list[str]) -> list[int]:
    """The indices of the first and last EDGE_LINES non-blank lines."""
    filled = [row for row, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def _numbered_by_page(lines: dict[int, str]) -> bool:
    """Whether the lines (by page) agree on every number but one, which rises with the page."""
    numbers = [[int(n) for n in _DIGITS.findall(lines[page])] for page in sorted(lines)]
    varying = [column for column in zip(*numbers, strict=True) if len(set(column)) > 1]
    if not varying:
        return True
    return len(varying) == 1 and all(a < b for a, b in pairwise(varying[0]))


def running_shapes(pages: list[str]) -> frozenset[str]:
    """The shapes of the lines that run along the pages' edges (see module)."""
    seen: dict[str, dict[int, str]] = defaultdict(dict)
    for index, text in enumerate(pages):
        lines = text.splitlines()
        for row in _edge_rows(lines):
            seen[_shape(lines[row])].setdefault(index, lines[row])
    running = set()
    for shape, lines in seen.items():
        if len(lines) < MIN_PAGES:
            continue
        near = sum(any(0 < abs(p - q) <= PAGE_GAP for q in lines) for p in lines)
        if 2 * near >= len(lines) and (shape == "#" or _numbered_by_page(lines)):
            running.add(shape)
    return frozenset(running)


def strip_running(text: str, running: frozenset[str]) -> str:
    """`text` (a page, or a piece of one) without the running lines at its edges."""
    if not running:
        return text
    lines = text.splitlines()
    dropped = {row for row in _edge_rows(lines) if _shape(lines[row]) in running}
    kept = [line for row, line in enumerate(lines) if row not in dropped]
    # A page of nothing else is a blank page's header: emptied, it would be sent to OCR.
    return "\n".join(kept) if any(line.strip() for line in kept) else text


def without_running(pages: list[str]) -> list[str]:
    """Every page without the running lines of the document at its edges."""
    running = running_shapes(pages)
    return [strip_running(text, running) for text in pages]
