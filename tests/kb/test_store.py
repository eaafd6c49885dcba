"""The storage seam: backends chosen in one place, recorded in the manifest, behind interfaces."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from kbqa.cli import main
from kbqa.cli.search import format_hits
from kbqa.errors import KnowledgeBaseError
from kbqa.ingest import IngestReport, _progress_bar
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings, StoreSettings
from kbqa.store.base import DenseIndex, LexicalIndex, RecordStore
from kbqa.store.factory import holds_knowledge_base
from tests.kb.conftest import FAST_EMBEDDER, make_kb


def _docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "proxy.txt").write_text(
        "The proxy server listens on port 8417 by default. Edit proxy.toml to change it.", "utf-8"
    )
    (folder / "light.txt").write_text("The status light blinks amber while syncing.", "utf-8")
    (folder / "codes.md").write_text("# Errors\n\nError E5521 means the licence expired.", "utf-8")
    return folder


def test_backends_are_chosen_from_settings_and_kept_in_the_manifest(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home, "mem", embedder=FAST_EMBEDDER, dense="numpy")
    assert isinstance(kb.store.records, RecordStore)
    assert isinstance(kb.store.dense, DenseIndex) and kb.store.dense.name == "numpy"
    assert isinstance(kb.store.lexical, LexicalIndex) and kb.store.lexical.name == "fts5"
    kb.add(_docs(kbqa_home / "docs"))
    manifest = kb.info()["manifest"]
    assert (manifest["record_store"], manifest["dense_index"], manifest["lexical_index"]) == (
        "sqlite",
        "numpy",
        "fts5",
    )
    # Opening uses the manifest's choice, whatever the settings now say.
    reopened = KnowledgeBase.open("mem", Settings(home=kbqa_home))
    assert reopened.store.dense.name == "numpy"
    assert reopened.search("E5521", k=1)[0].source == "codes.md"
    # The default is FAISS.
    assert make_kb(kbqa_home, "default-backends").store.dense.name == "faiss"


def test_an_unknown_backend_is_a_clear_error(kbqa_home: Path) -> None:
    settings = Settings(home=kbqa_home, store=StoreSettings(dense="annoy"))
    with pytest.raises(KnowledgeBaseError, match=r"unknown dense index 'annoy' \(registered: "):
        KnowledgeBase.create("x", settings)


def test_a_base_from_before_the_manifest_named_backends_opens_on_faiss(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home, "old", embedder=FAST_EMBEDDER)
    kb.add(_docs(kbqa_home / "docs"))
    with kb.store.records.transaction() as db:  # what an older kbqa wrote: no backend keys
        db.execute("DELETE FROM meta WHERE key IN ('record_store', 'dense_index', 'lexical_index')")
    kb.close()
    numpy_settings = Settings(home=kbqa_home, store=StoreSettings(dense="numpy"))
    reopened = KnowledgeBase.open("old", numpy_settings)
    assert reopened.store.dense.name == "faiss"
    assert reopened.info()["manifest"]["dense_index"] == "faiss"
    assert reopened.search("port 8417", k=1)[0].source == "proxy.txt"


def test_the_store_layer_says_which_folders_hold_a_base(kbqa_home: Path) -> None:
    settings = Settings(home=kbqa_home)
    (settings.kb_root / "not-a-base").mkdir(parents=True)
    make_kb(kbqa_home, "real", embedder=FAST_EMBEDDER)
    assert holds_knowledge_base(settings.kb_root / "real")
    assert not holds_knowledge_base(settings.kb_root / "not-a-base")
    assert KnowledgeBase.list_names(settings) == ["real"]
    assert KnowledgeBase.exists("real", settings) and not KnowledgeBase.exists(
        "not-a-base", settings
    )


def test_remove_accepts_the_ingested_path_and_names_what_the_base_holds(
    kbqa_home: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _docs(kbqa_home / "docs")
    kb = make_kb(kbqa_home, "rm", embedder=FAST_EMBEDDER)
    kb.add(docs)
    code = main(["--home", str(kbqa_home), "kb", "remove", str(docs / "light.txt"), "--kb", "rm"])
    assert code == 0
    assert "(1 chunk) from 'rm'" in capsys.readouterr().out
    assert sorted(f.doc for f in kb.files()) == ["codes.md", "proxy.txt"]
    with pytest.raises(KnowledgeBaseError, match=r"it holds: codes.md, proxy.txt\)"):
        kb.remove(str(docs / "light.txt"))
    # A relative path from where it was ingested works too.
    monkeypatch.chdir(kbqa_home)
    assert kb.remove("docs/proxy.txt") == 1


def test_counts_are_singular_or_plural(kbqa_home: Path, capsys: pytest.CaptureFixture) -> None:
    report = IngestReport(added=["a.txt"], chunks_added=1, skipped=[("b.png", "unsupported")])
    assert "(1 chunk in" in report.summary()
    assert "skipped 1 file that is not a document" in report.summary()
    assert "(2 chunks in" in IngestReport(chunks_added=2).summary()
    kb = make_kb(kbqa_home, "one", embedder=FAST_EMBEDDER)
    (kbqa_home / "one.txt").write_text("A single short note about quokkas.", "utf-8")
    kb.add(kbqa_home / "one.txt")
    assert main(["--home", str(kbqa_home), "kb", "list"]) == 0
    assert "\t1 file\t1 chunk\t" in capsys.readouterr().out
    assert main(["--home", str(kbqa_home), "kb", "show", "one"]) == 0
    out = capsys.readouterr().out
    assert "one: 1 file, 1 chunk (" in out and "one.txt\t1 chunk\t" in out


def test_progress_names_the_file_being_read_and_counts_whole_files(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home, "bar", embedder=FAST_EMBEDDER)
    calls: list[tuple[float, int, str]] = []
    kb.add(_docs(kbqa_home / "docs"), progress=lambda *call: calls.append(call))
    labels = [label for _, _, label in calls]
    assert [x for x in labels if x.startswith("reading ")] == [
        "reading codes.md",
        "reading light.txt",
        "reading proxy.txt",
    ]
    assert "embedding 3/3 chunks of 3 files (codes.md, ...)" in labels
    assert calls[-1] == (3, 3, "")  # finished: no file named any more
    # The terminal bar shows whole files and what is being done, never a float.
    stream = io.StringIO()
    bar = _progress_bar(3, True, stream=stream, mininterval=0)
    for call in calls:
        bar(*call)
    shown = stream.getvalue()
    assert "0/3" in shown and "reading light.txt" in shown and "embedding 3/3 chunks" in shown
    assert not re.search(r"\d\.\d+/3", shown), shown


def test_search_output_says_how_hits_are_ordered(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home, "order", embedder=FAST_EMBEDDER)
    kb.add(_docs(kbqa_home / "docs"))
    hits = kb.search("proxy port E5521", k=3)
    text = format_hits(hits, "hybrid")
    first, *rest = text.splitlines()
    assert first.startswith("3 passages, best first by fused rank (reciprocal-rank fusion")
    for rank, hit in enumerate(hits, start=1):
        dense = f"dense #{hit.dense_rank}" if hit.dense_rank else "dense -"
        bm25 = f"bm25 #{hit.bm25_rank}" if hit.bm25_rank else "bm25 -"
        assert f"[{rank}] cosine {hit.score:.3f}  ({dense}, {bm25})  {hit.path}" in text
    assert format_hits(kb.search("port", mode="dense", k=1), "dense").startswith(
        "1 passage, best first by cosine similarity"
    )
    assert format_hits([], "hybrid") == "no passages found"
