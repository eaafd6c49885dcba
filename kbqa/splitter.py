"""Chinese-aware splitter: Sections -> Chunks sized in the embedder's own tokens.

Order of cuts: sentence ends (。！？；… and English . ! ?), line breaks, then, inside a sentence
that alone is over size, commas (，、；：, ; :), then words (for Latin text), then characters.
Punctuation stays at the end of its sentence. Overlap is made of whole sentences. A chunk never
crosses a Section, so a chunk's page and heading are exact.

A table Section (kind "table") is packed by rows instead: each chunk is a Markdown table that
repeats the header row, holds whole rows only (a row over the chunk size is a chunk of its own,
its cells bounded by the loaders), and has no overlap.

Linear in time and lean in memory on any input (issue 11: a 10 MB line took 3.2 GB and a 50 MB
token ran past 240 s): a sentence longer than `piece_chars` is first cut at a space or comma near
that length (no chunk holds that many characters anyway), the tokenizer is fed at most
COUNT_BATCH_CHARS characters a call, and a Section over BLOCK_CHARS is packed in blocks of about
that size, cut at line or sentence ends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from kbqa.text.cjk import WIDE
from kbqa.text.table import markdown_header, markdown_row
from kbqa.types import TABLE, Chunk, Section

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
#: characters counted by the tokenizer in one call: a whole file's encodings at once took GBs
COUNT_BATCH_CHARS = 1 << 18
#: a Section longer than this is split in blocks of about this many characters, each packed on
#: its own (a chunk never crosses a block), so the units of a huge Section never all live at once
BLOCK_CHARS = 1 << 20
#: a sentence is pre-cut into pieces of at most chunk_size * PIECE_CHARS_PER_TOKEN characters
PIECE_CHARS_PER_TOKEN = 16


def count_in_batches(
    count_batch: BatchTokenCounter, texts: Sequence[str], limit: int = COUNT_BATCH_CHARS
) -> list[int]:
    """count_batch over `texts`, called on runs of at most `limit` characters (one text may be
    longer), so a tokenizer never holds the encodings of a whole large file at once."""
    counts: list[int] = []
    batch: list[str] = []
    size = 0
    for text in texts:
        if batch and size + len(text) > limit:
            counts.extend(count_batch(batch))
            batch, size = [], 0
        batch.append(text)
        size += len(text)
    if batch:
        counts.extend(count_batch(batch))
    return counts


_BLOCK_MARKS = ("\n", "。", "！", "？", ". ", "; ", " ")
_PIECE_MARKS = (" ", "\t", "，", "、", ",", "；", ";")


def _blocks(text: str, size: int) -> list[str]:
    """`text` cut into runs of at most `size` characters, each ending at a line break, else a
    sentence end, else a space, in its second half when there is one."""
    return _cut(text, size, _BLOCK_MARKS)


def _pre_cut(sentence: str, size: int) -> list[str]:
    """A sentence over `size` characters cut into pieces of at most `size`, at spaces or commas."""
    return _cut(sentence, size, _PIECE_MARKS)


def _cut(text: str, size: int, marks: Sequence[str]) -> list[str]:
    """`text` in pieces of at most `size` characters, each cut after the first of `marks` found
    in its second half (hard at `size` when none is)."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > size:
        end = _cut_point(text, start, start + size, marks)
        pieces.append(text[start:end])
        start = end
    pieces.append(text[start:])
    return pieces


def _cut_point(text: str, start: int, end: int, marks: Sequence[str]) -> int:
    """The position just after the last of `marks` (tried in order) in text[mid:end], where mid
    is half way from start; `end` when none is there."""
    middle = start + (end - start) // 2
    for mark in marks:
        found = text.rfind(mark, middle, end)
        if found >= 0:
            return found + len(mark)
    return end


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
        whole = count_tokens_batch
        self.count_tokens_batch: BatchTokenCounter = lambda texts: count_in_batches(whole, texts)
        # No chunk holds more characters than this: a longer sentence is cut before counting.
        self.piece_chars = chunk_size * PIECE_CHARS_PER_TOKEN
        self._previous_fit = 0  # length of the last hard-split piece
        # The default estimate is additive, so the whole-chunk check is skipped for it.
        self._verify = count_tokens is not None

    def split(self, sections: Sequence[Section], *, source: str, path: str) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in sections:
            if section.kind == TABLE and section.rows:
                texts = self.split_table(section.rows)
            else:
                texts = self.split_text(section.text)
            for text in texts:
                chunks.append(
                    Chunk(
                        text=text,
                        source=source,
                        path=path,
                        position=len(chunks),
                        page=section.page,
                        heading=section.heading,
                        kind=section.kind,
                        table=section.table,
                    )
                )
        return chunks

    def split_table(self, rows: Sequence[Sequence[str]]) -> list[str]:
        """A table's rows (header first) as Markdown tables, each under the header row."""
        header = markdown_header(rows[0])
        body = [markdown_row(row) for row in rows[1:]]
        if not body:
            return [header]
        room = self.chunk_size - self.count_tokens(header) - 1  # the line break after it
        counts = self.count_tokens_batch(body)
        chunks: list[str] = []
        batch: list[str] = []
        used = 0
        for line, count in zip(body, counts, strict=True):
            if batch and used + count + 1 > room:
                chunks.append("\n".join([header, *batch]))
                batch, used = [], 0
            batch.append(line)
            used += count + 1
        if batch:
            chunks.append("\n".join([header, *batch]))
        return chunks

    def split_text(self, text: str) -> list[str]:
        """Split one run of text (one Section) into chunk texts."""
        if not text.strip():
            return []
        chunks: list[str] = []
        for block in _blocks(text, BLOCK_CHARS):
            chunks.extend(self._split_block(block))
        return chunks

    def _split_block(self, text: str) -> list[str]:
        self._previous_fit = 0
        sentences: list[str] = []
        whole: list[bool] = []  # a whole sentence (a piece of one is never a label)
        for sentence in split_sentences(text):
            if len(sentence) <= self.piece_chars:
                sentences.append(sentence)
                whole.append(True)
            else:
                pieces = _pre_cut(sentence, self.piece_chars)
                sentences.extend(pieces)
                whole.extend([False] * len(pieces))
        # A pre-cut piece is over size for any tokenizer with fewer than PIECE_CHARS_PER_TOKEN
        # characters a token: it goes to _split_long uncounted (a whole pass of the tokenizer).
        counted = self.count_tokens_batch([s for s, w in zip(sentences, whole, strict=True) if w])
        counts_iter = iter(counted)
        counts = [next(counts_iter) if w else self.chunk_size + 1 for w in whole]
        units: list[tuple[str, int, bool]] = []
        for sentence, count, label in zip(sentences, counts, whole, strict=True):
            if count <= self.chunk_size:
                units.append((sentence, count, label))
            else:
                pieces = self._split_long(sentence, count if label else None, group=not label)
                units.extend((piece, n, False) for piece, n in pieces)
        del sentences, counts, whole
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

    def _split_long(
        self, sentence: str, count: int | None = None, *, group: bool = False
    ) -> list[tuple[str, int]]:
        """Cut a sentence over chunk_size at clause marks, then words, then characters.

        `group`: words are counted in runs of about chunk_size / 2 characters (an eighth of a
        chunk or so) rather than one by one: for the pieces of a pre-cut giant sentence, where
        hundreds of thousands of one-word counts took most of the time.
        """
        out: list[tuple[str, int]] = []
        clauses = _cut_after(sentence, _CLAUSE_END)
        if len(clauses) == 1 and (count is not None or group):
            counts = [self.chunk_size + 1 if count is None else count]
        else:
            counts = self.count_tokens_batch(clauses)
        for clause, clause_count in zip(clauses, counts, strict=True):
            if clause_count <= self.chunk_size:
                out.append((clause, clause_count))
                continue
            if group:
                if " " not in clause.strip():  # one giant word
                    out.extend(self._hard_split(clause))
                    continue
                # Runs of words cut at spaces (string searches, not a Python step per word).
                words = _pre_cut(clause, max(1, self.chunk_size // 2))
            else:
                words = _cut_after(clause, _WORD_GAP) if " " in clause.strip() else [clause]
            for word, word_count in zip(words, self.count_tokens_batch(words), strict=True):
                if word_count <= self.chunk_size:
                    out.append((word, word_count))
                else:
                    out.extend(self._hard_split(word))
        return out

    def _hard_split(self, text: str) -> list[tuple[str, int]]:
        """Cut at character positions, each piece the longest prefix that fits."""
        out: list[tuple[str, int]] = []
        start = 0
        previous = self._previous_fit  # the pieces of one giant word are alike
        while start < len(text):
            # No token spans more than a few dozen characters: bound the search to keep the
            # number and length of counts small on long unbroken strings.
            limit = min(len(text) - start, self.chunk_size * 32)
            best, count = self._longest_fit(text, start, limit, previous)
            out.append((text[start : start + best], count))
            start += best
            previous = best
        self._previous_fit = previous
        return out

    def _longest_fit(self, text: str, start: int, limit: int, previous: int) -> tuple[int, int]:
        """The longest n <= limit (at least 1) whose text[start:start+n] fits, and its count.

        Interpolation search on the token count, which grows about linearly with the length,
        started just above the previous piece's length (a long unbroken string is uniform), and
        halving the interval whenever interpolation shrinks it too little, and stopping at a
        piece within a sixteenth of the chunk size: two or three counts a piece where bisection
        took a dozen.
        """
        size = self.chunk_size

        def count(n: int) -> int:
            return self.count_tokens(text[start : start + n])

        low, low_count = 0, 0
        high = min(limit, previous * 17 // 16 + 1) if previous else limit
        high_count = count(high)
        while high_count <= size:  # fits: widen until it does not, or the limit is reached
            if high == limit or size * 15 <= high_count * 16:
                return high, high_count
            low, low_count = high, high_count
            high = min(limit, high * 2)
            high_count = count(high)
        bisect = False
        while high - low > 1:
            if bisect:
                probe = (low + high) // 2
            else:
                share = (size - low_count) / max(1, high_count - low_count)
                probe = min(max(low + int(share * (high - low)), low + 1), high - 1)
            width = high - low
            probe_count = count(probe)
            if size * 15 <= probe_count * 16 <= size * 16:
                return probe, probe_count  # within a sixteenth of full: as good as the longest
            if probe_count <= size:
                low, low_count = probe, probe_count
            else:
                high, high_count = probe, probe_count
            bisect = high - low > width // 2
        if low == 0:
            return 1, count(1)
        return low, low_count

    # -- packing ---------------------------------------------------------------------------

    def _pack(self, units: list[tuple[str, int, bool]], *, verify_each: bool) -> list[str]:
        """Greedy packing; each chunk after the first starts with whole units of the last one."""
        texts = [unit[0] for unit in units]
        counts = [unit[1] for unit in units]
        labels = [unit[2] for unit in units]
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
            while (
                end < len(units)
                and end - 1 > fresh
                and labels[end - 1]
                and _is_label(texts[end - 1])
            ):
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
