"""Knowledge bases end to end: real files, the real embedders, real FAISS and SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kbqa import loaders
from kbqa.errors import EmbedderMismatch, KnowledgeBaseError, KnowledgeBaseLocked
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, Settings, StoreSettings
from tests.docgen import write_text_pdf
from tests.kb.conftest import FAST_EMBEDDER, make_kb

REPO = Path(__file__).resolve().parents[2]


def _bilingual_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_text_pdf(
        folder / "guide.pdf",
        [
            "Installation\n\nThe proxy server listens on port 8417 by default.",
            "安装与配置\n\n代理服务器默认使用 8417 端口。要修改端口，请编辑 proxy.toml 文件中的 listen_port 选项。",
            "Troubleshooting\n\nError E5521 means the license file has expired. Renew it from the admin page.",
        ],
        bookmarks=["Installation", "安装与配置", "Troubleshooting"],
    )
    (folder / "notes.md").write_text(
        "# Release notes\n\nVersion 3.2 added the offline mode.\n\n"
        "## 中文说明\n\n离线模式在 3.2 版本中加入，默认关闭。\n",
        encoding="utf-8",
    )
    (folder / "faq.txt").write_text(
        "What colour is the status light when syncing? It blinks amber while syncing.\n",
        encoding="utf-8",
    )
    return folder


def test_add_then_search_finds_the_right_page_in_both_languages(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home)  # the default embedder
    report = kb.add([_bilingual_docs(kbqa_home / "docs")])
    assert sorted(report.added) == ["faq.txt", "guide.pdf", "notes.md"]
    assert report.failed == []

    hits = kb.search("代理服务器默认端口是多少？", k=3)
    assert (hits[0].source, hits[0].page) == ("guide.pdf", 2)
    assert hits[0].heading == "安装与配置"
    assert 0.0 <= hits[-1].score <= hits[0].score <= 1.0

    hits = kb.search("What does error E5521 mean?", k=3)
    assert (hits[0].source, hits[0].page) == ("guide.pdf", 3)

    hits = kb.search("offline mode version", k=2)
    assert hits[0].source == "notes.md" and hits[0].page is None
    assert hits[0].path == "notes.md" and hits[0].position >= 0


def test_modes_threshold_sources_and_expansion(
    each_dense_kb: KnowledgeBase, kbqa_home: Path
) -> None:
    fast_kb = each_dense_kb
    fast_kb.add([_bilingual_docs(kbqa_home / "docs")])
    # BM25 alone finds an exact code; dense alone still returns something ranked.
    bm25 = fast_kb.search("E5521", mode="bm25", k=1)
    assert bm25 and bm25[0].page == 3 and bm25[0].bm25_rank == 1
    dense = fast_kb.search("E5521", mode="dense", k=1)
    assert dense and dense[0].dense_rank == 1 and dense[0].bm25_rank is None
    # The threshold is a cosine similarity: 1.0 keeps nothing, 0 keeps everything.
    assert fast_kb.search("port", threshold=1.0) == []
    assert len(fast_kb.search("port", threshold=0.0, k=10)) == fast_kb.count_chunks()
    only_faq = fast_kb.search("port", sources=["faq.txt"], k=5)
    assert {hit.source for hit in only_faq} == {"faq.txt"}
    with pytest.raises(ValueError, match="unknown retrieval mode"):
        fast_kb.search("port", mode="magic")


def test_incremental_update_skip_replace_prune(kbqa_home: Path, dense: str) -> None:
    docs = _bilingual_docs(kbqa_home / "docs")
    settings = Settings(home=kbqa_home).model_copy(
        update={"embedder": EmbedderSettings(name=FAST_EMBEDDER)}
    )
    KnowledgeBase.create("inc", settings.model_copy(update={"store": StoreSettings(dense=dense)}))
    KnowledgeBase.create("inc", settings).add([docs])

    # Unchanged files are skipped without loading the embedder at all.
    kb = KnowledgeBase.open("inc", settings)
    report = kb.add([docs])
    assert sorted(report.unchanged) == ["faq.txt", "guide.pdf", "notes.md"]
    assert kb._embedder is None

    # A changed file replaces its old chunks.
    (docs / "faq.txt").write_text("The status light glows solid green when idle.\n", "utf-8")
    report = kb.add([docs])
    assert report.updated == ["faq.txt"] and len(report.unchanged) == 2
    texts = " ".join(hit.text for hit in kb.search("status light", k=10))
    assert "green" in texts and "amber" not in texts

    # A touched but identical file is recognised by its hash.
    os.utime(docs / "notes.md", (1, 1))
    assert "notes.md" in kb.add([docs]).unchanged

    # Gone files go only on request.
    (docs / "notes.md").unlink()
    assert kb.add([docs]).removed == []
    assert "notes.md" in [f.doc for f in kb.files()]
    report = kb.add([docs], prune=True)
    assert report.removed == ["notes.md"]
    assert all(hit.source != "notes.md" for hit in kb.search("offline mode", k=10))


def test_bad_files_are_reported_and_never_stop_the_batch(kbqa_home: Path) -> None:
    from tests import docgen

    kb = make_kb(kbqa_home, embedder=FAST_EMBEDDER)
    kb.add([_bilingual_docs(kbqa_home / "good")])
    before = kb.count_chunks()

    bad = kbqa_home / "bad folder"
    bad.mkdir()
    good_pdf = write_text_pdf(bad / "ok 中文 name.pdf", ["A valid page about quokkas."])
    data = good_pdf.read_bytes()
    (bad / "truncated.pdf").write_bytes(data[: len(data) // 2])
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    docgen.write_encrypted_pdf(bad / "secret.pdf")
    docgen.write_image_only_pdf(bad / "scan.pdf")
    (bad / "empty.txt").write_bytes(b"")
    (bad / "junk.txt").write_bytes(os.urandom(4096))
    (bad / "gbk 中文.txt").write_bytes("袋鼠住在澳大利亚，它们用尾巴保持平衡。".encode("gbk"))
    (bad / "report..final.md").write_text("# Dots\n\nDouble dots in a name are fine.", "utf-8")
    (bad / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (bad / "archive.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    (bad / "loop").symlink_to(bad, target_is_directory=True)
    (bad / "dangling.txt").symlink_to(bad / "missing.txt")

    # OCR off: the scan and the picture are refused (with OCR on: tests/test_ocr.py).
    kb.settings.ingest.ocr = False
    report = kb.add([bad, kbqa_home / "no-such-folder"])
    failed = dict(report.failed)
    assert "encrypted" in failed["secret.pdf"].lower()
    assert "no extractable text" in failed["scan.pdf"]
    assert "corrupt or truncated" in failed["truncated.pdf"]
    assert "corrupt or truncated" in failed["corrupt.pdf"]
    assert failed["empty.txt"] == "empty file"
    assert "binary" in failed["junk.txt"]
    assert failed["dangling.txt"] == "broken symbolic link"
    assert "no such file" in failed[str(kbqa_home / "no-such-folder")]
    assert "ingest.ocr is off" in failed["picture.png"]
    assert dict(report.skipped)["archive.zip"].startswith("unsupported file type")
    assert sorted(report.added) == ["gbk 中文.txt", "ok 中文 name.pdf", "report..final.md"]
    # The loop was walked once: nothing was added twice under loop/...
    assert not any(doc.startswith("loop/") for doc in report.added)

    # What was stored before is intact, and the good new files are searchable.
    assert kb.count_chunks() == before + 3
    assert kb.search("袋鼠用什么保持平衡", k=1)[0].source == "gbk 中文.txt"
    assert kb.search("代理服务器默认端口", k=1)[0].source == "guide.pdf"


def test_unsupported_file_named_directly_is_a_clear_failure(fast_kb: KnowledgeBase, tmp_path: Path):
    picture = tmp_path / "photo.heic"
    picture.write_bytes(b"\x00\x00\x00\x18ftypheic")
    report = fast_kb.add(picture)
    supported = ", ".join(sorted(loaders.SUPPORTED_EXTENSIONS))
    assert report.failed == [
        ("photo.heic", f"unsupported file type '.heic' (supported: {supported})")
    ]


def test_embedder_mismatch_is_a_clear_error(kbqa_home: Path) -> None:
    kb = make_kb(kbqa_home, "mini", embedder=FAST_EMBEDDER)
    kb.add(_bilingual_docs(kbqa_home / "docs"))
    # Not chosen explicitly: the base's own embedder is used.
    assert (
        KnowledgeBase.open("mini", Settings(home=kbqa_home)).settings.embedder.name == FAST_EMBEDDER
    )
    explicit = Settings(home=kbqa_home, embedder=EmbedderSettings(name="multilingual-e5-small"))
    with pytest.raises(EmbedderMismatch, match="built with embedder 'all-MiniLM-L6-v2'"):
        KnowledgeBase.open("mini", explicit)


def test_names_and_missing_bases(kbqa_home: Path) -> None:
    settings = Settings(home=kbqa_home)
    with pytest.raises(KnowledgeBaseError, match="invalid knowledge base name"):
        KnowledgeBase.open("../escape", settings, create=True)
    with pytest.raises(KnowledgeBaseError, match="no knowledge base named 'nope'"):
        KnowledgeBase.open("nope", settings)
    make_kb(kbqa_home, "中文库", embedder=FAST_EMBEDDER)
    assert KnowledgeBase.list_names(settings) == ["中文库"]
    KnowledgeBase.delete("中文库", settings)
    assert KnowledgeBase.list_names(settings) == []


def test_remove_by_name_or_path(each_dense_kb: KnowledgeBase, kbqa_home: Path) -> None:
    fast_kb = each_dense_kb
    fast_kb.add(_bilingual_docs(kbqa_home / "docs"))
    removed = fast_kb.remove("guide.pdf")
    assert removed > 0
    assert all(hit.source != "guide.pdf" for hit in fast_kb.search("port 8417", k=10))
    with pytest.raises(KnowledgeBaseError, match="no file 'guide.pdf'"):
        fast_kb.remove("guide.pdf")


def test_nothing_is_pickled(fast_kb: KnowledgeBase, kbqa_home: Path) -> None:
    fast_kb.add(_bilingual_docs(kbqa_home / "docs"))
    files = sorted(p.name for p in fast_kb.path.iterdir() if p.is_file())
    assert "store.sqlite" in files and any(f.endswith(".faiss") for f in files)
    for path in fast_kb.path.iterdir():
        if path.is_file():
            assert not path.read_bytes()[:2].startswith(b"\x80"), f"{path.name} looks pickled"


def _kbqa(*args: str, home: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "KBQA_HOME": str(home), "KBQA_EMBEDDER__NAME": FAST_EMBEDDER}
    return subprocess.run(
        [sys.executable, "-m", "kbqa", *args], env=env, capture_output=True, text=True, **kwargs
    )


def test_cli_ingest_search_show_delete(kbqa_home: Path) -> None:
    docs = _bilingual_docs(kbqa_home / "docs")
    (docs / "junk.txt").write_bytes(b"\x00\x01\x02" * 100)
    result = _kbqa("ingest", str(docs), "--kb", "cli", home=kbqa_home)
    assert result.returncode == 1  # some files failed; the others are in
    assert "3 added" in result.stdout and "1 failed" in result.stdout
    assert "junk.txt: binary file, not text" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr

    result = _kbqa("search", "error E5521", "--kb", "cli", "-k", "2", "--json", home=kbqa_home)
    hits = json.loads(result.stdout)
    assert len(hits) == 2 and {"text", "source", "page", "score"} <= set(hits[0])
    assert hits[0]["source"] == "guide.pdf" and hits[0]["page"] == 3

    show = _kbqa("kb", "show", "cli", "--json", home=kbqa_home)
    manifest = json.loads(show.stdout)["manifest"]
    assert manifest["embedder"] == FAST_EMBEDDER and manifest["dimension"] == "384"
    assert "chunk_size" in manifest["splitter"]

    missing = _kbqa("search", "x", "--kb", "nope", home=kbqa_home)
    assert missing.returncode == 2 and "no knowledge base named 'nope'" in missing.stderr
    assert "Traceback" not in missing.stderr

    assert _kbqa("kb", "delete", "cli", "--yes", home=kbqa_home).returncode == 0
    assert "no knowledge bases" in _kbqa("kb", "list", home=kbqa_home).stdout


def test_a_second_writer_is_refused_while_readers_go_on(
    each_dense_kb: KnowledgeBase, kbqa_home: Path
):
    fast_kb = each_dense_kb
    fast_kb.add(_bilingual_docs(kbqa_home / "docs"))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; f = open(sys.argv[1], 'a+'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(fast_kb.path / "write.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        extra = kbqa_home / "extra.txt"
        extra.write_text("Wombats produce cube-shaped droppings.", "utf-8")
        started = time.monotonic()
        with pytest.raises(KnowledgeBaseLocked, match="being written by another process"):
            fast_kb.add(extra)
        assert time.monotonic() - started < 15
        assert fast_kb.search("proxy port", k=1)  # reading is not blocked
    finally:
        holder.kill()
        holder.wait()
    assert fast_kb.add(extra).added == ["extra.txt"]


def test_progress_moves_while_one_big_file_is_embedded(
    each_dense_kb: KnowledgeBase, tmp_path: Path
):
    fast_kb = each_dense_kb
    # Each page its own words: lines repeated at the edges of 40 pages are running headers,
    # which the PDF loader drops.
    towns = [a + b for a in "bcdfghjk" for b in "aeiou"]
    pages = [
        f"Page {n}. " + f"Gears turn slowly in the old clock tower of {towns[n]}ville. " * 30
        for n in range(40)
    ]
    pdf = write_text_pdf(tmp_path / "big.pdf", pages)
    calls: list[float] = []
    report = fast_kb.add(pdf, progress=lambda done, total, current: calls.append(done / total))
    assert report.chunks_added > 64  # more than one embedding step
    assert any(0 < fraction < 1 for fraction in calls), calls
    assert calls == sorted(calls) and calls[-1] == 1.0


def test_expansion_keeps_to_the_hits_section(kbqa_home: Path) -> None:
    # The chunks around a hit under another heading are another topic: they do not join it.
    from kbqa.settings import SplitterSettings

    settings = Settings(home=kbqa_home).model_copy(
        update={
            "embedder": EmbedderSettings(name=FAST_EMBEDDER),
            "splitter": SplitterSettings(chunk_size=24, chunk_overlap=0),
        }
    )
    kb = KnowledgeBase.create("sections", settings)
    doc = kbqa_home / "docs" / "manual.md"
    doc.parent.mkdir(parents=True)
    doc.write_text(
        "# Backups\n\nBackups run nightly at two in the morning from the primary server.\n\n"
        "Each backup is kept for thirty days on the archive volume before deletion.\n\n"
        "# Printing\n\nThe office printer accepts jobs only from the staff network segment.\n",
        encoding="utf-8",
    )
    kb.add([doc])
    assert kb.count_chunks() >= 3
    hit = kb.search("how long is each backup kept on the archive volume", k=1, expand=2)[0]
    assert "thirty days" in hit.text and "nightly" in hit.text
    assert "printer" not in hit.text
