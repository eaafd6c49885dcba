"""What a killed process leaves in a knowledge base's folders, and removing it at the next open.

Temporary files and folders carry the writing process's id in their name; one whose process is
gone is a leftover (a live writer's, including this process's, is never touched).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def process_alive(pid: int) -> bool:
    """Whether process `pid` exists (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove `*.tmp<pid>` files in `folder` whose writing process is gone (a killed save)."""
    removed = []
    for path in folder.glob("*.tmp*"):
        pid = path.suffix.removeprefix(".tmp")
        if pid.isdigit() and not process_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_abandoned_folders(root: Path, prefix: str) -> list[Path]:
    """Remove `<prefix>...-<pid>` folders in `root` whose process is gone (a killed deletion)."""
    removed = []
    for folder in root.glob(f"{prefix}*"):
        pid = folder.name.rpartition("-")[2]
        if folder.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
