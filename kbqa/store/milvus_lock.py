"""Exclusive writing for the milvus record store (kbqa/store/milvus.py says why each).

- Milvus Lite: a flock on a file beside the .db (`kb.db.kbqa_N.lock`), as the sqlite store's
  write.lock; separate opens exclude each other even inside one process.
- A server: a lease row (meta key "writer": owner, expiry) renewed by a thread while held. Milvus
  has no compare-and-set: a writer upserts the row, waits, and reads it back to see who won, so
  two writers that both read it free within that pause can both go on (the commit's generation
  check then refuses the later batch). A lease left by a killed writer expires after LEASE_S.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kbqa.store.locks import locked

LEASE_S = 60.0
SETTLE_S = 0.3  # how long a racing writer's upsert takes to land, at most (assumed)


def _owner(records: Any) -> str | None:
    held = records._meta(["writer"]).get("writer")
    if not held:
        return None
    lease = json.loads(held)
    return lease["owner"] if lease["expires"] > time.time() else None


def _claim(records: Any, owner: str) -> None:
    lease = json.dumps({"owner": owner, "expires": time.time() + LEASE_S})
    records._put_meta({"writer": lease})


def _take(records: Any, owner: str) -> bool:
    if _owner(records) not in {None, owner}:
        return False
    _claim(records, owner)
    time.sleep(SETTLE_S)  # a racing writer's upsert lands by now: the row says who won
    return _owner(records) == owner


@contextmanager
def lease_writer(records: Any, wait_s: float) -> Iterator[None]:
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    deadline = time.monotonic() + wait_s
    while not _take(records, owner):
        if time.monotonic() >= deadline:
            raise locked(records.remote.name)
        time.sleep(0.5)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LEASE_S / 3):
            if _owner(records) == owner:
                _claim(records, owner)

    keeper = threading.Thread(target=renew, daemon=True, name="kbqa-milvus-lease")
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        if _owner(records) == owner:
            records.client.delete(records.names["meta"], ids=["writer"])
