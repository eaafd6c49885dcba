"""Upload safety in the service: names sanitised, same names kept apart, a failed update restored
(types, sizes and content: tests/service/test_uploads.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.service.uploads import MIB, accept_uploads, sanitize_filename


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
