"""Rebuild missing /ToUnicode maps of CID fonts from the embedded font program.

A Type0 font with Identity-H/V encoding and no ToUnicode map gives a text extractor only glyph
numbers. PDFium maps them when the font names a known character collection (Adobe-GB1, CNS1,
Japan1, Korea1), but not for "Identity"/"UCS" collections, which is what most generators write for
an embedded TrueType subset. The embedded font usually still carries its cmap table (Unicode ->
glyph), so the reverse map can be rebuilt: CID -> GID (CIDToGIDMap) -> Unicode. The PDF is patched
in memory (an incremental update: only the fonts change) and read again by PDFium.
"""

from __future__ import annotations

import io
import logging
from typing import Any

logger = logging.getLogger(__name__)

_IDENTITY = ("/Identity-H", "/Identity-V")


def add_missing_tounicode(data: bytes) -> bytes | None:
    """Return the PDF with rebuilt ToUnicode maps, or None when no font could be repaired."""
    try:
        from fontTools.ttLib import TTFont  # noqa: F401  (checked here: optional at runtime)
        from pypdf import PdfReader, PdfWriter
        from pypdf.generic import DecodedStreamObject, NameObject
    except ImportError:
        return None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return None
        writer = PdfWriter(clone_from=reader)
        done: set[int] = set()
        repaired = 0
        for page in writer.pages:
            for font in _page_fonts(page):
                key = id(font)
                if key in done:
                    continue
                done.add(key)
                cmap = _rebuild_cmap(font)
                if cmap is None:
                    continue
                stream = DecodedStreamObject()
                stream.set_data(cmap)
                font[NameObject("/ToUnicode")] = writer._add_object(stream)
                repaired += 1
        if not repaired:
            return None
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
    except Exception as exc:  # a repair is best effort: the caller reports the unreadable text
        logger.debug("ToUnicode repair failed: %s", exc)
        return None


def _page_fonts(page: Any) -> list[Any]:
    """Fonts of a page and of the form XObjects it draws (one level deep)."""
    fonts: list[Any] = []
    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else {}
    for ref in (resources.get("/Font") or {}).values():
        fonts.append(ref.get_object())
    for ref in (resources.get("/XObject") or {}).values():
        xobject = ref.get_object()
        inner = xobject.get("/Resources")
        if xobject.get("/Subtype") == "/Form" and inner is not None:
            for font_ref in (inner.get_object().get("/Font") or {}).values():
                fonts.append(font_ref.get_object())
    return fonts


def _rebuild_cmap(font: Any) -> bytes | None:
    if font.get("/Subtype") != "/Type0" or "/ToUnicode" in font:
        return None
    if font.get("/Encoding") not in _IDENTITY:
        return None  # a predefined CMap (GBK-EUC-H, UniGB-UCS2-H, ...): PDFium decodes those
    descendant = font["/DescendantFonts"][0].get_object()
    ordering = str(descendant.get("/CIDSystemInfo", {}).get("/Ordering", ""))
    if ordering in ("GB1", "CNS1", "Japan1", "Korea1", "KR"):
        return None  # a known character collection: PDFium has its CID -> Unicode table
    descriptor = descendant.get("/FontDescriptor")
    if descriptor is None:
        return None
    descriptor = descriptor.get_object()
    program = descriptor.get("/FontFile2") or descriptor.get("/FontFile3")
    if program is None:
        return None
    gid_to_unicode = _gid_to_unicode(program.get_object().get_data())
    if not gid_to_unicode:
        return None
    cid_to_gid = descendant.get("/CIDToGIDMap")
    mapping: dict[int, int] = {}
    if cid_to_gid is not None and cid_to_gid != "/Identity":
        table = cid_to_gid.get_object().get_data()
        for cid in range(len(table) // 2):
            gid = int.from_bytes(table[2 * cid : 2 * cid + 2], "big")
            if gid and gid in gid_to_unicode:
                mapping[cid] = gid_to_unicode[gid]
    else:
        mapping = dict(gid_to_unicode)
    return _cmap_stream(mapping) if mapping else None


def _gid_to_unicode(program: bytes) -> dict[int, int]:
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(program), lazy=True)
    order = {name: gid for gid, name in enumerate(font.getGlyphOrder())}
    best: dict[int, int] = {}
    for code, name in (font.getBestCmap() or {}).items():
        gid = order.get(name)
        if gid is None or code < 32:
            continue
        # Several code points may share a glyph (a CJK compatibility ideograph and its unified
        # twin): keep the unified one, never a private-use one.
        if gid not in best or _rank(code) < _rank(best[gid]):
            best[gid] = code
    return best


def _rank(code: int) -> tuple[int, int]:
    unusual = 0xE000 <= code <= 0xF8FF or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F
    return (int(unusual), code)


def _cmap_stream(mapping: dict[int, int]) -> bytes:
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
        "/CMapName /Adobe-Identity-UCS def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        "<0000> <FFFF>",
        "endcodespacerange",
    ]
    items = sorted(mapping.items())
    for start in range(0, len(items), 100):  # a bfchar block holds at most 100 entries
        block = items[start : start + 100]
        lines.append(f"{len(block)} beginbfchar")
        for cid, code in block:
            utf16 = chr(code).encode("utf-16-be").hex().upper()
            lines.append(f"<{cid:04X}> <{utf16}>")
        lines.append("endbfchar")
    lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
    return "\n".join(lines).encode("ascii")
