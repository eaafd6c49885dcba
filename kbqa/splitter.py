"""Chinese-aware splitter: Sections -> Chunks sized in the embedder's own tokens.

Order of cuts: sentence ends (。！？；… and English . ! ?), line breaks, then, inside a sentence
that alone is over size, commas (，、；：, ; :), then words (for Latin text), then characters.
Punctuation stays at the end of its sentence. Overlap is made of whole sentences. A chunk never
crosses a Section, so a chunk's page and heading are exact.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from kbqa.text.cjk import WIDE
from kbqa.types import Chunk, Section

TokenCounter = Callable[[str], int]
BatchTokenCounter = Callable[[list[str]], list[int]]

_APPROX_TOKEN = re.compile(rf"([{WIDE}])|([A-Za-z0-9\u00c0-\u024f]+)|([^\s])")


def approx_token_count(text: str) -> int:
    """Fast estimate: 1 token per CJK character, 1.3 per Latin word, 1 per other symbol."""
    cjk = words = other = 0
    for match in _APPROX_TOKEN.finditer(text):
        if match.group(1):
            cjk += 1
        elif match.group(2):
            words += 1
        else:
            other += 1
    return cjk + math.ceil(words * 1.3) + other


# A sentence end: CJK terminators (always), or . ! ? followed by a space, a CJK character or the
# end of the text; closing quotes/brackets and the following whitespace stay with the sentence.
# A line break ends a sentence too (paragraphs, headings, list items).
_SENTENCE_END = re.compile(
    rf"""(?:
        [。！？；…]+[”’」』）》】"')\]]*[ \t\u3000]*\n*
      | (?P<latin>[.!?]+)[”’」』）》】"')\]]*(?=\s|[{WIDE}]|$)[ \t]*\n*
      | \n+
    )""",
    re.X,
)
# Words before a period that do not end a sentence (compared in lower case, without the dot).
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "vs",
        "cf",
        "al",
        "approx",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "inc",
        "ltd",
        "jr",
        "sr",
        "st",
        "fig",
        "figs",
        "eq",
        "ref",
        "refs",
        "vol",
        "pp",
        "dept",
    ]
)
_CLAUSE_END = re.compile(r"[，、；：]+[ \t]*|[,;:]+(?:[ \t]+|(?=[^\x00-\x7f])|$)")
_WORD_GAP = re.compile(r"(?<=\S)\s+")


def split_sentences(text: str) -> list[str]:
    """Cut text into sentences, each keeping its end punctuation and trailing whitespace."""
    pieces: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        if match.group("latin") is not None and not _is_latin_sentence_end(text, match):
            continue
        if end > start:
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return [piece for piece in pieces if piece.strip()]


def _is_latin_sentence_end(text: str, match: re.Match[str]) -> bool:
    dot_at = match.start("latin")
    if text[dot_at] != ".":
        return True  # ! and ? always end a sentence
    # The word before the dot: Latin letters, digits and inner dots only, and a bounded walk, so
    # long runs of CJK text with ASCII periods stay linear.
    word_start = dot_at
    while word_start > max(0, dot_at - 12) and (
        text[word_start - 1].isascii()
        and (text[word_start - 1].isalnum() or text[word_start - 1] == ".")
    ):
        word_start -= 1
    word = text[word_start:dot_at]
    if word.lower() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
        return False  # "e.g.", "Dr.", an initial "J."
    line_start = word_start == 0 or text[word_start - 1] == "\n"
    if word.isdigit() and len(word) <= 2 and line_start:
        return False  # a list number "1." at the start of a line
    # The next visible character: a lower-case letter means the sentence goes on ("approx. ten").
    after = match.end()
    while after < len(text) and text[after] in " \t":
        after += 1
    return not (after < len(text) and text[after].islower())


class ChineseAwareSplitter:
    """Split Sections into Chunks of at most `chunk_size` tokens (as counted by `count_tokens`).

    `count_tokens` should be the embedder's tokenizer without special tokens, so every chunk fits
    the embedder's input. `count_tokens_batch`, when given, counts many sentences in one call
    (faster with Hugging Face fast tokenizers). Sentence counts are summed to pack a chunk, and
    each packed chunk is counted once more as a whole, so tokenizers that are not additive at
    sentence joins never produce an oversize chunk.
    """

    def __init__(
        self,
        chunk_size: int = 256,
        chunk_overlap: int = 32,
        count_tokens: TokenCounter | None = None,
        *,
        count_tokens_batch: BatchTokenCounter | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1 token, got {chunk_size}")
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError(
                f"chunk_overlap must be in [0, chunk_size), got {chunk_overlap} (chunk_size {chunk_size})"
            )
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.count_tokens: TokenCounter = count_tokens or approx_token_count
        if count_tokens_batch is None:
            counter = self.count_tokens
            count_tokens_batch = lambda texts: [counter(text) for text in texts]  # noqa: E731
        self.count_tokens_batch: BatchTokenCounter = count_tokens_batch
        # The default estimate is additive, so the whole-chunk check is skipped for it.
        self._verify = count_tokens is not None

    def split(self, sections: Sequence[Section], *, source: str, path: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in sections:
            for text in self.split_text(section.text):
                chunks.append(
                    Chunk(
                        text=text,
                        source=source,
                        path=path,
                        position=len(chunks),
                        page=section.page,
                        heading=section.heading,
                    )
                )
        return chunks

    def split_text(self, text: str) -> list[str]:
        """Split one run of text (one Section) into chunk texts."""
        if not text.strip():
            return []
        sentences = split_sentences(text)
        counts = self.count_tokens_batch(sentences)
        units: list[tuple[str, int]] = []
        for sentence, count in zip(sentences, counts, strict=True):
            if count <= self.chunk_size:
                units.append((sentence, count))
            else:
                units.extend(self._split_long(sentence))
        if not self._verify:
            return self._pack(units, verify_each=False)
        # Pack on summed sentence counts, then count the packed chunks in one batch; only a
        # section where a chunk came out over size (a tokenizer that is not additive at the joins)
        # is packed again, checking each chunk as it goes.
        chunks = self._pack(units, verify_each=False)
        if all(count <= self.chunk_size for count in self.count_tokens_batch(chunks)):
            return chunks
        return self._pack(units, verify_each=True)

    # -- oversize sentences ----------------------------------------------------------------

    def _split_long(self, sentence: str) -> list[tuple[str, int]]:
        """Cut a sentence over chunk_size at clause marks, then words, then characters."""
        out: list[tuple[str, int]] = []
        clauses = _cut_after(sentence, _CLAUSE_END)
        for clause, count in zip(clauses, self.count_tokens_batch(clauses), strict=True):
            if count <= self.chunk_size:
                out.append((clause, count))
                continue
            words = _cut_after(clause, _WORD_GAP) if " " in clause.strip() else [clause]
            for word, word_count in zip(words, self.count_tokens_batch(words), strict=True):
                if word_count <= self.chunk_size:
                    out.append((word, word_count))
                else:
                    out.extend(self._hard_split(word))
        return out

    def _hard_split(self, text: str) -> list[tuple[str, int]]:
        """Cut at character positions, each piece the longest prefix that fits (binary search)."""
        out: list[tuple[str, int]] = []
        while text:
            # No token spans more than a few dozen characters: bound the search to keep the
            # number and length of counts small on long unbroken strings.
            low, high = 1, min(len(text), self.chunk_size * 32)
            best = 1
            while low <= high:
                middle = (low + high) // 2
                if self.count_tokens(text[:middle]) <= self.chunk_size:
                    best, low = middle, middle + 1
                else:
                    high = middle - 1
            piece = text[:best]
            out.append((piece, self.count_tokens(piece)))
            text = text[best:]
        return out

    # -- packing ---------------------------------------------------------------------------

    def _pack(self, units: list[tuple[str, int]], *, verify_each: bool) -> list[str]:
        """Greedy packing; each chunk after the first starts with whole units of the last one."""
        texts = [unit[0] for unit in units]
        counts = [unit[1] for unit in units]
        size = self.chunk_size
        chunks: list[str] = []
        fresh = 0  # first unit not yet in any chunk
        start = 0  # first unit of the next chunk (overlap included)
        while fresh < len(units):
            total = sum(counts[start:fresh])
            while start < fresh and total + counts[fresh] > size:
                total -= counts[start]  # no room next to the overlap: shrink the overlap
                start += 1
            end = fresh
            while end < len(units) and total + counts[end] <= size:
                total += counts[end]
                end += 1
            end = max(end, fresh + 1)
            # A chunk never ends on a label (a heading, an option's name): it names what follows,
            # so it opens the next chunk with its description (man pages, definition lists).
            while end < len(units) and end - 1 > fresh and _is_label(texts[end - 1]):
                end -= 1
            if verify_each:
                # Sentence counts do not always add up exactly (subword merges at the joins).
                while self.count_tokens("".join(texts[start:end]).strip()) > size:
                    if end - fresh > 1:
                        end -= 1
                    elif start < fresh:
                        start += 1
                    else:
                        break
            text = "".join(texts[start:end]).strip()
            if text:
                chunks.append(text)
            # Overlap: the longest run of whole units at the end that fits chunk_overlap, never
            # the whole chunk (the next chunk must move forward).
            budget = self.chunk_overlap
            next_start = end
            while next_start - 1 > start and counts[next_start - 1] <= budget:
                budget -= counts[next_start - 1]
                next_start -= 1
            start, fresh = next_start, end
        return chunks


_SENTENCE_MARK = re.compile(r"[。！？!?:：，,；;]|\.(?:\s|$)")


def _is_label(unit: str) -> bool:
    """A heading or an option's name on its own line: short, without sentence punctuation."""
    text = unit.strip()
    return bool(text) and len(text) <= 60 and not _SENTENCE_MARK.search(text)


def _cut_after(text: str, pattern: re.Pattern[str]) -> list[str]:
    pieces: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.end() > start:
            pieces.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return [piece for piece in pieces if piece] or [text]
