"""Office Open XML packages (.docx, .xlsx, .pptx): the checks made before a package is parsed.

`open_package` tells an empty file, a password-protected one (an encrypted package is an OLE/CFB
container, not a ZIP), an old binary format under a new name, and a file that is no ZIP at all
apart, each with its own message; then `check_inflated` refuses a ZIP bomb by the sizes its
directory declares, before any member is inflated.
"""

from __future__ import annotations

import mmap
import zipfile
from pathlib import Path
from typing import Any

from kbqa.errors import LoaderError
from kbqa.loaders._limits import inflated_error

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An encrypted OOXML file is a CFB container with an "EncryptedPackage" stream (MS-OFFCRYPTO,
# standard and agile encryption alike); directory entry names are UTF-16-LE.
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


def check_inflated(path: Path, limits: Any, extension: str) -> None:
    """Refuse a package whose members would inflate past max_inflated_mb, before parsing it.

    The sizes are the ones the ZIP directory declares; zipfile never inflates a member past its
    declared size (it stops there and fails the CRC), so a lying directory gains nothing.
    """
    try:
        with zipfile.ZipFile(path) as package:
            inflated = sum(info.file_size for info in package.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise LoaderError(f"corrupt {extension} ({exc})"[:200]) from None
    if inflated > limits.max_inflated_mb * 2**20:
        raise inflated_error(limits, "its ZIP members")


def is_encrypted_ole(path: Path) -> bool:
    """True when the OLE file at `path` holds an encrypted OOXML package."""
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(_ENCRYPTED_STREAM) >= 0


def open_package(path: Path, limits: Any, extension: str, what: str, legacy: str) -> None:
    """Raise the LoaderError that says why `path` is no readable `extension` package, if it is not.

    `what` names the kind of file in the encrypted message ("spreadsheet"); `legacy` is the old
    binary format's extension (".xls"), which an OLE file that is not encrypted most likely is.
    """
    with path.open("rb") as handle:
        magic = handle.read(8)
    if not magic.strip():
        raise LoaderError("empty file")
    if magic.startswith(OLE_MAGIC[:4]):
        if is_encrypted_ole(path):
            raise LoaderError(f"encrypted {what} (password required)")
        raise LoaderError(
            f"not a {extension} package (an OLE file: an old {legacy} file? save it as {extension})"
        )
    if not zipfile.is_zipfile(path):
        raise LoaderError(f"corrupt {extension} (not a ZIP package)")
    check_inflated(path, limits, extension)
