"""Upload acceptance: sanitised names, checked types, capped sizes, copies kept per knowledge base.

An upload (from the web app or a REST multipart request) arrives as a temporary file and the
user's original file name. Before it reaches the knowledge base it is checked here and copied to
`home/uploads/<kb>/<safe name>`: that copy is what gets ingested (so a citation's `source` names
it) and what page images are rendered from, since the knowledge base keeps no copy of its
originals. A rejection is data (`Rejection`: a code and its parameters); the UI translates it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MIB = 1024 * 1024
MAX_NAME_BYTES = 180  # well under the 255-byte limit of common file systems, room for "-2"

# Characters Windows forbids in names (and "/" everywhere); replaced rather than dropped so
# "a:b.pdf" stays readable.
_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_WINDOWS_RESERVED = {
    "con", "prn", "aux", "nul",
    *(f"com{i}" for i in range(1, 10)),
    *(f"lpt{i}" for i in range(1, 10)),
}  # fmt: skip

# What a file of each kind must start with. A mismatch means a renamed file (an .exe called
# .pdf), which the loaders would reject later with a less helpful message, or worse, not at all.
_ZIP_MAGIC = (b"PK\x03\x04",)
# An Office file is a ZIP package; a password-protected one is an OLE container: accepted, so
# the loader can say it is encrypted instead of "content is not a .xlsx file".
_OFFICE_MAGIC = (*_ZIP_MAGIC, b"\xd0\xcf\x11\xe0")
_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF-",),
    ".docx": _OFFICE_MAGIC,
    ".xlsx": _OFFICE_MAGIC,
    ".pptx": _OFFICE_MAGIC,
    ".epub": _ZIP_MAGIC,
}
# Plain-text formats: anything without NUL bytes (UTF-16 text has them, but starts with a BOM).
_TEXT_EXTENSIONS = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".csv", ".tsv", ".json"}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def allowed_extensions() -> frozenset[str]:
    """The extensions the loaders can read (lower case, with the dot)."""
    from kbqa.loaders import SUPPORTED_EXTENSIONS

    return frozenset(ext.lower() for ext in SUPPORTED_EXTENSIONS)


def sanitize_filename(name: str) -> str:
    """A safe base name for `name`: no directories, `..`, control or separator characters.

    Letters of every script are kept (Chinese names stay Chinese); the extension is kept.
    Never returns an empty string, ".", ".." or a hidden (dot) name.
    """
    # Strip directories as either OS writes them: a browser on Windows may send "C:\\x\\a.pdf".
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    # Cc: control characters (NUL, newline, ESC); Cf: invisible format characters such as the
    # right-to-left override, which can disguise "gpj.exe" as "exe.jpg".
    name = "".join(c for c in name if unicodedata.category(c) not in {"Cc", "Cf"})
    name = _FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")  # also turns ".." into ""
    stem, ext = _split_ext(name)
    stem = stem.strip(" .")
    if not stem:
        stem = "upload"
    if stem.lower() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    budget = MAX_NAME_BYTES - len(ext.encode("utf-8"))
    encoded = stem.encode("utf-8")
    if len(encoded) > budget:
        stem = encoded[:budget].decode("utf-8", errors="ignore").rstrip(" .") or "upload"
    return stem + ext


def _split_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext or len(ext) > 10 or " " in ext:
        return name, ""
    return stem, "." + ext.lower()


RejectCode = Literal[
    "unsupported_type", "too_large", "missing", "empty", "wrong_content", "binary_text",
    "unsafe_name",
]  # fmt: skip


@dataclass(frozen=True)
class Rejection:
    """Why one uploaded file was not accepted: `code` with its `params` (for a translated
    message) and `message`, the same in English."""

    name: str  # the safe name it would have had
    code: RejectCode
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        p = self.params
        if self.code == "unsupported_type":
            shown = p["extension"] or "no extension"
            return f"unsupported file type ({shown}); allowed: {', '.join(p['allowed'])}"
        if self.code == "too_large":
            return f"too large ({p['size_mb']:.1f} MB; the limit is {p['limit_mb']:.0f} MB)"
        return {
            "missing": "upload went missing",
            "empty": "empty file",
            "wrong_content": f"content is not a {p.get('extension')} file",
            "binary_text": "binary content in a text file",
            "unsafe_name": "unsafe file name",
        }[self.code]


def check_type(path: Path, extension: str) -> RejectCode | None:
    """Why the content of `path` does not match `extension` (a code), or None when it does."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if not head:
        return "empty"
    magic = _MAGIC.get(extension)
    if magic is not None:
        # PDF readers accept the header anywhere in the first kilobyte; so do we.
        window = head[:1024] if extension == ".pdf" else head[:4]
        if not any(m in window for m in magic):
            return "wrong_content"
    elif extension in _TEXT_EXTENSIONS and b"\x00" in head and not head.startswith(_UTF16_BOMS):
        return "binary_text"
    return None


@dataclass
class UploadBatch:
    """What `accept_uploads` made of one batch of uploaded files."""

    accepted: list[Path] = field(default_factory=list)  # copies in the upload folder
    rejected: list[Rejection] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # safe name -> name as uploaded
    # The previous version of a replaced document, kept until its new version is ingested.
    backups: dict[Path, Path] = field(default_factory=dict)

    def finish(self, failed: Iterable[str | Path]) -> None:
        """After ingestion: drop the copies that failed (restoring what they replaced).

        `failed` names files by path or by name (the knowledge base reports a file given
        directly by its name); the copies all sit in one folder, so names are unique."""
        failed_names = {Path(p).name for p in failed}
        for target in self.accepted:
            backup = self.backups.get(target)
            if target.name in failed_names:
                # The knowledge base still holds the old version (or nothing): keep the folder
                # in step with it, so page images and re-indexing read what was indexed.
                if backup is not None:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
            elif backup is not None:
                backup.unlink(missing_ok=True)


Upload = str | Path | tuple[str, str | Path]  # a file named as uploaded, or (original name, file)


def accept_uploads(
    files: Iterable[Upload],
    dest: Path,
    *,
    allowed: Iterable[str],
    max_bytes: int,
) -> UploadBatch:
    """Check each uploaded file and copy the good ones into `dest` under their safe names.

    A file is a path whose name is the name it was uploaded under, or a pair (original name,
    path) when the upload sits in a file of another name (a REST multipart temp file). A file of
    the same name already in `dest` is replaced (it is the new version of that document); two
    files of one batch that sanitise to the same name get "-2", "-3", ...
    """
    allowed_set = {ext.lower() for ext in allowed}
    batch = UploadBatch()
    dest.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for item in files:
        if isinstance(item, tuple):
            original, source = item[0], Path(item[1])
        else:
            source = Path(item)
            original = source.name
        safe = _unique(sanitize_filename(original), used)
        used.add(safe.lower())
        if safe != original:
            batch.renamed[safe] = original
        rejection = _reject(source, safe, allowed_set, max_bytes)
        if rejection is not None:
            batch.rejected.append(rejection)
            continue
        target = dest / safe
        # Belt and braces: the sanitiser already guarantees this.
        if target.resolve().parent != dest.resolve():
            batch.rejected.append(Rejection(safe, "unsafe_name"))
            continue
        if target.exists():
            backup = target.with_name(f".{safe}.previous")
            shutil.copy2(target, backup)
            batch.backups[target] = backup
        _atomic_copy(source, target)
        batch.accepted.append(target)
    return batch


def _reject(source: Path, safe: str, allowed: set[str], max_bytes: int) -> Rejection | None:
    extension = _split_ext(safe)[1]
    if extension not in allowed:
        params = {"extension": extension, "allowed": sorted(allowed)}
        return Rejection(safe, "unsupported_type", params)
    try:
        size = source.stat().st_size
    except OSError:
        return Rejection(safe, "missing")
    if size > max_bytes:
        return Rejection(safe, "too_large", {"size_mb": size / MIB, "limit_mb": max_bytes / MIB})
    code = check_type(source, extension)
    return Rejection(safe, code, {"extension": extension}) if code else None


def _unique(name: str, used: set[str]) -> str:
    if name.lower() not in used:
        return name
    stem, ext = _split_ext(name)
    number = 2
    while f"{stem}-{number}{ext}".lower() in used:
        number += 1
    return f"{stem}-{number}{ext}"


def _atomic_copy(source: Path, target: Path) -> None:
    # Copy then rename, so a page being rendered from the previous version never sees half a file.
    handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".upload-", suffix=".part")
    os.close(handle)
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def upload_dir(home: Path, kb_name: str) -> Path:
    """The folder holding the uploaded originals of knowledge base `kb_name`."""
    return home / "uploads" / sanitize_filename(kb_name)


def stored_original(home: Path, kb_name: str, source: str) -> Path | None:
    """The kept copy of an uploaded document, or None (not uploaded through the UI, or gone)."""
    folder = upload_dir(home, kb_name)
    candidate = folder / sanitize_filename(source)
    if candidate.is_file() and candidate.resolve().parent == folder.resolve():
        return candidate
    return None
