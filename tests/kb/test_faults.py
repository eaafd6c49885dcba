"""SIGKILL at many moments of an ingest, an update and a remove (issue 11: what held is kept).

Each case copies one prepared knowledge base, runs the operation as a real `kbqa` process and
kills it at a moment spread over the time a clean run takes. Afterwards the base must pass
`kbqa kb check` (integrity, indexes in step with the records), hold no duplicated chunk, and
finishing the operation must give exactly the counts of a run that was never interrupted.

The default run kills an ingest and a remove once each (in the middle of a clean run's time);
KBQA_FAULT_MOMENTS=10 kills at 10 moments of the ingest, and proportionally of the update and the
remove (the run docs/reliability.md reports).
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from kbqa.health import check_knowledge_base
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings
from tests.kb.conftest import FAST_EMBEDDER, make_kb

MOMENTS = int(os.environ.get("KBQA_FAULT_MOMENTS", "1"))
NOTES = 400  # one chunk each: two commits (256 chunks, then 144)


@dataclass(frozen=True)
class Operation:
    name: str
    command: list[str]
    moments: int


def _notes(folder: Path, version: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(NOTES):
        reading = (index * 7 + version) % 101
        (folder / f"n{index:04}.txt").write_text(
            f"Note {index} (v{version}): sensor {index} reads {reading} degrees.", "utf-8"
        )
    return folder


def _big(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(f"Section {i}. Valve {i} opens at {i % 90} kPa." for i in range(600))
    (folder / "big.txt").write_text(text, "utf-8")
    return folder / "big.txt"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The base each operation starts from, how long a clean run of it takes as a process, and
    the counts it ends with. Notes v2 change every note, so the update replaces all of them
    (a note's key is its path inside the folder ingested)."""
    root = tmp_path_factory.mktemp("faults")
    notes, notes_v2, big = _notes(root / "v1", 1), _notes(root / "v2", 2), _big(root / "bigdir")
    every = {
        "ingest": Operation("ingest", ["ingest", str(notes)], MOMENTS),
        "update": Operation("update", ["ingest", str(notes_v2)], max(1, MOMENTS * 4 // 10)),
        "remove": Operation("remove", ["kb", "remove", "big.txt"], max(1, MOMENTS * 9 // 10)),
    }
    operations = {name: every[name] for name, _ in _cases()}
    finish = {
        "ingest": lambda kb: kb.add(notes),
        "update": lambda kb: kb.add(notes_v2),
        "remove": lambda kb: kb.remove("big.txt") if kb.store.file("big.txt") else None,
    }
    kb = make_kb(root / "start-ingest", "crash", embedder=FAST_EMBEDDER)
    kb.add([big])
    kb.close()
    starts, finals, seconds = {}, {}, {}
    previous = None
    for name in operations:  # each starts where the one before ended
        home = root / f"start-{name}"
        if previous is not None:
            shutil.copytree(previous, home)
        starts[name] = home
        previous = root / f"finished-{name}"
        shutil.copytree(home, previous)
        began = time.monotonic()
        assert _run(previous, operations[name]).wait() == 0
        seconds[name] = time.monotonic() - began
        finals[name] = _counts(previous)
    return {
        "operations": operations,
        "finish": finish,
        "starts": starts,
        "finals": finals,
        "seconds": seconds,
    }


def _run(home: Path, operation: Operation) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kbqa", *operation.command, "--kb", "crash"],
        env={**os.environ, "KBQA_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _counts(home: Path) -> tuple[int, int, int]:
    kb = KnowledgeBase.open("crash", Settings(home=home))
    try:
        return len(kb.files()), kb.count_chunks(), kb.store.index().ntotal
    finally:
        kb.close()


def _cases() -> list[tuple[str, int]]:
    counts = {"ingest": MOMENTS, "update": max(1, MOMENTS * 4 // 10)}
    counts["remove"] = max(1, MOMENTS * 9 // 10)
    if MOMENTS == 1:
        # The default run: an update is an ingest that replaces (the same commits); killing it
        # is left to the longer runs, which saves its clean run and its killed one.
        del counts["update"]
    return [(name, moment) for name, n in counts.items() for moment in range(n)]


@pytest.mark.parametrize(("name", "moment"), _cases())
def test_sigkill_leaves_a_sound_base_that_finishes_like_a_clean_run(
    prepared: dict, tmp_path: Path, name: str, moment: int
) -> None:
    operation = prepared["operations"][name]
    home = tmp_path / "home"
    shutil.copytree(prepared["starts"][name], home)
    at = prepared["seconds"][name] * (moment + 0.5) / operation.moments
    process = _run(home, operation)
    try:
        process.wait(timeout=at)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    process.wait()

    settings = Settings(home=home)
    assert check_knowledge_base("crash", settings) == []
    database = KnowledgeBase.folder_for("crash", settings) / "store.sqlite"
    db = sqlite3.connect(database)
    duplicates = db.execute(
        "SELECT COUNT(*) FROM (SELECT doc, position FROM chunks WHERE doc IS NOT NULL "
        "GROUP BY doc, position HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    db.close()
    assert duplicates == 0

    kb = KnowledgeBase.open("crash", settings)
    try:
        prepared["finish"][name](kb)  # finish what was interrupted
    finally:
        kb.close()
    assert _counts(home) == prepared["finals"][name]
    assert not list(KnowledgeBase.folder_for("crash", settings).glob("*.tmp*"))


def test_searches_from_another_process_never_fail_during_an_ingest(
    prepared: dict, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(prepared["starts"]["ingest"], home)
    kb = KnowledgeBase.open("crash", Settings(home=home))
    try:
        kb.search("valve opens", k=3)  # load the embedder before the writer starts
        writer = _run(home, prepared["operations"]["ingest"])
        searches, generations = 0, set()
        while writer.poll() is None:
            for mode in ("hybrid", "dense", "bm25"):
                hits = kb.search("which sensor reads 42 degrees", k=5, mode=mode)
                assert hits and all(hit.text for hit in hits)
                searches += 1
            generations.add(kb.store.generation)
            time.sleep(0.2)  # leave the writer a core: back-to-back searches doubled its time
        assert writer.returncode == 0
        assert searches > 20 and len(generations) > 1, (searches, generations)
        assert kb.store.index().ntotal == kb.count_chunks() == prepared["finals"]["ingest"][1]
    finally:
        kb.close()
