"""The relevance score: set only where it was calibrated, and ordered by the evidence."""

from kbqa.chain.calibration import add_relevance, is_calibrated
from kbqa.types import Hit


def hits() -> list[Hit]:
    strong = Hit(text="InhibitorsMax= defaults to 8192 locks.", source="a", page=None, score=0.93)
    strong.dense_rank, strong.bm25_rank = 1, 1
    weak = Hit(text="Table of contents ........ 12", source="b", page=None, score=0.84)
    weak.dense_rank = 9
    return [strong, weak]


def test_probabilities_for_the_calibrated_embedder_and_mode():
    found = hits()
    add_relevance("What is the default of InhibitorsMax?", found, "multilingual-e5-small", "hybrid")
    strong, weak = found
    assert strong.relevance is not None and weak.relevance is not None
    assert 0.0 < weak.relevance < 0.2 < 0.5 < strong.relevance < 1.0
    assert strong.to_json()["relevance"] == round(strong.relevance, 4)


def test_no_score_where_none_was_measured():
    for embedder, mode in [("all-MiniLM-L6-v2", "hybrid"), ("multilingual-e5-small", "bm25")]:
        assert not is_calibrated(embedder, mode)
        found = hits()
        add_relevance("What is the default of InhibitorsMax?", found, embedder, mode)
        assert all(hit.relevance is None for hit in found)
