"""Streaming helpers: whole characters only, stop strings never emitted."""

from __future__ import annotations

from kbqa.llm.streaming import IncrementalDecoder, StopFilter
from tests.llm.tiny import byte_tokenizer


def test_decoder_never_splits_a_character() -> None:
    tokenizer = byte_tokenizer()
    text = "答案：里昂仓库有420个托盘。Done — ok ✓"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)  # CJK characters take three byte tokens each
    decoder = IncrementalDecoder(tokenizer)
    pieces = [decoder.push([i]) for i in ids]
    pieces.append(decoder.flush())
    assert "".join(pieces) == text
    assert all("\ufffd" not in piece for piece in pieces)
    # a piece is only ever emitted once its character is complete
    assert sum(1 for piece in pieces if piece) <= len(text)


def test_stop_filter_cuts_at_first_stop_across_pieces() -> None:
    stopper = StopFilter(["\nUser:", "[Round"])
    out = [stopper.push(p) for p in ["The answer", " is 42.", "\nUs", "er: next"]]
    assert "".join(out) + stopper.flush() == "The answer is 42."
    assert stopper.stopped


def test_stop_filter_releases_held_text_that_was_not_a_stop() -> None:
    stopper = StopFilter(["\nUser:"])
    out = [stopper.push(p) for p in ["a\n", "Us", "ually fine"]]
    assert out[0] == "a"  # "\n" held: it may start "\nUser:"
    assert "".join(out) + stopper.flush() == "a\nUsually fine"
    assert not stopper.stopped


def test_stop_filter_without_stops_passes_through() -> None:
    stopper = StopFilter([])
    assert stopper.push("x") == "x" and stopper.flush() == ""
