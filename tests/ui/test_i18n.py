"""Interface text: every string exists in both languages, with the same placeholders."""

from __future__ import annotations

import string

import pytest

from kbqa.ui.i18n import TEXT, pick_language, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_have_every_key_with_the_same_placeholders() -> None:
    assert TEXT["en"].keys() == TEXT["zh"].keys()
    for key, english in TEXT["en"].items():
        assert _fields(english) == _fields(TEXT["zh"][key]), key


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("de-DE", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_follows_the_browser(header: str | None, expected: str) -> None:
    assert pick_language(header) == expected


def test_format() -> None:
    assert t("zh", "page_short", page=3) == "第 3 页"
    assert t("en", "page_short", page=3) == "p. 3"
    assert t("fr", "send") == "Send"  # unknown languages fall back to English


def test_every_upload_rejection_and_error_code_the_ui_shows_has_a_text() -> None:
    from typing import get_args

    from kbqa.service.errors import KnowledgeBaseExists, KnowledgeBaseNotFound
    from kbqa.service.uploads import RejectCode

    for code in get_args(RejectCode):
        assert f"reject_{code}" in TEXT["en"], code
    for kind in (KnowledgeBaseExists, KnowledgeBaseNotFound):
        assert f"error_{kind.code}" in TEXT["en"], kind


def test_service_results_are_translated_here() -> None:
    from kbqa.service.errors import KnowledgeBaseExists
    from kbqa.ui.core import rejection_text, user_message

    params = {"extension": "", "allowed": [".md", ".pdf"]}
    assert rejection_text("unsupported_type", params, "en") == (
        "unsupported file type (no extension); allowed: .md, .pdf"
    )
    assert rejection_text("too_large", {"size_mb": 2.04, "limit_mb": 1}, "zh") == (
        "文件过大（2.0 MB；上限为 1 MB）"
    )
    taken = KnowledgeBaseExists("a knowledge base named 'x' exists", name="x")
    assert user_message(taken, "zh") == "错误：已存在名为 x 的知识库"
    assert user_message(ValueError("boom"), "en") == "Error: ValueError: boom"


def test_upload_progress_counts_whole_files() -> None:
    pytest.importorskip("gradio")
    from kbqa.ui.panels.upload import progress_text

    share, text = progress_text(0.22199999999999998, 11, "手册.pdf", "en")
    assert text == "Reading and indexing 手册.pdf (file 1 of 11)"
    assert abs(share - 0.0202) < 1e-3
    assert progress_text(11, 11, "", "zh") == (1.0, "正在读取并索引第 11 个文件，共 11 个")
