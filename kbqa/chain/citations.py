"""Citations: number the chunks offered to the model [1]..[n], keep the answer's markers honest.

The model sees each chunk under a number. In its reply, markers that name an offered chunk are kept
(full-width forms normalised to `[n]`); markers naming nothing offered are dropped, so a reader
never follows a citation to nowhere. When the model cites nothing, the chunk the reply draws most of
its words from is cited at the end (post-hoc attribution), if the overlap is clear.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from kbqa.chain.terms import char_ngrams
from kbqa.chain.types import Citation
from kbqa.types import Hit

_MARKER = re.compile(r"[\[【［]\s*(\d{1,3})\s*[\]】］]")
_OPENERS = "[【［"
_CLOSERS = "]】］"


def make_citations(hits: Iterable[Hit]) -> list[Citation]:
    """Citations [1]..[n] for the chunks offered to the model, in that order."""
    return [
        Citation(
            number=i,
            source=hit.source,
            page=hit.page,
            text=hit.text,
            score=float(hit.score),
            path=hit.path,
            kind=hit.kind,
            table=hit.table,
        )
        for i, hit in enumerate(hits, start=1)
    ]


def cited_numbers(text: str, count: int) -> list[int]:
    """The valid citation numbers that occur in `text`, in order of first use."""
    seen: list[int] = []
    for match in _MARKER.finditer(text):
        number = int(match.group(1))
        if 1 <= number <= count and number not in seen:
            seen.append(number)
    return seen


def clean_markers(text: str, count: int) -> str:
    """Normalise valid markers to `[n]` and drop those naming no offered chunk."""

    def fix(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return f"[{number}]" if 1 <= number <= count else ""

    return _MARKER.sub(fix, text)


class MarkerStream:
    """Streaming version of `clean_markers`: holds back a possible marker until it is complete.

    Pieces come from the model as whole characters; a marker like "[12]" may span several pieces,
    so text from an opening bracket on is held until the marker closes or proves not to be one.
    """

    def __init__(self, count: int):
        self.count = count
        self._held = ""

    def feed(self, piece: str) -> str:
        out: list[str] = []
        # U+FFFD is what a decoder makes of bytes a model emitted that are no valid UTF-8: never
        # worth showing.
        for char in piece.replace("\ufffd", ""):
            if self._held:
                self._held += char
                if char in _CLOSERS or not _could_be_marker(self._held):
                    out.append(self._release())
            elif char in _OPENERS:
                self._held = char
            else:
                out.append(char)
        return "".join(out)

    def flush(self) -> str:
        return self._release()

    def _release(self) -> str:
        held, self._held = self._held, ""
        if not held:
            return ""
        if _MARKER.fullmatch(held):
            return clean_markers(held, self.count)
        # Not a marker: the opener may start another one ("[[1]"), so re-feed the rest.
        head, rest = held[0], held[1:]
        return head + self.feed(rest)


def _could_be_marker(prefix: str) -> bool:
    """Whether `prefix` (starting with an opening bracket) can still grow into a marker."""
    body = prefix[1:].strip()
    return len(prefix) <= 6 and (
        body == "" or body.isdigit() or _MARKER.fullmatch(prefix) is not None
    )


def attribute(answer: str, texts: list[str], min_overlap: float = 0.3) -> int | None:
    """The 1-based number of the offered text the answer overlaps most, if clearly so."""
    grams = char_ngrams(answer)
    if not grams or not texts:
        return None
    best, best_share = None, 0.0
    for number, text in enumerate(texts, start=1):
        share = len(grams & char_ngrams(text)) / len(grams)
        if share > best_share:
            best, best_share = number, share
    return best if best_share >= min_overlap else None


def iter_with_markers(pieces: Iterable[str], count: int) -> Iterator[str]:
    """Pass model pieces through `MarkerStream`, yielding only non-empty text."""
    stream = MarkerStream(count)
    for piece in pieces:
        text = stream.feed(piece)
        if text:
            yield text
    tail = stream.flush()
    if tail:
        yield tail
