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
