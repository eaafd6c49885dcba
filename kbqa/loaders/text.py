"""Plain text (.txt) and Markdown (.md).

A .txt file is one Section (the splitter finds the sentences), unless it is laid out as a man
page (layout.py: a Section per heading and per option entry). A Markdown file is split at its
headings; each Section's `heading` is the path of headings above it, "H1 > H2 > H3", so a chunk
cited from deep in a document still says which chapter it came from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import check_chars
from kbqa.loaders._textutil import HEADING_SEPARATOR, clean_text, decode_bytes
from kbqa.loaders.layout import split_layout
from kbqa.types import Section


def read_text_file(path: Path, limits: Any) -> str:
    """The file's cleaned text; over `limits.max_chars` characters raises before it is decoded
    when its size alone proves it (no encoding takes more than 4 bytes a character)."""
    size = path.stat().st_size
    check_chars(size // 4, limits)
    text = decode_bytes(path.read_bytes())
    check_chars(len(text), limits)
    return clean_text(text)


def load_txt(path: Path, limits: Any) -> list[Section]:
    text = read_text_file(path, limits)
    if not text.strip():
        raise LoaderError("empty file")
    return split_layout(text) or [Section(text=text)]


# The opening of an ATX heading; its title is cut out by _atx_title (string methods, linear: a
# single regex with a lazy title and an optional closing "###" is quadratic on long space runs).
_ATX_OPEN = re.compile(r" {0,3}(#{1,6})(?=[ \t]|$)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _atx_heading(line: str) -> tuple[int, str] | None:
    """(level, title) of an ATX heading line ("## Title ##"), or None; the title may be blank.

    The title is the text after the opening #s and spaces, without trailing spaces and without a
    closing run of #s that follows a space or tab ("C#" keeps its #).
    """
    opening = _ATX_OPEN.match(line)
    if opening is None:
        return None
    level = len(opening.group(1))
    rest = line[opening.end() :]
    if not rest:
        return None
    title = rest.lstrip(" \t").rstrip(" \t")
    unclosed = title.rstrip("#")
    if unclosed != title and unclosed[-1:] in (" ", "\t"):
        title = unclosed.rstrip(" \t")
    return level, title


def load_md(path: Path, limits: Any) -> list[Section]:
    sections = split_markdown(read_text_file(path, limits))
    if not sections:
        raise LoaderError("empty file")
    return sections


def split_markdown(text: str) -> list[Section]:
    """Split Markdown at ATX (#) and setext (===, ---) headings, outside code fences and front matter.

    Each Section's text starts with its heading's title (so the words stay searchable); a heading
    directly followed by a sub-heading makes no Section of its own: its title lives on in the
    sub-sections' heading path, and a one-line chunk would only add noise.
    """
    lines = text.split("\n")
    sections: list[Section] = []
    stack: list[str] = []  # stack[i]: the current heading of level i+1 ("" when a level is skipped)
    body: list[str] = []
    has_content = False  # body holds more than its heading's title

    def flush() -> None:
        if has_content:
            path = HEADING_SEPARATOR.join(part for part in stack if part)
            sections.append(Section(text="\n".join(body).strip("\n"), heading=path or None))
        body.clear()

    def start(level: int, title: str) -> None:
        nonlocal has_content
        flush()
        del stack[level - 1 :]
        stack.extend([""] * (level - 1 - len(stack)))
        stack.append(title)
        body.append(title)
        has_content = False

    index = 0
    # YAML front matter is metadata, not text: skip it (its "---" is no setext underline).
    if lines and lines[0].strip() == "---":
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                index = end + 1
                break
    fence: str | None = None
    while index < len(lines):
        line = lines[index]
        index += 1
        fence_match = _FENCE.match(line)
        if fence is not None:
            marker = fence_match.group(1) if fence_match else ""
            if (
                marker[:1] == fence[0]
                and len(marker) >= len(fence)
                and not line.strip(marker[:1] + " \t")
            ):
                fence = None
            body.append(line)
            continue
        if fence_match:
            fence = fence_match.group(1)
            body.append(line)
            has_content = True
            continue
        atx = _atx_heading(line)
        if atx and atx[1].strip():
            start(atx[0], atx[1].strip())
            continue
        setext = _SETEXT.match(line)
        # A setext underline turns the single paragraph line above it into a heading.
        if (
            setext
            and has_content
            and body[-1].strip()
            and (len(body) < 2 or not body[-2].strip() or (len(body) == 2 and stack))
        ):
            title = body.pop().strip()
            rest = body[1:] if stack else body  # body[0] is the title when under a heading
            has_content = any(part.strip() for part in rest)
            start(1 if setext.group(1)[0] == "=" else 2, title)
            continue
        body.append(line)
        if line.strip():
            has_content = True
    flush()
    return sections
