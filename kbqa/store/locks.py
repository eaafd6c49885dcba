"""One writer per knowledge base: a file lock (flock) for stores kept on this machine (the
SQLite store's write.lock, Milvus Lite's beside its .db), and the one message for a refusal."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kbqa.errors import KnowledgeBaseLocked


def locked(name: str) -> KnowledgeBaseLocked:
    return KnowledgeBaseLocked(
        f"knowledge base {name!r} is being written by another process; "
        "try again when it has finished"
    )


@contextmanager
def flock_writer(lock_path: Path, wait_s: float, name: str) -> Iterator[None]:
    """Hold an exclusive flock on `lock_path`, waiting up to `wait_s` for it, else `locked`."""
    deadline = time.monotonic() + wait_s
    with Path(lock_path).open("a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise locked(name) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
