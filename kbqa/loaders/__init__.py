"""Document loaders: the one place that knows file formats.

`load(path)` picks the loader by extension (case-insensitive) and returns the document's
Sections. Errors are `LoaderError`s whose message is the reason only (the caller adds the path):
"unsupported file type '.xyz' (...)", "empty file", "binary file, not text",
"encrypted PDF (password required)", "no extractable text (scanned? needs OCR)",
"corrupt or truncated PDF (...)", "encrypted spreadsheet (password required)", ...

Section.heading is the path of headings above the text, joined by " > " ("第一章 > 1.1 范围"):
PDF outline entries (the nearest bookmark at or before the page; in a PDF without an outline,
its numbered heading lines, "5.15.1. Purpose", which cut the page), Markdown # and setext
headings, HTML h1-h6 (the <title> for text before the first heading), Word's Title and
Heading N styles. Section.page is the 1-based physical page for PDFs (the slide for .pptx),
None otherwise.

Tables: an .xlsx gives one table Section per worksheet (heading and label: the sheet's name;
formulas by their cached values), a .csv/.tsv one (heading: the file's stem, label: its name),
each with its first non-empty row as the header. A .pptx gives one Section per slide (page: the
slide's number, heading: its title; the speaker notes after "Notes:"), and one table Section per
table on a slide.

Per-file limits (`limits`, an `IngestSettings`; its defaults when not given) bound what one file
may cost: characters, PDF pages and inflated bytes are checked by the loaders themselves; with a
`worker` (kbqa/loaders/worker.py) the file is read in that separate process, where time and memory
are bounded too. A file over a limit raises a LoaderError that names it, e.g. "has 6,000 pages,
over the 5000-page limit (ingest.max_pages)".
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.errors import LoaderError, UnsupportedFormat
from kbqa.loaders._limits import memory_message
from kbqa.loaders.docx import load_docx
from kbqa.loaders.html import load_html
from kbqa.loaders.ocr import IMAGE_EXTENSIONS, load_image
from kbqa.loaders.pdf import load_pdf
from kbqa.loaders.pptx import load_pptx
from kbqa.loaders.tabular import load_csv, load_tsv
from kbqa.loaders.text import load_md, load_txt
from kbqa.loaders.xlsx import load_xlsx
from kbqa.types import Section

if TYPE_CHECKING:
    from kbqa.loaders.worker import LoadWorker

# (path, limits): limits has max_chars, max_pages and max_inflated_mb (an IngestSettings).
Loader = Callable[[Path, Any], list[Section]]

LOADERS: dict[str, Loader] = {
    ".pdf": load_pdf,
    ".txt": load_txt,
    ".md": load_md,
    ".html": load_html,
    ".htm": load_html,
    ".docx": load_docx,
    ".xlsx": load_xlsx,
    ".csv": load_csv,
    ".tsv": load_tsv,
    ".pptx": load_pptx,
    **dict.fromkeys(IMAGE_EXTENSIONS, load_image),  # OCR (kbqa/loaders/ocr.py)
}

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(LOADERS)

__all__ = ["LOADERS", "SUPPORTED_EXTENSIONS", "is_supported", "load"]


def _extension(path: str | os.PathLike[str]) -> str:
    return Path(path).suffix.lower()


def is_supported(path: str | os.PathLike[str]) -> bool:
    return _extension(path) in LOADERS


def load(
    path: str | os.PathLike[str],
    limits: Any = None,
    *,
    worker: LoadWorker | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Section]:
    """Read one document into Sections (never empty: no text raises LoaderError).

    `limits`: an IngestSettings (default: its defaults). With `worker`, the file is read in that
    reader process under the worker's limits, time and memory included. `progress(done, total)`
    is called after each page read by OCR.
    """
    if worker is not None:
        return worker.load(path, progress)
    if progress is not None:
        from kbqa.loaders.ocr import reporting

        with reporting(progress):
            return load(path, limits)
    if limits is None:
        from kbqa.settings import IngestSettings

        limits = IngestSettings()
    path = Path(path)
    extension = _extension(path)
    loader = LOADERS.get(extension)
    if loader is None:
        supported = ", ".join(sorted(SUPPORTED_EXTENSIONS))
        shown = f"'{extension}'" if extension else "(no extension)"
        raise UnsupportedFormat(f"unsupported file type {shown} (supported: {supported})")
    try:
        if path.is_dir():
            raise LoaderError("is a directory, not a file")
        sections = loader(path, limits)
    except FileNotFoundError:
        raise LoaderError("file not found") from None
    except PermissionError:
        raise LoaderError("permission denied") from None
    except IsADirectoryError:
        raise LoaderError("is a directory, not a file") from None
    except OSError as exc:
        raise LoaderError(f"cannot read file ({exc.strerror or exc})") from None
    except RecursionError:
        raise LoaderError("document too deeply nested to read") from None
    except MemoryError:
        raise LoaderError(memory_message(limits)) from None
    if not sections:  # every loader raises its own reason; this is a safety net
        raise LoaderError("no text found")
    return sections
