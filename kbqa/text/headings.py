"""Numbered section headings of manuals: "5.15.1. Purpose", "3.4. /bin : Essential user command
binaries", "4.6.4.3 Experimental".

Read by the PDF loader (a PDF without an outline takes its section headings from them) and by the
chain's sentence cutter (a heading is no sentence to quote). Two to four levels of one- or
two-digit numbers (not an address, "192.168.212"), then a title that does not end like a sentence
(a table of contents' dot leaders do, "4.3 Documentation . . . 27") and holds no sentence break.
Its title may hold a colon, so punctuation alone does not tell it from a sentence.
"""

from __future__ import annotations

import re

_NUMBERED_HEADING = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){1,3})\.?[ \t]+(.+)$")
_TITLE = re.compile(r"^[^\d\s].{0,78}$")
_CLOSERS = "\"'”’」』）)]"
_ENDS = set("。！？；!?.;:：")
_BREAK = re.compile(r"[.!?;](?=\s)|[。！？；]")


def is_heading_title(title: str) -> bool:
    """Whether `title` reads as a numbered heading's title: it starts with no digit, is at most
    79 characters, does not end like a sentence and holds no sentence break."""
    return (
        bool(_TITLE.match(title))
        and title.rstrip(_CLOSERS)[-1:] not in _ENDS
        and not _BREAK.search(title)
    )


def numbered_heading(line: str) -> tuple[int, str] | None:
    """The heading's depth (2 for "5.15.", 3 for "5.15.1") and its title, or None."""
    match = _NUMBERED_HEADING.match(line.strip())
    if match is None or not is_heading_title(match.group(2)):
        return None
    return match.group(1).count(".") + 1, match.group(2)


def is_numbered_heading(line: str) -> bool:
    return numbered_heading(line) is not None
