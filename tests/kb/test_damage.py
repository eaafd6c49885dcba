"""Damage, stale caches and edited manifests: detected, reported by name, and repaired where the
records allow it (issue 11). Every case damages a real knowledge base on disk, the way a disk
error, a restore from backup or a hand edit would."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest

from kbqa.cli import main
from kbqa.errors import EmbedderMismatch, KnowledgeBaseDamaged
from kbqa.health import check_knowledge_base, repair_knowledge_base
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings
from tests.kb.conftest import FAST_EMBEDDER, make_kb

TEXTS = {
    "alpha.txt": "The alpha relay restarts every 40 minutes when the watchdog fires.\n\n" * 3,
    "beta.txt": "Beta archives are kept for 90 days in the cold storage tier.\n\n" * 3,
    "gamma.txt": "The gamma scheduler pins each job to one NUMA node by default.\n\n" * 3,
}
PAGE = 4096


def _write(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for name in names:
        (folder / name).write_text(TEXTS[name] * 20, encoding="utf-8")
        paths.append(folder / name)
    return paths


@pytest.fixture
def built(kbqa_home: Path, tmp_path: Path) -> tuple[str, Settings, Path]:
    """A closed knowledge base 'docs' of alpha and beta, and a healthy neighbour 'other'."""
    docs = tmp_path / "docs"
    kb = make_kb(kbqa_home, "docs", embedder=FAST_EMBEDDER)
    kb.add(_write(docs, ["alpha.txt", "beta.txt"]))
    kb.close()
    other = make_kb(kbqa_home, "other", embedder=FAST_EMBEDDER)
    other.add(_write(tmp_path / "o", ["gamma.txt"]))
    other.close()
    return "docs", Settings(home=kbqa_home), docs


def _database(settings: Settings, name: str) -> Path:
    return KnowledgeBase.folder_for(name, settings) / "store.sqlite"


def _pages_of(database: Path, table: str) -> list[int]:
    db = sqlite3.connect(database)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = [row[0] for row in db.execute("SELECT pageno FROM dbstat WHERE name = ?", (table,))]
    db.close()
    return pages


def _scramble(database: Path, page: int, seed: int = 7) -> None:
    noise = np.random.default_rng(seed).integers(0, 256, PAGE, dtype=np.uint8).tobytes()
    with database.open("r+b") as handle:
        handle.seek((page - 1) * PAGE)
        handle.write(noise)


def _top_source(kb: KnowledgeBase, query: str, mode: str) -> str:
    return kb.search(query, k=1, mode=mode)[0].source


def test_a_restored_older_store_never_pairs_with_a_newer_index_file(built, tmp_path: Path):
    name, settings, docs = built
    database = _database(settings, name)
    backup = tmp_path / "backup.sqlite"
    source = sqlite3.connect(database)
    source.backup(sqlite3.connect(backup))  # the base at generation N: alpha and beta
    source.close()
    kb = KnowledgeBase.open(name, settings)
    kb.remove("beta.txt")  # generation N+1 (alpha only) is saved as a FAISS file
    kb.close()
    shutil.copy(backup, database)  # the backup comes back, at generation N
    for companion in database.parent.glob("store.sqlite-*"):
        companion.unlink()
    kb = KnowledgeBase.open(name, settings)
    kb.add(_write(docs, ["gamma.txt"]))  # a new commit reuses generation number N+1
    kb.close()
    kb = KnowledgeBase.open(name, settings)
    try:
        hits = kb.search("how long are beta archives kept", k=3, mode="dense")
        assert hits[0].source == "beta.txt" and hits[0].score > 0.5
        assert _top_source(kb, "which NUMA node does the gamma scheduler use", "dense") == (
            "gamma.txt"
        )
        assert kb.store.index().ntotal == kb.count_chunks()
    finally:
        kb.close()


def test_an_index_file_of_the_wrong_dimension_is_rebuilt_not_trusted(built):
    name, settings, _ = built
    folder = KnowledgeBase.folder_for(name, settings)
    (saved,) = folder.glob("index.*.faiss")
    wrong = faiss.IndexIDMap2(faiss.IndexFlatIP(8))
    wrong.add_with_ids(np.eye(8, dtype=np.float32), np.arange(8, dtype=np.int64))
    faiss.write_index(wrong, str(saved))
    problems = check_knowledge_base(name, settings)
    assert [p.part for p in problems] == ["dense index"] and problems[0].repairable
    kb = KnowledgeBase.open(name, settings)
    try:
        assert _top_source(kb, "when does the alpha relay restart", "dense") == "alpha.txt"
    finally:
        kb.close()
    repair_knowledge_base(name, settings)
    assert check_knowledge_base(name, settings) == []


def test_damaged_records_are_reported_by_name_and_other_bases_still_work(built, capsys):
    name, settings, _ = built
    database = _database(settings, name)
    for page in _pages_of(database, "chunks")[:2]:
        _scramble(database, page)
    with pytest.raises(
        KnowledgeBaseDamaged, match=r"knowledge base 'docs' is damaged.*store\.sqlite"
    ):
        kb = KnowledgeBase.open(name, settings)
        try:
            kb.search("alpha relay", mode="bm25")
            kb.search("alpha relay", mode="dense")
        finally:
            kb.close()
    assert main(["kb", "list"]) == 0  # it lists what it can read (counts may come from an index)
    assert "other\t1 file" in capsys.readouterr().out
    assert main(["kb", "check", name]) == 1
    out = capsys.readouterr().out
    assert "records:" in out and "not repairable" in out
    assert main(["kb", "repair", name]) == 2
    err = capsys.readouterr().err
    assert "cannot repair knowledge base 'docs'" in err and "ingest its documents again" in err
    other = KnowledgeBase.open("other", settings)
    try:
        assert _top_source(other, "gamma scheduler NUMA", "hybrid") == "gamma.txt"
    finally:
        other.close()


def test_a_damaged_header_is_reported_not_a_traceback(built, capsys):
    name, settings, _ = built
    database = _database(settings, name)
    _pages_of(database, "chunks")  # checkpoint, so the header is the file's first bytes
    with database.open("r+b") as handle:
        handle.write(b"\x00garbage" * 12)
    with pytest.raises(KnowledgeBaseDamaged, match="'docs' is damaged"):
        KnowledgeBase.open(name, settings)
    assert main(["kb", "list"]) == 0
    assert "docs\tDAMAGED" in capsys.readouterr().out
    assert main(["search", "alpha relay", "--kb", name]) == 2
    assert "knowledge base 'docs' is damaged" in capsys.readouterr().err


@pytest.mark.parametrize("table", ["chunks_doc", "chunks_fts_data"])
def test_damage_outside_the_records_is_repaired_from_them(built, capsys, table: str):
    name, settings, _ = built
    database = _database(settings, name)
    for page in _pages_of(database, table)[:1]:
        _scramble(database, page)
    problems = check_knowledge_base(name, settings)
    assert problems and all(p.repairable for p in problems), problems
    assert main(["kb", "repair", name]) == 0
    assert "repaired" in capsys.readouterr().out
    assert check_knowledge_base(name, settings) == []
    folder = database.parent
    assert list(folder.glob("store.sqlite.damaged-*")), "the damaged original is kept aside"
    kb = KnowledgeBase.open(name, settings)
    try:
        assert {f.doc for f in kb.files()} == {"alpha.txt", "beta.txt"}
        assert _top_source(kb, "beta archives cold storage days", "bm25") == "beta.txt"
        assert _top_source(kb, "when does the alpha relay restart", "dense") == "alpha.txt"
    finally:
        kb.close()


def test_an_edited_manifest_naming_another_model_of_the_same_dimension_is_refused(built):
    name, settings, _ = built
    db = sqlite3.connect(_database(settings, name))
    db.execute("UPDATE meta SET value = 'multilingual-e5-small' WHERE key = 'embedder'")
    db.commit()
    db.close()
    kb = KnowledgeBase.open(name, settings)
    try:
        with pytest.raises(EmbedderMismatch, match="another model") as caught:
            kb.search("alpha relay", mode="dense")
        assert "multilingual-e5-small" in str(caught.value)
    finally:
        kb.close()
    problems = check_knowledge_base(name, settings)
    assert [p.part for p in problems] == ["embedder"] and not problems[0].repairable


def _dead_pid() -> int:
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    return dead


def test_temporary_files_of_a_killed_writer_are_removed_at_the_next_open(built):
    name, settings, _ = built
    folder = KnowledgeBase.folder_for(name, settings)
    dead = _dead_pid()
    leftover = folder / f"index.3.abc.tmp{dead}"
    leftover.write_bytes(b"half an index")
    mine = folder / f"index.4.abc.tmp{os.getpid()}"
    mine.write_bytes(b"being written")
    kb = KnowledgeBase.open(name, settings)
    try:
        kb.search("alpha", mode="dense")
    finally:
        kb.close()
    assert not leftover.exists() and mine.exists()
    mine.unlink()


def test_check_finds_nothing_wrong_with_a_sound_base(built, capsys):
    name, settings, _ = built
    assert main(["kb", "check", name]) == 0
    assert "docs: ok" in capsys.readouterr().out
    manifest = json.loads(
        sqlite3.connect(_database(settings, name))
        .execute("SELECT value FROM meta WHERE key = 'embedder_fingerprint'")
        .fetchone()[0]
    )
    assert len(manifest) == 384


def test_a_repair_interrupted_between_its_renames_is_finished_at_the_next_open(built):
    name, settings, _ = built
    database = _database(settings, name)
    _pages_of(database, "chunks")  # checkpoint: the whole base is in store.sqlite
    # What a crash leaves after rewrite() moved the damaged file aside, before the fresh copy
    # took its name: the fresh copy under store.sqlite.new-<pid> and no store.sqlite.
    fresh = database.with_name(f"store.sqlite.new-{_dead_pid()}")
    os.replace(database, fresh)
    assert KnowledgeBase.list_names(settings) == ["docs", "other"]
    kb = KnowledgeBase.open(name, settings)
    try:
        assert {f.doc for f in kb.files()} == {"alpha.txt", "beta.txt"}
    finally:
        kb.close()
    assert database.exists() and not fresh.exists()


def test_what_a_killed_delete_or_repair_leaves_is_cleared_at_the_next_open(built):
    name, settings, _ = built
    root = KnowledgeBase.folder_for(name, settings).parent
    # A deletion killed inside rmtree: the base renamed aside, half removed.
    abandoned = root / f".deleted-old-{_dead_pid()}"
    (abandoned / "sub").mkdir(parents=True)
    (abandoned / "store.sqlite").write_bytes(b"half")
    running = root / f".deleted-busy-{os.getpid()}"  # a deletion still in progress
    running.mkdir()
    # A repair killed while copying: its unfinished copy beside the intact store; and the copy
    # of a repair still running (this process), which must be left alone.
    unfinished = _database(settings, name).with_name(f"store.sqlite.new-{_dead_pid()}")
    unfinished.write_bytes(b"partial copy")
    copying = _database(settings, name).with_name(f"store.sqlite.new-{os.getpid()}")
    copying.write_bytes(b"being copied")
    assert KnowledgeBase.list_names(settings) == ["docs", "other"]
    assert not abandoned.exists() and running.exists() and not unfinished.exists()
    assert copying.exists()
    copying.unlink()
    kb = KnowledgeBase.open(name, settings)
    try:
        assert {f.doc for f in kb.files()} == {"alpha.txt", "beta.txt"}
    finally:
        kb.close()
    running.rmdir()
