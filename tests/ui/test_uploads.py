"""Upload safety: names sanitised, types checked by content, sizes capped, per-file reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.service.uploads import MIB, accept_uploads, allowed_extensions, sanitize_filename
from tests.docgen import write_text_pdf


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\Windows\\win.ini.txt", "win.ini.txt"),
        ("C:\\Users\\me\\年度报告.PDF", "年度报告.pdf"),
        ("..", "upload"),
        (".bashrc.md", "bashrc.md"),
        ("a\x00b\nc\x1b.pdf", "abc.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # right-to-left override removed
        ('what?<is>"this"|*.txt', "what__is__this___.txt"),
        ("  spaced   out  .md", "spaced out.md"),
        ("CON.txt", "_CON.txt"),
        ("知识库 使用说明（第2版）.docx", "知识库 使用说明（第2版）.docx"),
    ],
)
def test_sanitize_filename(given: str, expected: str) -> None:
    assert sanitize_filename(given) == expected


def test_sanitized_names_stay_short_and_keep_the_extension() -> None:
    name = sanitize_filename("长" * 400 + ".pdf")
    assert name.endswith(".pdf")
    assert len(name.encode("utf-8")) <= 180
    assert name[:-4] == "长" * len(name[:-4])  # cut on a character boundary


def test_accept_uploads_checks_type_size_and_content(tmp_path: Path) -> None:
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
    reasons = {rejection.name: rejection.message for rejection in batch.rejected}
    assert reasons["fake.pdf"] == "content is not a .pdf file"
    assert reasons["notes.txt"] == "binary content in a text file"
    assert reasons["run.exe"].startswith("unsupported file type (.exe)")
    assert reasons["big.md"].startswith("too large (2.0 MB; the limit is 1 MB)")
    assert reasons["empty.md"] == "empty file"
    assert sorted(p.name for p in dest.iterdir()) == ["手册.pdf"]


def test_same_name_twice_in_a_batch_is_kept_apart(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "notes.md").write_text("# first\n")
    (b / "Notes.md").write_text("# second\n")
    batch = accept_uploads(
        [a / "notes.md", b / "Notes.md"], tmp_path / "dest", allowed={".md"}, max_bytes=MIB
    )
    assert [p.name for p in batch.accepted] == ["notes.md", "Notes-2.md"]


def test_failed_update_restores_the_previous_version(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    src = tmp_path / "src"
    src.mkdir()
    (src / "doc.md").write_text("# version 1\n")
    first = accept_uploads([src / "doc.md"], dest, allowed={".md"}, max_bytes=MIB)
    first.finish(failed=[])
    (src / "doc.md").write_text("# version 2\n")
    second = accept_uploads([src / "doc.md"], dest, allowed={".md"}, max_bytes=MIB)
    assert (dest / "doc.md").read_text() == "# version 2\n"
    second.finish(failed=[dest / "doc.md"])
    assert (dest / "doc.md").read_text() == "# version 1\n"
    assert sorted(p.name for p in dest.iterdir()) == ["doc.md"]  # no backup left behind
