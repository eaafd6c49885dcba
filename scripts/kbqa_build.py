"""kbqa's build backend: setuptools' own, plus one line in an editable install.

Why: setuptools' default ("lenient") editable install makes kbqa importable through a finder on
`sys.meta_path`, which Python asks only after its ordinary path search. With the repository
cloned to `X/kbqa` and a user's script in `X`, `X` is first on sys.path, and the path search sees
the clone folder `X/kbqa` (no `__init__.py`) as a namespace package and returns that before the
finder is asked: `from kbqa import KnowledgeBase` fails with "(unknown location)".

The fix: a static `.pth` line naming the repository root. Then the path search itself finds the
real package `kbqa/` there, and a regular package wins over a namespace portion wherever it is on
sys.path, so the user's folder no longer shadows it. setuptools' finder stays for the rest:
`kbqa.ui` (source in `ui/`) is not under `kbqa/`, so only the finder maps it. The other editable
modes do not fit: "strict" links each file, so every new module needs a reinstall; "compat"
cannot map `ui/` to `kbqa.ui`. Side effect, as with `setup.py develop` and pytest's rootdir: the
repository's top-level folders (`ui`, `tests`) are importable by those names in a dev venv; a
wheel has only `kbqa` (tests/test_packaging.py checks).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  (every other PEP 517 hook, unchanged)

ROOT = Path(__file__).resolve().parents[1]
ROOT_PTH = "__editable__.kbqa-root.pth"


def build_editable(
    wheel_directory: str,
    config_settings: dict | None = None,
    metadata_directory: str | None = None,
) -> str:
    name = _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
    _add_root_pth(Path(wheel_directory) / name)
    return name


def _add_root_pth(wheel: Path) -> None:
    """Add ROOT_PTH (and its RECORD line) to the editable wheel setuptools built."""
    content = f"{ROOT}\n".encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()
    record_line = f"{ROOT_PTH},sha256={digest},{len(content)}\n".encode()
    partial = wheel.with_name(wheel.name + ".part")
    with zipfile.ZipFile(wheel) as source:
        names = source.namelist()
        if not any(n.startswith("__editable__") and n.endswith("_finder.py") for n in names):
            return  # strict or compat mode: setuptools wrote a static .pth of its own
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as target:
            target.writestr(ROOT_PTH, content)
            for info in source.infolist():
                data = source.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    data = record_line + data
                target.writestr(info, data)
    os.replace(partial, wheel)
