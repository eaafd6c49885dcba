"""Generators for the documents tests ingest: real files, written the way users' tools write them.

Shared by every test module and by the scripts that build shipped sample PDFs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kbqa.bench.memory import raw_pdf

CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
)


def cjk_font() -> Path:
    for candidate in CJK_FONT_CANDIDATES:
        if candidate.exists():
            return candidate
    raise RuntimeError(
        "no CJK font found: install Debian's fonts-wqy-microhei (scripts/setup.sh --test does)"
    )


def write_text_pdf(
    path: Path,
    pages: Sequence[str],
    *,
    bookmarks: Sequence[str | None] | None = None,
    font_size: float = 11,
) -> Path:
    """Write a PDF with one page per entry of `pages` (text wraps; paragraphs split on blank lines).

    `bookmarks[i]`, when given, adds an outline entry (a heading) pointing at page i+1.
    Uses a CJK-capable TrueType font, so Chinese and English both render and extract.
    """
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.add_font("cjk", "", str(cjk_font()))
    pdf.set_font("cjk", size=font_size)
    for index, text in enumerate(pages):
        pdf.add_page()
        if bookmarks and index < len(bookmarks) and bookmarks[index]:
            pdf.start_section(bookmarks[index], level=0)
        pdf.set_xy(pdf.l_margin, pdf.t_margin)
        pdf.multi_cell(0, font_size * 0.5, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


# --- damaged and unusual PDFs ------------------------------------------------------------------


def write_encrypted_pdf(
    path: Path,
    pages: Sequence[str] = ("机密文件。Confidential.",),
    *,
    user_password: str = "secret",
    owner_password: str = "owner",
) -> Path:
    """A text PDF encrypted with RC4-128 (no `cryptography` needed).

    With `user_password=""` it opens without a password (permissions-only protection), as most
    "protected" PDFs in the wild do.
    """
    from pypdf import PdfReader, PdfWriter

    plain = write_text_pdf(path.with_name(path.name + ".plain.pdf"), pages)
    writer = PdfWriter(clone_from=PdfReader(plain))
    writer.encrypt(user_password, owner_password, algorithm="RC4-128")
    with path.open("wb") as handle:
        writer.write(handle)
    plain.unlink()
    return path


def write_image_only_pdf(path: Path, pages: int = 1, *, text: str = "扫描件 scanned page") -> Path:
    """A "scanned" PDF: each page is a picture of text plus drawn shapes, with no text layer."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (800, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 100), text, fill="black", font=ImageFont.truetype(str(cjk_font()), 48))
    pdf = FPDF(format="A4")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(image, x=10, y=20, w=180)
        pdf.rect(10, 120, 100, 40)
        pdf.circle(x=60, y=200, radius=20)
        pdf.line(10, 250, 200, 250)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def strip_tounicode(source: Path, target: Path) -> int:
    """Copy a PDF with every font's /ToUnicode map removed; return how many were removed."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    writer = PdfWriter(clone_from=PdfReader(source))
    removed = 0
    for page in writer.pages:
        fonts = page.get("/Resources", {}).get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            if "/ToUnicode" in font:
                del font[NameObject("/ToUnicode")]
                removed += 1
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        writer.write(handle)
    return removed


def write_pdf_without_tounicode(path: Path, pages: Sequence[str]) -> Path:
    """A Chinese PDF whose CID font (Type0, Identity-H, embedded subset) has no ToUnicode map.

    Only the embedded font's own cmap table says which character each glyph is.
    """
    plain = write_text_pdf(path.with_name(path.name + ".plain.pdf"), pages)
    strip_tounicode(plain, path)
    plain.unlink()
    return path


def write_truncated_pdf(path: Path, pages: Sequence[str], *, keep: float = 0.6) -> Path:
    """A text PDF cut short, as an interrupted download leaves it (no xref, no %%EOF)."""
    full = write_text_pdf(path.with_name(path.name + ".full.pdf"), pages)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_corrupt_pdf(path: Path, *, seed: int = 0) -> Path:
    """A file with a PDF header and trailer but random bytes where the objects should be."""
    import random

    junk = random.Random(seed).randbytes(8192)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + junk + b"\nstartxref\n9\n%%EOF\n")
    return path


# --- other formats --------------------------------------------------------------------------------


def write_text_file(path: Path, text: str, *, encoding: str = "utf-8", bom: bool = False) -> Path:
    """Text in any codec; `bom=True` adds the byte-order mark (utf-8 -> utf-8-sig, utf-16 BOM)."""
    import codecs

    boms = {
        "utf-8": codecs.BOM_UTF8,
        "utf-16-le": codecs.BOM_UTF16_LE,
        "utf-16-be": codecs.BOM_UTF16_BE,
    }
    data = text.encode(encoding)
    if bom and encoding.lower() in boms:
        data = boms[encoding.lower()] + data
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_binary_junk(path: Path, size: int = 4096, *, seed: int = 0) -> Path:
    """Random bytes (a mislabelled binary), deterministic for a seed."""
    import random

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


def write_html(path: Path, body: str, *, title: str = "", encoding: str = "utf-8") -> Path:
    """An HTML page with a <meta charset>, a script and a style block around `body`."""
    html = (
        f'<!DOCTYPE html>\n<html><head><meta charset="{encoding}"><title>{title}</title>\n'
        "<style>body { color: red; } .hidden-css-text {}</style>\n"
        "<script>var hiddenScriptText = 'not content';</script></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
    return write_text_file(path, html, encoding=encoding)


# A docx block: ("h1".."h9", text), ("title", text), ("p", text) or ("table", rows).
DocxBlock = tuple[str, "str | Sequence[Sequence[str]]"]


def write_docx(path: Path, blocks: Sequence[DocxBlock]) -> Path:
    """A Word document built with python-docx, as Word itself structures one."""
    import docx

    document = docx.Document()
    for kind, content in blocks:
        if kind == "table":
            rows = [list(row) for row in content]  # type: ignore[union-attr]
            table = document.add_table(rows=len(rows), cols=max(len(row) for row in rows))
            for row_cells, values in zip(table.rows, rows, strict=True):
                for cell, value in zip(row_cells.cells, values, strict=False):
                    cell.text = value
        elif kind == "title":
            document.add_heading(str(content), level=0)
        elif kind.startswith("h"):
            document.add_heading(str(content), level=int(kind[1:]))
        else:
            document.add_paragraph(str(content))
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def many_pages(count: int) -> list[str]:
    """Page texts for big-PDF tests: a mixed Chinese/English paragraph naming its page."""
    return [
        f"第{number}页。员工每年享有带薪年假十五天，需要提前两周申请。"
        f"Page {number}: annual leave is fifteen days a year, requested two weeks ahead."
        for number in range(1, count + 1)
    ]


def write_pdf_without_root(path: Path, pages: Sequence[str]) -> Path:
    """A text PDF whose trailer lost its /Root entry: PDFium refuses it, pypdf recovers it."""
    full = write_text_pdf(path.with_name(path.name + ".full.pdf"), pages)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data.replace(b"/Root", b"/Rxot"))
    return path


def write_predefined_cmap_pdf(
    path: Path, pages: Sequence[str], *, encoding: str = "GBK-EUC-H"
) -> Path:
    """A Chinese PDF as official-document systems and OFD converters write it.

    A Type0 font with a predefined CMap (`GBK-EUC-H`: text bytes in GBK; `UniGB-UCS2-H`: UTF-16),
    Adobe-GB1 collection, a system font (SimSun) that is not embedded, and no ToUnicode map.
    Written by hand: no PDF library writes such files.
    """
    codec = {"GBK-EUC-H": "gbk", "UniGB-UCS2-H": "utf-16-be"}[encoding]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled in below
        f"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /{encoding} "
        "/DescendantFonts [4 0 R] >>".encode(),
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /CIDSystemInfo "
        b"<< /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> /FontDescriptor 5 0 R /DW 1000 >>",
        b"<< /Type /FontDescriptor /FontName /SimSun /Flags 6 /FontBBox [0 -141 996 855] "
        b"/ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>",
    ]
    kids: list[str] = []
    for text in pages:
        lines = [line for line in text.split("\n") if line] or [" "]
        shows = " T* ".join(f"<{line.encode(codec).hex().upper()}> Tj" for line in lines)
        stream = f"BT /F1 12 Tf 72 770 Td 16 TL {shows} ET".encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    path.write_bytes(raw_pdf(objects))
    return path


def bookmarks_as_actions(source: Path, target: Path) -> Path:
    """Copy a PDF with each outline entry's /Dest turned into a GoTo action (/A), as Word does."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import DictionaryObject, NameObject

    writer = PdfWriter(clone_from=PdfReader(source))
    item = writer._root_object["/Outlines"].get_object().get("/First")
    stack = [item] if item is not None else []
    while stack:
        node = stack.pop().get_object()
        if "/Dest" in node:
            action = DictionaryObject(
                {NameObject("/S"): NameObject("/GoTo"), NameObject("/D"): node["/Dest"]}
            )
            del node[NameObject("/Dest")]
            node[NameObject("/A")] = action
        stack.extend(node[key] for key in ("/First", "/Next") if key in node)
    with target.open("wb") as handle:
        writer.write(handle)
    return target
