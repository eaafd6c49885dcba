"""Section headings of a PDF without an outline, from its numbered heading lines.

Many PDFs carry no bookmarks (FHS 3.0 has none), so every page would have no heading, and a
chunk under "5.15.1. Purpose" would not say it is about /var/tmp. Here a page's text is cut
before each numbered heading line ("5.15. /var/tmp : Temporary files preserved", with the line
its title wraps onto when that goes on in lower case, "between system reboots"), and each part
takes the path of the numbered headings above it, numbers left out, as a bookmark's path would
read: "/var/tmp : Temporary files preserved between system reboots > Purpose". A heading's depth
is its number's ("5.15.1": 3), so the path follows the numbering across pages. The heading lines
stay in the text. A table keeps its caption's heading, under the path.
"""

from __future__ import annotations

from dataclasses import replace

from kbqa.text.headings import is_heading_title, numbered_heading
from kbqa.text.table import table_heading
from kbqa.types import TABLE, Section


def _wrapped_title(title: str, following: str) -> str | None:
    """The title with the line it wraps onto (going on in lower case or with "(optional)"), or
    None when that line is not part of it."""
    joined = f"{title} {following.strip()}"
    goes_on = following.strip()[:1].islower() or following.strip()[:1] == "("
    return joined if goes_on and is_heading_title(joined) else None


def with_numbered_headings(sections: list[Section]) -> list[Section]:
    """`sections` (a PDF's pages) cut at their numbered headings, each part under its path."""
    path: list[str] = []  # the titles above, by depth (depth 2 first)
    out: list[Section] = []
    for section in sections:
        if section.kind == TABLE:
            joined = " > ".join(path) or None
            out.append(replace(section, heading=table_heading(joined, section.heading)))
            continue
        lines = section.text.split("\n")
        part: list[str] = []
        body = False  # whether `part` holds more than heading lines
        heading = " > ".join(path) or section.heading
        index = 0
        while index < len(lines):
            found = numbered_heading(lines[index])
            if found is None:
                body = body or bool(lines[index].strip())
                part.append(lines[index])
                index += 1
                continue
            # a heading with nothing under it before the next goes with the next part
            if body:
                out.append(replace(section, text="\n".join(part), heading=heading))
                part, body = [], False
            depth, title = found
            size = 1
            if index + 1 < len(lines):
                wrapped = _wrapped_title(title, lines[index + 1])
                title, size = (wrapped, 2) if wrapped else (title, 1)
            del path[depth - 2 :]
            path.extend([""] * (depth - 2 - len(path)))  # a skipped level
            path.append(title)
            heading = " > ".join(p for p in path if p)
            part.extend(lines[index : index + size])
            index += size
        if any(p.strip() for p in part):
            out.append(replace(section, text="\n".join(part), heading=heading))
    return out
