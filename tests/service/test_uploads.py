"""Upload acceptance as data (codes, not sentences) and the service's upload, remove and
knowledge-base registry on real generated files with the bundled embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.service import KnowledgeBaseExists, KnowledgeBaseNotFound, accept_uploads, error_info
from kbqa.service.uploads import MIB, allowed_extensions, stored_original, upload_dir
from tests.docgen import write_text_pdf


def test_rejections_are_codes_with_parameters(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    good = write_text_pdf(incoming / "手册.pdf", ["第一页 内容", "page two"])
    fake = incoming / "fake.pdf"
    fake.write_bytes(b"MZ\x90\x00 this is a Windows program")
    binary_text = incoming / "notes.txt"
    binary_text.write_bytes(b"abc\x00\x01\x02")
    program = incoming / "run.exe"
    program.write_bytes(b"MZ")
    big = incoming / "big.md"
    big.write_bytes(b"# x\n" + b"a" * (2 * MIB))
    empty = incoming / "empty.md"
    empty.write_bytes(b"")
    dest = tmp_path / "uploads" / "default"

    batch = accept_uploads(
        [good, fake, binary_text, program, big, empty],
        dest,
        allowed=allowed_extensions(),
        max_bytes=1 * MIB,
    )

    assert batch.accepted == [dest / "手册.pdf"]
    assert (dest / "手册.pdf").read_bytes() == good.read_bytes()
    by_name = {r.name: r for r in batch.rejected}
    assert by_name["fake.pdf"].code == "wrong_content"
    assert by_name["fake.pdf"].message == "content is not a .pdf file"
    assert by_name["notes.txt"].code == "binary_text"
    assert by_name["notes.txt"].message == "binary content in a text file"
    assert by_name["run.exe"].code == "unsupported_type"
    assert by_name["run.exe"].params["extension"] == ".exe"
    assert ".pdf" in by_name["run.exe"].params["allowed"]
    assert by_name["run.exe"].message.startswith("unsupported file type (.exe)")
    assert by_name["big.md"].code == "too_large"
    assert by_name["big.md"].params["limit_mb"] == 1
    assert by_name["big.md"].message.startswith("too large (2.0 MB; the limit is 1 MB)")
    assert by_name["empty.md"].code == "empty"
    assert by_name["empty.md"].message == "empty file"
    assert sorted(p.name for p in dest.iterdir()) == ["手册.pdf"]


def test_an_upload_in_a_temp_file_keeps_its_original_name(tmp_path: Path) -> None:
    # A REST multipart upload sits in a temp file of another name.
    temp = tmp_path / "tmpa8f3k2"
    temp.write_text("# Notes\nKeep the receipts.\n", encoding="utf-8")
    batch = accept_uploads(
        [("../季度 notes.md", temp)], tmp_path / "dest", allowed={".md"}, max_bytes=MIB
    )
    assert [p.name for p in batch.accepted] == ["季度 notes.md"]
    assert batch.renamed == {"季度 notes.md": "../季度 notes.md"}


@pytest.mark.slow
def test_upload_ingests_reports_and_removes(service, tmp_path: Path) -> None:
    name = "svc-uploads"
    service.kbs.create(name)
    with pytest.raises(KnowledgeBaseExists):
        service.kbs.create(name)
    incoming = tmp_path / "in"
    incoming.mkdir()
    pdf = write_text_pdf(
        incoming / "warehouse.pdf",
        ["The Lyon warehouse holds 420 pallets.", "The Turin warehouse holds 96 pallets."],
    )
    junk = incoming / "junk.pdf"
    junk.write_bytes(b"not a pdf at all")
    report = service.upload([pdf, junk], kb=name)
    by_name = {r.stored_as: r for r in report.results}
    assert by_name["junk.pdf"].status == "rejected" and by_name["junk.pdf"].code == "wrong_content"
    assert by_name["warehouse.pdf"].status == "added" and by_name["warehouse.pdf"].chunks
    assert report.ingest is not None and report.ingest.added
    kept = upload_dir(service.settings.home, name) / "warehouse.pdf"
    assert kept.is_file()
    assert service.find_original("warehouse.pdf", "warehouse.pdf", kb=name) == kept

    # The same file again: unchanged, nothing duplicated.
    again = service.upload([pdf], kb=name)
    assert [r.status for r in again.results] == ["unchanged"]
    info = service.kbs.info(name)
    assert info.files == 1 and info.chunks == by_name["warehouse.pdf"].chunks
    assert name in service.kbs.names()

    removed = service.remove_file("warehouse.pdf", kb=name)
    assert removed == info.chunks
    assert not kept.exists()
    assert stored_original(service.settings.home, name, "warehouse.pdf") is None
    assert service.files(name) == []

    service.kbs.delete(name)
    assert name not in service.kbs.names()
    with pytest.raises(KnowledgeBaseNotFound) as caught:
        service.kbs.open(name)
    assert error_info(caught.value).status == 404
