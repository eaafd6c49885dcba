"""The knowledge-base registry: list, open, create, delete, each with the settings given.

Open knowledge bases are shared by every caller of one service (each holds its store's
connections and its searcher's caches); changes to one base (upload, delete, re-index) are
serialised by its write lock, so two requests never write one base at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kbqa.service.errors import KnowledgeBaseExists, KnowledgeBaseNotFound

if TYPE_CHECKING:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings


@dataclass(frozen=True)
class KBInfo:
    """One knowledge base, as data."""

    name: str
    files: int
    chunks: int
    path: str
    manifest: dict[str, Any]


class KnowledgeBases:
    """Named knowledge bases under `settings.home`, opened once and kept open until `close()`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.RLock()  # open() asks exists() and names() while holding it
        self._open: dict[str, KnowledgeBase] = {}
        self._write_locks: dict[str, threading.Lock] = {}

    def names(self) -> list[str]:
        """Every knowledge base on disk (and any opened but still empty), sorted."""
        from kbqa.knowledge_base import KnowledgeBase

        with self._lock:
            opened = set(self._open)
        return sorted(set(KnowledgeBase.list_names(self.settings)) | opened)

    def exists(self, name: str) -> bool:
        from kbqa.knowledge_base import KnowledgeBase

        with self._lock:
            if name in self._open:
                return True
        return KnowledgeBase.exists(name, self.settings)

    def open(
        self, name: str | None = None, *, create: bool = False, quiet: bool = True
    ) -> KnowledgeBase:
        """Knowledge base `name` (default: the settings' `kb`); the sample one is built from the
        bundled documents on first use (announced on stderr unless `quiet`).
        KnowledgeBaseNotFound when missing and not `create`."""
        from kbqa.sample import SAMPLE_KB, ensure_sample_kb

        name = name or self.settings.kb
        with self._lock:
            kb = self._open.get(name)
            if kb is not None:
                return kb
            if name == SAMPLE_KB and not create:
                kb = ensure_sample_kb(self.settings, name, quiet=quiet)
            elif not create and not self.exists(name):
                known = ", ".join(self.names()) or "none yet"
                raise KnowledgeBaseNotFound(
                    f"no knowledge base named {name!r} (known: {known}); "
                    f"create it with `kbqa ingest PATH --kb {name}`",
                    name=name,
                )
            else:
                from kbqa.knowledge_base import KnowledgeBase

                kb = KnowledgeBase.open(name, self.settings, create=create)
            self._open[name] = kb
            return kb

    def create(self, name: str) -> KnowledgeBase:
        """A new, empty knowledge base; KnowledgeBaseExists when the name is taken."""
        if self.exists(name):
            raise KnowledgeBaseExists(f"a knowledge base named {name!r} exists", name=name)
        return self.open(name, create=True)

    def delete(self, name: str) -> None:
        """Delete knowledge base `name` and everything stored for it (not the user's files)."""
        from kbqa.knowledge_base import KnowledgeBase

        if not self.exists(name):
            raise KnowledgeBaseNotFound(f"no knowledge base named {name!r}", name=name)
        with self.writing(name):
            with self._lock:
                kb = self._open.pop(name, None)
            if kb is not None:
                kb.close()
            if KnowledgeBase.exists(name, self.settings):
                KnowledgeBase.delete(name, self.settings)

    def info(self, name: str | None = None) -> KBInfo:
        kb = self.open(name)
        data = kb.info()
        return KBInfo(
            name=kb.name,
            files=int(data["files"]),
            chunks=int(data["chunks"]),
            path=str(data["path"]),
            manifest=dict(data.get("manifest") or {}),
        )

    def writing(self, name: str) -> threading.Lock:
        """The lock that serialises changes (upload, delete, re-index) to knowledge base `name`."""
        with self._lock:
            return self._write_locks.setdefault(name, threading.Lock())

    def close(self) -> None:
        with self._lock:
            opened, self._open = list(self._open.values()), {}
        for kb in opened:
            kb.close()
