"""Old import path of the store's records (kept for callers such as kbqa/bench).

The store is now three pieces behind interfaces (kbqa/store/base.py), opened by
kbqa/store/factory.py; the SQLite backend is kbqa/store/sqlite.py.
"""

from kbqa.store.base import FileRecord, NewChunk, StoredChunk

__all__ = ["FileRecord", "NewChunk", "StoredChunk"]
