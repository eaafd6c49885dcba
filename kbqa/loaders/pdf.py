"""PDF: one Section per physical page, headings from the outline (bookmarks).

pypdfium2 is the primary engine: it decodes CID fonts that lack a ToUnicode map (common in
Chinese PDFs, where pypdf returns mojibake) and reads 500+ pages/s. pypdf is only a fallback for
files pdfium refuses to open but pypdf can repair.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kbqa.errors import LoaderError
from kbqa.loaders._textutil import clean_text, looks_like_text
from kbqa.text.cjk import display_width, is_cjk
from kbqa.types import Section

# PDFium is not thread-safe: every call into it, across all documents, must be serialised.
PDFIUM_LOCK = threading.Lock()

# pypdfium2's error codes for FPDF_LoadDocument.
_ERR_FORMAT = 3
_ERR_PASSWORD = 4
_ERR_SECURITY = 5

NO_TEXT = "no extractable text (scanned? needs OCR)"
ENCRYPTED = "encrypted PDF (password required)"
NO_UNICODE = "no extractable text (fonts without a Unicode map; needs OCR)"

# A page on which more than this share of the characters has no Unicode mapping is garbled.
_MAX_UNMAPPED = 0.3
# Characters sampled per page for that check (one ctypes call each: cheap, and enough).
_UNMAPPED_SAMPLE = 64


def load_pdf(path: Path) -> list[Section]:
    data = path.read_bytes()
    if not data.strip():
        raise LoaderError("empty file")
    garbled: list[int] = []
    # Bytes before the header (mail or HTTP headers saved with the file) beyond the 1 KiB PDFium
    # searches: drop them, so PDFium, not the fallback, reads the file.
    header = data.find(b"%PDF-", 0, 1 << 20)
    if header > 0:
        data = data[header:]
    try:
        pages, toc, unmapped = _read_with_pdfium(data)
        garbled = [index for index, share in enumerate(unmapped) if share > _MAX_UNMAPPED]
        if garbled:
            pages, garbled = _repair_unmapped(data, pages, garbled)
    except _PdfiumOpenError as exc:
        pages, toc = _read_with_pypdf(data, exc.detail)
    for index in garbled:
        pages[index] = ""  # glyph numbers, not text: indexing them would only add noise
    headings = _page_headings(toc, len(pages))
    sections = [
        Section(text=text, page=number, heading=headings[number - 1])
        for number, text in enumerate(pages, start=1)
        if text.strip()
    ]
    if not sections:
        if garbled:
            raise LoaderError(NO_UNICODE)
        raise LoaderError(NO_TEXT)
    return sections


def _repair_unmapped(
    data: bytes, pages: list[str], garbled: list[int]
) -> tuple[list[str], list[int]]:
    """Rebuild missing ToUnicode maps and read the garbled pages again; return what is still bad."""
    from kbqa.loaders._tounicode import add_missing_tounicode

    repaired = add_missing_tounicode(data)
    if repaired is None:
        return pages, garbled
    try:
        new_pages, _, unmapped = _read_with_pdfium(repaired)
    except (_PdfiumOpenError, LoaderError):
        return pages, garbled
    if len(new_pages) != len(pages):
        return pages, garbled
    still: list[int] = []
    for index in garbled:
        if unmapped[index] > _MAX_UNMAPPED:
            still.append(index)
        else:
            pages[index] = new_pages[index]
    return pages, still


class _PdfiumOpenError(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# (page index 0-based, outline level, title), in outline order.
_Toc = list[tuple[int, int, str]]


def _read_with_pdfium(data: bytes) -> tuple[list[str], _Toc, list[float]]:
    """Pages' text, the outline, and per page the share of characters PDFium could not map."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            code = getattr(exc, "err_code", None)
            if code == _ERR_PASSWORD:
                raise LoaderError(ENCRYPTED) from None
            if code == _ERR_SECURITY:
                raise LoaderError("encrypted PDF (unsupported security scheme)") from None
            raise _PdfiumOpenError(_describe_damage(data)) from None
        try:
            pages: list[str] = []
            unmapped: list[float] = []
            for index in range(len(doc)):
                share = 0.0
                try:
                    page = doc[index]
                    textpage = page.get_textpage()
                    raw = textpage.get_text_range()
                    count = textpage.count_chars()
                    if count:
                        step = max(1, count // _UNMAPPED_SAMPLE)
                        sample = range(0, count, step)
                        errors = sum(
                            pdfium_c.FPDFText_HasUnicodeMapError(textpage, i) == 1 for i in sample
                        )
                        share = errors / len(sample)
                    textpage.close()
                    page.close()
                except pdfium.PdfiumError:
                    raw = ""  # one damaged page must not lose the rest of the document
                pages.append(normalize_pdf_text(raw))
                unmapped.append(share)
            toc = _pdfium_toc(doc)
        finally:
            doc.close()
    return pages, toc, unmapped


def _pdfium_toc(doc: object) -> _Toc:
    # PDFium resolves both /Dest entries and GoTo actions (/A), as Word writes them.
    toc: _Toc = []
    try:
        for bookmark in doc.get_toc():  # type: ignore[attr-defined]
            dest = bookmark.get_dest()
            index = dest.get_index() if dest is not None else None
            title = (bookmark.get_title() or "").strip()
            if index is not None and index >= 0 and title:
                toc.append((index, bookmark.level, title))
    except Exception:  # a broken outline only costs the headings, never the text
        return []
    return toc


def _read_with_pypdf(data: bytes, pdfium_detail: str) -> tuple[list[str], _Toc]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise LoaderError(ENCRYPTED)
        with _quiet("pypdf"):
            pages = [normalize_pdf_text(page.extract_text() or "") for page in reader.pages]
        # pypdf turns unmapped glyphs into control characters: such a page is not text.
        pages = [text if looks_like_text(text) else "" for text in pages]
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError):
        raise LoaderError(f"corrupt or truncated PDF ({pdfium_detail})") from None
    if not pages:
        raise LoaderError(f"corrupt or truncated PDF ({pdfium_detail})")
    toc: _Toc = []
    try:
        _pypdf_toc(reader, reader.outline, 0, toc)
    except Exception:
        toc = []
    return pages, toc


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's warnings while it reads a damaged file (the caller reports the cause)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        yield
    finally:
        logger.setLevel(level)


def _pypdf_toc(reader: object, items: list, level: int, out: _Toc) -> None:
    for item in items:
        if isinstance(item, list):
            _pypdf_toc(reader, item, level + 1, out)
            continue
        index = reader.get_destination_page_number(item)  # type: ignore[attr-defined]
        title = str(getattr(item, "title", "") or "").strip()
        if index is not None and index >= 0 and title:
            out.append((index, level, title))


def _describe_damage(data: bytes) -> str:
    if b"%PDF-" not in data[:1024]:
        return "no %PDF header: not a PDF file"
    if b"%%EOF" not in data[-2048:]:
        return "file ends early: no %%EOF marker"
    return "unreadable structure"


def _page_headings(toc: _Toc, page_count: int) -> list[str | None]:
    """Heading of each page: the path ("Part > Chapter") of the last bookmark at or before it."""
    paths: list[tuple[int, int, str]] = []  # (page, outline order, path)
    stack: list[str] = []
    for order, (index, level, title) in enumerate(toc):
        del stack[level:]
        stack.extend([""] * (level - len(stack)))  # tolerate a skipped level
        stack.append(title)
        paths.append((index, order, " > ".join(part for part in stack if part)))
    paths.sort()
    starts = [page for page, _, _ in paths]
    headings: list[str | None] = []
    for page in range(page_count):
        found = bisect_right(starts, page)
        headings.append(paths[found - 1][2] if found else None)
    return headings


# A line that starts a list item or a numbered heading keeps its line break.
_BULLET = re.compile(
    r"^\s*(?:[•●▪◦·\-–*]|\d{1,3}[.、)）]|[（(][一二三四五六七八九十\d]+[)）]|第.{1,6}[章节条部篇])"
)


def normalize_pdf_text(raw: str) -> str:
    """Turn PDFium's page text (one line per visual line, \\r\\n) into flowing paragraphs.

    Wrapped lines are joined: Latin words with a space (a hyphen at a line end joining the word),
    CJK without one (Chinese has no spaces between words). A break is kept after a short line
    (a paragraph's last line, a heading) and before a list item, so structure survives.
    """
    # PDFium joins a word hyphenated across lines itself, leaving U+FFFE (older builds: \x02)
    # where the hyphen and line break were. Restore the visual lines, so line widths are right,
    # and let _join decide about the hyphen like for any other line.
    text = clean_text(raw.replace("\ufffe", "-\n").replace("\x02", "-\n"))
    lines = [line.strip() for line in text.split("\n")]
    widths = [display_width(line) for line in lines]
    filled = sorted(width for width in widths if width)
    if not filled:
        return ""
    # A "full" line reaches near the typical width of the page's long lines.
    full = filled[round(0.9 * (len(filled) - 1))] * 0.8
    paragraphs: list[str] = []
    current = ""
    last_width = 0  # width of the last visual line in `current`
    for line, width in zip(lines, widths, strict=True):
        if not line:
            if current:
                paragraphs.append(current)
                current = ""
            continue
        if not current:
            current = line
        elif last_width < full or _BULLET.match(line):
            current += "\n" + line
        else:
            current = _join(current, line)
        last_width = width
    if current:
        paragraphs.append(current)
    return "\n".join(paragraphs).strip()


def _join(left: str, right: str) -> str:
    last, first = left[-1], right[0]
    if last == "-" and len(left) > 1 and left[-2].isalpha() and first.islower():
        return left[:-1] + right  # "inter-\nnational" -> "international"
    if is_cjk(last) or is_cjk(first):
        return left + right
    return left + " " + right
