"""Page images: the cited passage is found on the page and marked, in English and Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.ui.pages import find_passage, render_page
from tests.docgen import write_text_pdf

PAGE_TWO = (
    "Pump maintenance. The greenhouse pump must be serviced every 42 days by the maintenance "
    "team, who also replace the intake filter.\n\n"
    "温室水泵每四十二天必须由维护团队检修一次，同时更换进水过滤网。"
)


@pytest.fixture(scope="module")
def pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pages")
    return write_text_pdf(folder / "manual.pdf", ["Cover page. Nothing here.", PAGE_TWO])


def _ink(image, box) -> int:
    """Pixels of the highlight colour inside `box` (the overlay tints white to yellow)."""
    import numpy as np

    pixels = np.asarray(image.crop(box).convert("RGB")).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return int(((r > 200) & (g > 180) & (b < 170)).sum())


def test_marks_an_english_passage_with_different_line_breaks(pdf: Path) -> None:
    passage = "The greenhouse pump must be serviced\nevery 42 days by the maintenance team,"
    view = render_page(pdf, 2, passage)
    assert view.page == 2 and view.page_count == 2
    assert view.coverage == 1.0
    assert view.marked
    assert view.image.width == 900
    # The mark sits in the top part of the page, where the text is, and is drawn.
    assert all(box[1] < view.image.height / 3 for box in view.boxes)
    assert _ink(view.image, view.boxes[0]) > 100


def test_marks_a_chinese_passage_even_when_it_was_altered(pdf: Path) -> None:
    # A heading prefix and a changed character: the longest matching runs are still marked.
    passage = "维护说明：温室水泵每四十二天必须由维护团队检修一次，同时更换进水过滤器。"
    view = render_page(pdf, 2, passage)
    assert view.marked
    assert 0.7 < view.coverage < 1.0


def test_an_unrelated_passage_marks_nothing(pdf: Path) -> None:
    view = render_page(pdf, 1, "The greenhouse pump must be serviced every 42 days")
    assert not view.marked
    assert view.coverage == 0.0


def test_page_out_of_range(pdf: Path) -> None:
    with pytest.raises(ValueError, match="outside 1..2"):
        render_page(pdf, 3, None)


def test_find_passage_maps_back_to_character_indices() -> None:
    chars = list("Hello,\r\nworld of  PDFs")
    spans, coverage = find_passage(chars, "world of PDFs")
    assert coverage == 1.0
    assert spans == [(8, len(chars))]


def test_soft_hyphens_and_merged_line_ends_do_not_break_a_match() -> None:
    chars = list("the main\ufffe\r\ntenance team and the in\u00adtake filter")
    spans, coverage = find_passage(chars, "the maintenance team and the intake filter")
    assert coverage == 1.0
    assert spans == [(0, len(chars))]
