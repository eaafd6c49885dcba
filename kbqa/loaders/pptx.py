"""PowerPoint (.pptx): one Section per slide, its page the slide's number and its heading the title.

A slide's text is its title, then the text of its other shapes in the slide's order (groups
opened), then its speaker notes after "Notes:". A table on a slide is a table Section of its own
(same page and heading, labelled "Table N", numbered through the deck, its first row the header);
a slide whose only text besides the title is tables gives no title-only Section. Charts, pictures
and SmartArt are not read. A ZIP bomb is refused before parsing, as for .docx.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import check_chars
from kbqa.loaders._ooxml import open_package
from kbqa.loaders._textutil import clean_text
from kbqa.loaders.tabular import RowCollector
from kbqa.types import Section

NOTES_LABEL = "Notes:"


def _frame_text(frame: Any) -> str:
    # python-pptx writes a line break inside a paragraph as a vertical tab.
    return clean_text(frame.text.replace("\v", "\n")).strip()


def _shapes(shapes: Any) -> Any:
    """The shapes of a slide in order, those inside group shapes included (depth-first)."""
    for shape in shapes:
        inner = getattr(shape, "shapes", None)  # a GroupShape
        if inner is not None and not getattr(shape, "has_text_frame", False):
            yield from _shapes(inner)
        else:
            yield shape


def load_pptx(path: Path, limits: Any) -> list[Section]:
    open_package(path, limits, ".pptx", "presentation", ".ppt")
    import pptx
    from pptx.exc import PackageNotFoundError

    try:
        deck = pptx.Presentation(str(path))
        slides = list(deck.slides)
    except (PackageNotFoundError, KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise LoaderError(f"corrupt .pptx ({type(exc).__name__}: {exc})"[:200]) from None
    except (MemoryError, RecursionError):  # loaders.load names these
        raise
    except Exception as exc:  # lxml XMLSyntaxError and friends from a damaged part
        raise LoaderError(f"corrupt .pptx ({type(exc).__name__})"[:200]) from None

    sections: list[Section] = []
    tables = RowCollector(limits)
    chars = 0
    table_count = 0
    for number, slide in enumerate(slides, 1):
        try:
            title_shape = slide.shapes.title
            title = _frame_text(title_shape.text_frame) if title_shape is not None else ""
            heading = " ".join(title.split()) or None
            lines = [title] if title else []
            slide_tables: list[Section] = []
            for shape in _shapes(slide.shapes):
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
                    text = _frame_text(shape.text_frame)
                    if text:
                        lines.append(text)
                elif getattr(shape, "has_table", False) and shape.has_table:
                    for row in shape.table.rows:
                        tables.add([cell.text.replace("\v", " ") for cell in row.cells])
                    table = tables.section(heading, f"Table {table_count + 1}", page=number)
                    if table is not None:
                        table_count += 1
                        slide_tables.append(table)
            if slide.has_notes_slide:
                frame = slide.notes_slide.notes_text_frame
                notes = _frame_text(frame) if frame is not None else ""
                if notes:
                    lines.append(f"{NOTES_LABEL} {notes}")
        except (LoaderError, MemoryError, RecursionError):
            raise
        except Exception as exc:  # a damaged slide part
            raise LoaderError(f"corrupt .pptx (slide {number}: {type(exc).__name__})") from None
        text = "\n".join(lines)
        chars += len(text)
        check_chars(chars + tables.chars, limits)
        if text and not (slide_tables and lines == [title]):
            sections.append(Section(text=text, page=number, heading=heading))
        sections.extend(slide_tables)
    if not sections:
        raise LoaderError("no text found")
    return sections
