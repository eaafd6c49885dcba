"""`kbqa kb copy`: a knowledge base copied to another store keeps its vectors (no re-embedding)
and answers the same; a killed move is settled at the next listing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kbqa.errors import KnowledgeBaseError
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, Settings, StoreSettings
from kbqa.store.copy import MOVING, STAGING
from tests.kb.conftest import FAST_EMBEDDER
from tests.pgserver_fixture import pg_database, pg_server  # noqa: F401

TEXTS = {
    "glm.txt": "ChatGLM-6B has 6.2 billion parameters and 28 layers.\n\nIt runs in 6 GB with INT4.",
    "bloom.txt": "BLOOM uses ALiBi positions and a vocabulary of 250,880 tokens.",
}


def _settings(home: Path) -> Settings:
    return Settings(home=home, embedder=EmbedderSettings(name=FAST_EMBEDDER))


@pytest.fixture
def source(tmp_path: Path) -> KnowledgeBase:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    kb = KnowledgeBase.create("src", _settings(tmp_path / "home"))
    kb.add([docs])
    kb.as_vectorstore().add_texts(["A text added through the API."], ids=["api-1"])
    return kb


def _vectors(kb: KnowledgeBase) -> dict[str, np.ndarray]:
    chunks = list(kb.store.records.iter_chunks())
    vectors = kb.store.records.vectors([c.id for c in chunks])
    return {c.uid: vectors[c.id] for c in chunks}


def test_a_copy_keeps_vectors_records_and_answers(source: KnowledgeBase) -> None:
    settings = source.settings
    report = KnowledgeBase.copy(
        "src", StoreSettings(dense="numpy"), as_name="dup", settings=settings
    )
    assert (report.files, report.chunks) == (2, source.count_chunks())
    copy = KnowledgeBase.open("dup", settings)
    assert copy.store.dense.name == "numpy"  # the target's own backends
    kept = _vectors(source)
    copied = _vectors(copy)
    assert copied.keys() == kept.keys()
    for uid, vector in kept.items():  # the very same vectors: nothing was embedded again
        assert np.array_equal(copied[uid], vector)
    assert {f.doc: f.sha256 for f in copy.files()} == {f.doc: f.sha256 for f in source.files()}
    for key in ("embedder", "dimension", "embedder_fingerprint", "splitter"):
        assert copy.store.get_meta(key) == source.store.get_meta(key)
    for question in ("How many layers does ChatGLM-6B have?", "ALiBi vocabulary"):
        want = [(h.source, h.text) for h in source.search(question, k=3)]
        assert [(h.source, h.text) for h in copy.search(question, k=3)] == want
    # Unchanged files stay unchanged on the copy (the file hashes came along).
    docs = Path(source.files()[0].origin).parent
    assert len(copy.add([docs]).unchanged) == 2
    assert set(KnowledgeBase.list_names(settings)) == {"src", "dup"}


def test_copy_refuses_a_taken_name_and_a_move_onto_its_own_store(source: KnowledgeBase) -> None:
    settings = source.settings
    chunks = source.count_chunks()
    KnowledgeBase.copy("src", StoreSettings(), as_name="dup", settings=settings)
    with pytest.raises(KnowledgeBaseError, match="'dup' already exists"):
        KnowledgeBase.copy("src", StoreSettings(), as_name="dup", settings=settings)
    with pytest.raises(KnowledgeBaseError, match="already lives on that store"):
        KnowledgeBase.copy("src", StoreSettings(), settings=settings)
    with pytest.raises(KnowledgeBaseError, match="unknown store URI scheme foo://"):
        KnowledgeBase.copy("src", StoreSettings(uri="foo://x"), as_name="new", settings=settings)
    assert not KnowledgeBase.exists("new", settings)
    assert source.count_chunks() == chunks


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_move_is_settled_at_the_next_listing(source: KnowledgeBase) -> None:
    settings = source.settings
    root = settings.kb_root
    chunks = source.count_chunks()
    source.close()
    pid = _dead_pid()
    # Killed between its renames: the original is aside and its name is free, so it goes back.
    (root / "src").rename(root / f"{MOVING}src-{pid}")
    assert KnowledgeBase.list_names(settings) == ["src"]
    assert KnowledgeBase.open("src", settings).count_chunks() == chunks
    # Killed after the copy took the name: the original aside is deleted.
    shutil.copytree(root / "src", root / f"{MOVING}src-{pid}")
    # Killed while copying: the unfinished copy is deleted.
    shutil.copytree(root / "src", root / f"{STAGING}src-{pid}")
    assert KnowledgeBase.list_names(settings) == ["src"]
    assert sorted(p.name for p in root.iterdir()) == ["src"]


def test_a_move_to_postgres_and_back_keeps_what_the_base_answers(
    source: KnowledgeBase,
    pg_database: str,  # noqa: F811
) -> None:
    settings = source.settings
    question = "How many layers does ChatGLM-6B have?"
    want = [(h.source, h.text, round(h.score, 5)) for h in source.search(question, k=3)]
    kept = _vectors(source)
    source.close()
    KnowledgeBase.copy("src", StoreSettings(uri=pg_database), settings=settings)
    folder = settings.kb_root / "src"
    assert (folder / "remote.json").is_file() and not (folder / "store.sqlite").exists()
    moved = KnowledgeBase.open("src", settings)
    assert moved.store.records.name == "postgres"
    assert [(h.source, h.text, round(h.score, 5)) for h in moved.search(question, k=3)] == want
    assert all(np.array_equal(v, kept[uid]) for uid, v in _vectors(moved).items())
    moved.close()
    KnowledgeBase.copy("src", StoreSettings(), settings=settings)  # --to embedded
    back = KnowledgeBase.open("src", settings)
    assert back.store.records.name == "sqlite" and not (folder / "remote.json").exists()
    assert [(h.source, h.text, round(h.score, 5)) for h in back.search(question, k=3)] == want
    assert sorted(p.name for p in settings.kb_root.iterdir()) == ["src"]
