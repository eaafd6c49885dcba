"""PDF: one Section per physical page, headings from the outline (bookmarks); a PDF without one
is cut at its numbered heading lines instead (kbqa/loaders/numbered_headings.py).

A page holding a table (kbqa/loaders/pdf_tables.py) gives its text above, the table (a table
Section), and its text below, all with the page's number.

pypdfium2 is the primary engine: it decodes CID fonts that lack a ToUnicode map (common in
Chinese PDFs, where pypdf returns mojibake) and reads 500+ pages/s. pypdf is only a fallback for
files pdfium refuses to open but pypdf can repair.
"""

from __future__ import annotations

import logging
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders import ocr
from kbqa.loaders._limits import chars_error, inflated_error, pages_error
from kbqa.loaders._textutil import clean_text, looks_like_text
from kbqa.loaders.numbered_headings import with_numbered_headings
from kbqa.loaders.pdf_tables import PagePart, page_parts
from kbqa.loaders.running_lines import running_shapes, strip_running, without_running
from kbqa.text.cjk import display_width, is_cjk
from kbqa.text.table import markdown_table, table_heading
from kbqa.types import OCR, TABLE, Section

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


def load_pdf(path: Path, limits: Any) -> list[Section]:
    data = path.read_bytes()
    if not data.strip():
        raise LoaderError("empty file")
    garbled: list[int] = []
    # Bytes before the header (mail or HTTP headers saved with the file) beyond the 1 KiB PDFium
    # searches: drop them, so PDFium, not the fallback, reads the file.
    header = data.find(b"%PDF-", 0, 1 << 20)
    if header > 0:
        data = data[header:]
    if inflated_size(data, limits.max_inflated_mb << 20) > limits.max_inflated_mb << 20:
        raise inflated_error(limits, "its streams")
    leaves = _repeated_page_tree(data, limits)
    tables: dict[int, list[PagePart]] = {}
    if leaves is not None:
        # PDFium would return a page listed twice, or met again round a cycle, once per visit.
        pages, toc = _read_leaves_with_pypdf(leaves, limits), []
    else:
        try:
            pages, toc, unmapped, tables = _read_with_pdfium(data, limits)
            garbled = [index for index, share in enumerate(unmapped) if share > _MAX_UNMAPPED]
            if garbled:
                pages, garbled = _repair_unmapped(data, pages, garbled, limits)
        except _PdfiumOpenError as exc:
            pages, toc = _read_with_pypdf(data, exc.detail, limits)
    for index in garbled:
        pages[index] = ""  # glyph numbers, not text: indexing them would only add noise
        tables.pop(index, None)
    # Pages without a text layer (or with a garbled one) are read by OCR; the others never are.
    # (Not in a page tree that repeats pages: PDFium's page numbers are not pypdf's there.)
    scanned: dict[int, str] = {}
    if ocr.enabled(limits) and leaves is None:
        blank = [index for index, text in enumerate(pages) if not text.strip()]
        scanned = ocr.ocr_pdf_pages(data, blank, limits, PDFIUM_LOCK)
        for index, text in scanned.items():
            pages[index] = normalize_pdf_text(text)
    headings = _page_headings(toc, len(pages))
    sections = _sections(pages, headings, tables)
    if not toc:
        sections = with_numbered_headings(sections)
    if scanned:
        sections = [
            replace(section, kind=OCR) if section.page - 1 in scanned else section
            for section in sections
        ]
    if not sections:
        if scanned:
            raise LoaderError(ocr.NO_TEXT_ON_PAGES)
        if garbled:
            raise LoaderError(NO_UNICODE)
        raise LoaderError(NO_TEXT)
    return sections


def _sections(
    pages: list[str], headings: list[str | None], tables: dict[int, list[PagePart]]
) -> list[Section]:
    """A Section per page with text; a page with tables gives its text and tables in order."""
    sections: list[Section] = []
    count = 0
    for index, text in enumerate(pages):
        page, heading = index + 1, headings[index]
        for part in tables.get(index) or [PagePart(text)]:
            if not part.rows:
                if part.text.strip():
                    sections.append(Section(text=part.text, page=page, heading=heading))
                continue
            count += 1
            sections.append(
                Section(
                    text=markdown_table(part.rows),
                    page=page,
                    heading=table_heading(heading, part.caption or part.lead),
                    kind=TABLE,
                    rows=part.rows,
                    table=part.caption or f"Table {count}",
                )
            )
    return sections


def _repair_unmapped(
    data: bytes, pages: list[str], garbled: list[int], limits: Any
) -> tuple[list[str], list[int]]:
    """Rebuild missing ToUnicode maps and read the garbled pages again; return what is still bad."""
    from kbqa.loaders._tounicode import add_missing_tounicode

    repaired = add_missing_tounicode(data)
    if repaired is None:
        return pages, garbled
    try:
        new_pages, _, unmapped, _ = _read_with_pdfium(repaired, limits)
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


def _read_with_pdfium(
    data: bytes, limits: Any
) -> tuple[list[str], _Toc, list[float], dict[int, list[PagePart]]]:
    """Pages' text, the outline, per page the share of characters PDFium could not map, and the
    pages that hold tables as their parts (text and tables in reading order)."""
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
            if len(doc) > limits.max_pages:
                raise pages_error(len(doc), limits)
            raws = _raw_texts(doc, limits)
            running = running_shapes(raws)

            def normalize(raw: str) -> str:
                return normalize_pdf_text(strip_running(raw, running))

            pages: list[str] = []
            unmapped: list[float] = []
            tables: dict[int, list[PagePart]] = {}
            find_tables = bool(getattr(limits, "tables", True))  # ingest.tables
            for index, raw in enumerate(raws):
                share = 0.0
                try:
                    page = doc[index]
                    textpage = page.get_textpage()
                    count = textpage.count_chars()
                    if count:
                        step = max(1, count // _UNMAPPED_SAMPLE)
                        sample = range(0, count, step)
                        errors = sum(
                            pdfium_c.FPDFText_HasUnicodeMapError(textpage, i) == 1 for i in sample
                        )
                        share = errors / len(sample)
                        parts = (
                            _table_parts(page, textpage, index, normalize) if find_tables else None
                        )
                        if parts is not None:
                            tables[index] = parts
                    textpage.close()
                    page.close()
                except pdfium.PdfiumError:
                    pass  # one damaged page must not lose the rest of the document
                pages.append(normalize(raw))
                unmapped.append(share)
            toc = _pdfium_toc(doc)
        finally:
            doc.close()
    return pages, toc, unmapped, tables


def _raw_texts(doc: Any, limits: Any) -> list[str]:
    """Every page's text as PDFium reads it ("" for a damaged page), within the size limit."""
    import pypdfium2 as pdfium

    raws: list[str] = []
    chars = 0
    for index in range(len(doc)):
        try:
            page = doc[index]
            textpage = page.get_textpage()
            raw = textpage.get_text_range()
            textpage.close()
            page.close()
        except pdfium.PdfiumError:
            raw = ""  # one damaged page must not lose the rest of the document
        chars += len(raw)
        if chars > limits.max_chars:
            raise chars_error(limits)
        raws.append(raw)
    return raws


def _table_parts(
    page: Any, textpage: Any, index: int, normalize: Callable[[str], str]
) -> list[PagePart] | None:
    """The page's text and tables, or None. Finding tables is a best effort: a page it fails on
    (a bug, an odd layout) keeps its plain text rather than failing the document."""
    try:
        return page_parts(page, textpage, normalize)
    except (MemoryError, RecursionError):
        raise
    except Exception:
        logging.getLogger(__name__).warning(
            "table detection failed on page %d; reading it as text", index + 1, exc_info=True
        )
        return None


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


def _read_with_pypdf(data: bytes, pdfium_detail: str, limits: Any) -> tuple[list[str], _Toc]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise LoaderError(ENCRYPTED)
        with _quiet("pypdf"):
            if len(reader.pages) > limits.max_pages:
                raise pages_error(len(reader.pages), limits)
            pages = _pypdf_texts(reader.pages, limits)
    except LoaderError:
        raise
    except (
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        NotImplementedError,  # a damaged /Filter names no filter pypdf knows
    ):
        raise LoaderError(f"corrupt or truncated PDF ({pdfium_detail})") from None
    if not pages:
        raise LoaderError(f"corrupt or truncated PDF ({pdfium_detail})")
    toc: _Toc = []
    try:
        _pypdf_toc(reader, reader.outline, 0, toc)
    except Exception:
        toc = []
    return pages, toc


def _pypdf_texts(pages: Any, limits: Any) -> list[str]:
    raws: list[str] = []
    chars = 0
    for page in pages:
        raw = page.extract_text() or ""
        chars += len(raw)
        if chars > limits.max_chars:
            raise chars_error(limits)
        raws.append(raw)
    texts = [normalize_pdf_text(raw) for raw in without_running(raws)]
    # pypdf turns unmapped glyphs into control characters: such a page is not text.
    return [text if looks_like_text(text) else "" for text in texts]


# -- page trees that are not trees ------------------------------------------------------------


def _repeated_page_tree(data: bytes, limits: Any) -> list[Any] | None:
    """The pages of a /Pages tree that reaches a node twice (a cycle, a page listed twice), each
    once in document order, as pypdf PageObjects with their inherited attributes; None for a
    proper tree or one pypdf cannot read (PDFium then reads the file as usual)."""
    import io

    from pypdf import PageObject, PdfReader
    from pypdf.generic import DictionaryObject, NameObject

    try:
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:
                return None
            root = reader.trailer["/Root"].get_object()["/Pages"].get_object()
            if not isinstance(root, DictionaryObject):
                return None
            seen = {id(root)}
            repeated = False
            leaves: list[Any] = []
            budget = 2 * limits.max_pages + 1000  # nodes visited at most
            stack: list[tuple[Any, dict[str, Any]]] = [(root, {})]
            while stack:
                node, inherited = stack.pop()
                kids = node.get("/Kids")
                if kids is None or node.get("/Type") == "/Page":
                    page = PageObject(reader, getattr(node, "indirect_reference", None))
                    page.update(node)
                    for key, value in inherited.items():
                        if key not in page:
                            page[NameObject(key)] = value
                    leaves.append(page)
                    continue
                inherited = dict(inherited)
                for key in ("/Resources", "/MediaBox", "/CropBox", "/Rotate"):
                    if key in node:
                        inherited[key] = node[key]
                children = []
                for kid in kids.get_object():
                    child = kid.get_object()
                    if not isinstance(child, DictionaryObject) or not child:
                        continue
                    budget -= 1
                    if id(child) in seen:
                        repeated = True
                        continue
                    seen.add(id(child))
                    children.append((child, inherited))
                if budget < 0:
                    return None  # a tree this large is refused for its page count anyway
                stack.extend(reversed(children))
    except Exception:  # a damaged tree is PDFium's to judge
        return None
    if not repeated:
        return None
    if len(leaves) > limits.max_pages:
        raise pages_error(len(leaves), limits)
    return leaves


def _read_leaves_with_pypdf(leaves: list[Any], limits: Any) -> list[str]:
    try:
        with _quiet("pypdf"):
            return _pypdf_texts(leaves, limits)
    except LoaderError:
        raise
    except Exception as exc:
        raise LoaderError(f"corrupt PDF page tree ({type(exc).__name__})") from None


# -- inflated size ----------------------------------------------------------------------------

# A stream's data starts after "stream" and an end of line ("endstream" is its end, not a start).
_STREAM_START = re.compile(rb"(?<!end)stream\r?\n")
_DIRECT_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_INFLATE_STEP = 1 << 20


def inflated_size(data: bytes, cap: int) -> int:
    """Bytes the Flate streams of a PDF inflate to (image streams excepted: text extraction
    leaves their pixels alone), counted without keeping them, stopping once past `cap`.

    A 3.4 MB PDF whose content stream inflates to 1.1 GB of text operators took the process past
    8 GB in PDFium; counting it here takes about a second.
    """
    import zlib

    total = 0
    view = memoryview(data)
    for match in _STREAM_START.finditer(data):
        begin = match.end()
        head = data[max(0, match.start() - 2048) : match.start()]
        head = head[head.rfind(b"obj") + 1 :]  # the stream's dictionary
        if b"/FlateDecode" not in head or b"/Image" in head:
            continue
        length = _DIRECT_LENGTH.search(head)
        if length is not None:
            end = min(len(data), begin + int(length.group(1)))
        else:
            end = data.find(b"endstream", begin)
            end = len(data) if end < 0 else end
        inflater = zlib.decompressobj()
        try:
            for start in range(begin, end, _INFLATE_STEP):
                out = inflater.decompress(
                    view[start : min(end, start + _INFLATE_STEP)], _INFLATE_STEP
                )
                total += len(out)
                while inflater.unconsumed_tail and total <= cap:
                    out = inflater.decompress(inflater.unconsumed_tail, _INFLATE_STEP)
                    total += len(out)
                if total > cap or inflater.eof:
                    break
        except zlib.error:
            pass  # a damaged stream: PDFium skips it too
        if total > cap:
            break
    return total


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
