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

from kbqa.text.headings import numbered_heading
from kbqa.text.table import table_heading
from kbqa.types import TABLE, Section


def _title(lines: list[str], at: int) -> tuple[str, int]:
    """The title of the numbered heading on `lines[at]` (number left out, a wrapped line
    joined) and how many lines it takes."""
    title = lines[at].strip().split(None, 1)[1]
    following = lines[at + 1].strip() if at + 1 < len(lines) else ""
    if (following[:1].islower() or following[:1] == "(") and numbered_heading(
        f"1.1 {title} {following}"
    ):
        return f"{title} {following}", 2
    return title, 1


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
        skip = 0
        for index, line in enumerate(lines):
            if skip:
                skip -= 1
                part.append(line)
                continue
            found = numbered_heading(line)
            if found is not None:
                # a heading with nothing under it before the next goes with the next part
                if body:
                    out.append(replace(section, text="\n".join(part), heading=heading))
                    part, body = [], False
                depth = found[0]
                title, size = _title(lines, index)
                skip = size - 1
                del path[depth - 2 :]
                path.extend([""] * (depth - 2 - len(path)))  # a skipped level
                path.append(title)
                heading = " > ".join(p for p in path if p)
            elif line.strip():
                body = True
            part.append(line)
        if any(p.strip() for p in part):
            out.append(replace(section, text="\n".join(part), heading=heading))
    return out
