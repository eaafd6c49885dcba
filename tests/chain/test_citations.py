from kbqa.chain.citations import (
    MarkerStream,
    attribute,
    cited_numbers,
    clean_markers,
    iter_with_markers,
    make_citations,
)
from kbqa.types import Hit


def test_markers_are_normalised_and_invalid_ones_dropped():
    text = "62 亿【1】, also [ 2 ] and [7] and [x]"
    assert clean_markers(text, 2) == "62 亿[1], also [2] and  and [x]"
    assert cited_numbers(text, 2) == [1, 2]


def test_marker_split_across_pieces_is_reassembled():
    pieces = ["It has 62 亿 [", "1", "] params [", "9]", " and [a] list", "[2"]
    assert "".join(iter_with_markers(pieces, 2)) == "It has 62 亿 [1] params  and [a] list[2"


def test_stream_never_holds_ordinary_text():
    stream = MarkerStream(3)
    assert stream.feed("参数") == "参数"
    assert stream.feed("[") == ""
    assert stream.feed("2") == ""
    assert stream.feed("]。") == "[2]。"
    assert stream.flush() == ""


def test_citations_number_from_one_and_keep_page():
    hits = [
        Hit(text="a", source="guide.pdf", page=3, score=0.9, path="docs/guide.pdf"),
        Hit(text="b", source="notes.md", page=None, score=0.8, path="notes.md"),
    ]
    citations = make_citations(hits)
    assert [c.number for c in citations] == [1, 2]
    assert citations[0].label() == "[1] docs/guide.pdf, p. 3"
    assert citations[1].label() == "[2] notes.md"


def test_attribution_picks_the_chunk_the_answer_copies():
    texts = ["BLOOM 的词表大小为 250880。", "ChatGLM-6B 具有 62 亿参数（6.2B）。"]
    assert attribute("ChatGLM-6B 有 62 亿参数。", texts) == 2
    assert attribute("Something else entirely", texts) is None
