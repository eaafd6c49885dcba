"""Helpers shared by the loaders: byte decoding and whitespace clean-up."""

from __future__ import annotations

import codecs
import re
import unicodedata

from kbqa.errors import LoaderError

# Joins the headings above a Section into its path ("H1 > H2 > H3"), in every loader.
HEADING_SEPARATOR = " > "

# Magic numbers of common binary formats: a file named .txt that starts with one of these is a
# mislabelled binary, whatever its bytes happen to decode to.
_BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"GIF8",
    b"PK\x03\x04",  # ZIP, docx, xlsx
    b"\xd0\xcf\x11\xe0",  # OLE2: .doc, .xls
    b"\x7fELF",
    b"MZ",
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"7z\xbc\xaf",
    b"Rar!",
    b"SQLite format 3\x00",
)

# Bytes that never appear in real text files (tab, LF, VT, FF, CR and ESC excluded).
_CONTROL_BYTES = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])

# Text whose share of non-text code points is above this is treated as binary.
_MAX_JUNK_RATIO = 0.01


def _control_byte_ratio(data: bytes) -> float:
    sample = data[:65536]
    kept = sample.translate(None, _CONTROL_BYTES)
    return (len(sample) - len(kept)) / max(1, len(sample))


def looks_like_text(text: str) -> bool:
    """False when too many code points are controls, unassigned, private-use or U+FFFD."""
    sample = text[:65536]
    if not sample:
        return True
    junk = 0
    for char in sample:
        if char in "\t\n\r\f\v":
            continue
        if char == "\ufffd" or unicodedata.category(char) in ("Cc", "Cn", "Co", "Cs"):
            junk += 1
    return junk / len(sample) <= _MAX_JUNK_RATIO


def _utf16_without_bom(data: bytes) -> str | None:
    """Detect BOM-less UTF-16 cheaply: its ASCII characters put NUL bytes on one parity only."""
    sample = data[:65536]
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    if len(data) % 2 or even_nuls + odd_nuls < 4:
        return None
    if odd_nuls > 20 * even_nuls:
        encoding = "utf-16-le"
    elif even_nuls > 20 * odd_nuls:
        encoding = "utf-16-be"
    else:
        return None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        return None
    return text if looks_like_text(text) else None


def decode_bytes(data: bytes) -> str:
    """Decode a text file's bytes: BOMs, UTF-8, BOM-less UTF-16, GB18030/GBK, then a detector.

    Raises LoaderError("empty file") and LoaderError("binary file, not text").
    """
    if not data.strip():
        raise LoaderError("empty file")
    text: str | None = None
    # UTF-32 BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoaderError(f"invalid {encoding.upper()} text ({exc.reason})") from None
            break
    if text is None:
        if data.startswith(_BINARY_MAGIC):
            raise LoaderError("binary file, not text")
        text = _utf16_without_bom(data)
    if text is None:
        if _control_byte_ratio(data) > 0.02:
            raise LoaderError("binary file, not text")
        text = _decode_8bit(data)
    if not looks_like_text(text):
        raise LoaderError("binary file, not text")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise LoaderError("empty file")
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # UTF-8 with a few damaged bytes (a file cut mid-character, one stray byte) is still UTF-8:
    # read as GB18030 it would "succeed" and turn every character into another one.
    lenient = data.decode("utf-8", errors="replace")
    # GBK read as UTF-8 turns nearly every non-ASCII character into U+FFFD; damaged UTF-8 only a
    # few among many valid ones.
    bad = lenient.count("\ufffd")
    good = sum(1 for char in lenient if ord(char) > 127) - bad
    if bad * 20 <= good:
        return lenient
    # Chinese text files are very often GBK/GB18030 (GB18030 is a superset of GBK and GB2312).
    try:
        gb_text: str | None = data.decode("gb18030")
    except UnicodeDecodeError:
        gb_text = None
    if gb_text is not None and looks_like_text(gb_text) and _mostly_common_simplified(gb_text):
        return gb_text
    # Big5 (traditional Chinese), Shift-JIS, Latin-1 ... also decode as GB18030, into rare
    # characters and kana: let the detector weigh the candidates.
    from charset_normalizer import from_bytes

    matches = from_bytes(data[:1_000_000])
    best = matches.best()
    if best is not None and best.encoding is not None:
        encoding = best.encoding
        # Single-byte code pages are near ties on short texts; Windows-1252 (a superset of
        # Latin-1) is by far the most common of them, so it wins a near tie.
        western = [m for m in matches if m.encoding == "cp1252"]
        if _single_byte(encoding) and western and western[0].chaos <= best.chaos + 0.1:
            encoding = "cp1252"
        return data.decode(encoding, errors="replace")
    if gb_text is not None and looks_like_text(gb_text):
        return gb_text
    raise LoaderError("binary file, not text")


def _single_byte(encoding: str) -> bool:
    import codecs

    try:
        return codecs.lookup(encoding).name.startswith(
            ("cp1", "cp8", "cp7", "iso8859", "latin", "mac")
        )
    except LookupError:
        return False


def _mostly_common_simplified(text: str) -> bool:
    """True when nearly all non-ASCII characters are in GB2312 (everyday simplified Chinese)."""
    sample = [char for char in text[:200_000] if ord(char) > 127][:20_000]
    if not sample:
        return True
    common = 0
    for char in sample:
        try:
            char.encode("gb2312")
            common += 1
        except UnicodeEncodeError:
            pass
    return common >= 0.9 * len(sample)


_LINE_END = re.compile(r"\r\n?|[\u2028\u2029\x85]")
# Starts only where a run of spaces starts: without the lookbehind, a long run that is not at a
# line end is rescanned from each of its characters (quadratic: 1 MB of spaces took minutes).
_TRAILING_SPACE = re.compile(r"(?<![ \t\u00a0\u3000])[ \t\u00a0\u3000]+$", re.M)
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str) -> str:
    """Unify line ends, drop NULs and trailing spaces, keep at most one blank line in a row."""
    text = _LINE_END.sub("\n", text).replace("\x00", "")
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip("\n")
