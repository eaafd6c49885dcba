"""Plain text laid out as a man page: headings flush left, entries as an indented tag line with
their description indented deeper under it.

    OPTIONS                              <- a heading: flush left, short, text indented under it
        -c, --count                      <- an entry's tag: short, text indented deeper under it
            Suppress normal output; ...  <- its description

man(1) output, the man-page text eval/real/mantext.py writes, and many hand-written references
(config file docs, FAQs with indented answers) look like this. Each entry becomes a Section of its
own, headed "OPTIONS > -c, --count", so a chunk holds one option: its vector and BM25 weights are
about that option alone instead of the five or ten a size-packed chunk would hold, and its heading
names the option for the embedder (ingest.embedding_text) and the citation. Text that is not an
entry (a heading's introduction, a paragraph between entries) is a Section under the heading.

Text without that layout (fewer than two headings with indented text under them) stays one
Section, as before. One pass over the lines: linear in time on any input.
"""

from __future__ import annotations

import re

from kbqa.loaders._textutil import HEADING_SEPARATOR
from kbqa.types import Section

HEADING_CHARS = 60  # a heading line is at most this long
# An entry's tag line ("-e PATTERN, --regexp=PATTERN", "SystemMaxUse=, SystemKeepFree=, …"):
# one line however long; a paragraph never has its next line indented deeper.
TAG_CHARS = 160
MAX_LEVELS = 3  # entries inside entries (dd's conv= values) get Sections down to this depth
_SENTENCE_ENDS = ("。", "！", "？", "；", "，", ",", ";")
_INNER_SENTENCE_END = re.compile(r"[。！？]|[a-z][.!?]\s+[A-Z]")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _next_indents(lines: list[str]) -> list[int | None]:
    """For each line, the indent of the next non-blank line after it (None at the end)."""
    out: list[int | None] = [None] * len(lines)
    following: int | None = None
    for i in range(len(lines) - 1, -1, -1):
        out[i] = following
        if lines[i].strip():
            following = _indent(lines[i])
    return out


def _is_heading(line: str, next_indent: int | None) -> bool:
    text = line.strip()
    return (
        bool(text)
        and _indent(line) == 0
        and len(text) <= HEADING_CHARS
        and not text.endswith(_SENTENCE_ENDS)
        and next_indent is not None
        and next_indent > 0
    )


def _is_tag(line: str, next_indent: int | None) -> bool:
    text = line.strip()
    indent = _indent(line)
    return (
        bool(text)
        and indent > 0
        and len(text) <= TAG_CHARS
        and not text.endswith(_SENTENCE_ENDS)
        and not _INNER_SENTENCE_END.search(text)  # prose introducing an indented example
        and next_indent is not None
        and next_indent > indent
    )


def split_layout(text: str) -> list[Section] | None:
    """Sections by heading and entry (see the module docstring), or None when `text` does not
    have the layout."""
    lines = text.split("\n")
    following = _next_indents(lines)
    headings = [i for i, line in enumerate(lines) if _is_heading(line, following[i])]
    if len(headings) < 2:
        return None
    sections: list[Section] = []
    # The lines above the first heading (a man page's "GREP(1)" title) open its block.
    starts = [0, *headings[1:]]
    for start, heading, end in zip(starts, headings, [*headings[1:], len(lines)], strict=True):
        opening = [line for line in lines[start : heading + 1] if line.strip()]
        _entries(sections, lines, heading + 1, end, following, lines[heading].strip(), 1, opening)
    return sections


def _entries(
    sections: list[Section],
    lines: list[str],
    start: int,
    end: int,
    following: list[int | None],
    heading: str,
    level: int,
    opening: list[str],
) -> None:
    """Lines start..end under `heading`: each entry at their shallowest tag indent makes Sections
    of its own (its nested entries too, down to MAX_LEVELS); the text around them makes Sections
    under `heading`. `opening` lines (the heading's own, for a top-level block) lead the first."""
    tags = [i for i in range(start, end) if _is_tag(lines[i], following[i])]
    if level > MAX_LEVELS or not tags:
        _add(sections, [*opening, *lines[start:end]], heading, opening)
        return
    depth = min(_indent(lines[i]) for i in tags)
    pending = start  # the first line not yet in a Section
    i = start
    while i < end:
        line = lines[i]
        if not (_indent(line) == depth and _is_tag(line, following[i])):
            i += 1
            continue
        # A bare heading (nothing before its first entry) opens that entry's Section instead.
        added = _add(sections, [*opening, *lines[pending:i]], heading, opening)
        carried, opening = ([] if added else opening), []
        entry_end = i + 1
        while entry_end < end and (
            not lines[entry_end].strip() or _indent(lines[entry_end]) > depth
        ):
            entry_end += 1
        path = f"{heading}{HEADING_SEPARATOR}{line.strip()}"
        _entries(sections, lines, i + 1, entry_end, following, path, level + 1, [*carried, line])
        pending = i = entry_end
    _add(sections, [*opening, *lines[pending:end]], heading, opening)


def _add(
    sections: list[Section], lines: list[str], heading: str | None, opening: list[str]
) -> bool:
    """A Section of `lines`, unless they hold nothing but the `opening` (a bare heading)."""
    if not any(line.strip() for line in lines[len(opening) :]):
        return False
    text = "\n".join(lines).strip("\n")
    sections.append(Section(text=text, heading=heading))
    return True
