"""BM25 over an in-memory inverted index, scored exactly as SQLite FTS5's `bm25()` scores.

Why: FTS5 ranks by scoring every row that holds any query token, in SQL, one row at a time; on
100k chunks a three-token question matches half of them and the query takes 45-65 ms, more than
the query embedding and the FAISS search together. The same scores over numpy postings take about
a millisecond. The FTS5 table stays the index of record (written in the records' transaction);
this is a cache of it, built from its token column and rebuilt whenever the record store's
committed state changes, like the dense index.

FTS5's formula (sqlite/ext/fts5/fts5_aux.c), k1 = 1.2, b = 0.75, per query token t:
    idf(t) = log((N - n(t) + 0.5) / (n(t) + 0.5)), or 1e-6 where that is not positive
    score  = sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * D / avgdl))
with N rows, n(t) rows holding t, D the row's token count and avgdl the mean of D.

FTS5's tokenizer (unicode61) splits the stored token strings once more where a token holds a
character that is not a letter or digit (an underscore): `fts5_tokens` does the same here. A
query token it would split is an FTS5 phrase (its parts adjacent), which postings without
positions cannot match exactly: `search` returns None for such a query, and the caller asks FTS5.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Sequence

import numpy as np

K1, B = 1.2, 0.75
_TOKEN_CHARS = re.compile(r"[^\W_]+")  # letters and digits: what unicode61 keeps together


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fts5_tokens(text: str) -> list[str]:
    """The tokens FTS5's unicode61 tokenizer makes of `text` (a space-joined token string): runs
    of letters and digits, lower-cased, Latin diacritics removed ("é" -> "e")."""
    text = text.lower()
    if not text.isascii():  # whole-string folding: a per-token call costs seconds at 100k chunks
        text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    if "_" not in text and text.isascii():
        return text.split()
    return _TOKEN_CHARS.findall(text)


class MemoryBM25:
    """Postings of one committed state: term -> (row ids, term frequencies), row lengths."""

    def __init__(self, rows: Iterable[tuple[int, str]]) -> None:
        vocabulary: dict[str, int] = {}
        term_ids = array("q")  # every token's term, row after row (8 bytes a token)
        ids: list[int] = []
        lengths: list[int] = []
        for row_id, text in rows:
            tokens = fts5_tokens(text)
            ids.append(row_id)
            lengths.append(len(tokens))
            term_ids.extend([vocabulary.setdefault(t, len(vocabulary)) for t in tokens])
        self.vocabulary = vocabulary
        self.ids = np.asarray(ids, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.float32)
        self.rows = len(ids)
        self.average = float(self.lengths.mean()) if self.rows and self.lengths.sum() else 1.0
        # Postings in CSR form: term t's rows are _rows[_start[t]:_start[t + 1]] (ascending),
        # with their frequencies in _tf.
        terms = np.frombuffer(term_ids, dtype=np.int64) if term_ids else np.zeros(0, np.int64)
        positions = np.repeat(np.arange(self.rows, dtype=np.int64), self.lengths.astype(np.int64))
        width = max(self.rows, 1)
        pairs, counts = np.unique(terms * width + positions, return_counts=True)
        pair_terms, rows = np.divmod(pairs, width)
        self._rows = rows.astype(np.int32)
        self._tf = counts.astype(np.float32)
        self._start = np.searchsorted(pair_terms, np.arange(len(vocabulary) + 1))

    def search(
        self, tokens: Sequence[str], limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]] | None:
        """(row id, BM25 score) best first, as FTS5's `MATCH 't1 OR t2 …' ORDER BY bm25` gives
        them (ties by id; the score is FTS5's `-bm25()`); None when a token is a phrase to FTS5
        (the caller asks FTS5 itself)."""
        scores = np.zeros(self.rows, dtype=np.float64)
        hit = np.zeros(self.rows, dtype=bool)
        for token in dict.fromkeys(tokens):
            parts = fts5_tokens(token)
            if len(parts) != 1:
                if not parts:
                    continue  # FTS5 matches nothing for it either
                return None
            term = self.vocabulary.get(parts[0])
            if term is None:
                continue
            rows = self._rows[self._start[term] : self._start[term + 1]]
            tf = self._tf[self._start[term] : self._start[term + 1]]
            idf = math.log((self.rows - len(rows) + 0.5) / (len(rows) + 0.5))
            idf = idf if idf > 0 else 1e-6
            norm = K1 * (1 - B + B * self.lengths[rows] / self.average)
            scores[rows] += idf * (tf * (K1 + 1)) / (tf + norm)
            hit[rows] = True
        if allowed is not None:
            hit &= np.isin(self.ids, allowed)
        found = np.flatnonzero(hit)
        if len(found) > limit:
            # The best `limit` by score; among equal scores, the lowest ids (FTS5's scan order).
            cut = np.partition(scores[found], len(found) - limit)[len(found) - limit]
            found = found[scores[found] >= cut]
        order = np.lexsort((self.ids[found], -scores[found]))[:limit]
        return [(int(self.ids[i]), float(scores[i])) for i in found[order]]


class MemoryBM25Cache:
    """The postings of the last committed state asked for, rebuilt when the state changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: str | None = None
        self._index: MemoryBM25 | None = None

    def get(self, state: str, rows: Callable[[], Iterable[tuple[int, str]]]) -> MemoryBM25:
        with self._lock:
            if self._index is None or self._state != state:
                self._index = MemoryBM25(rows())
                self._state = state
            return self._index

    def clear(self) -> None:
        with self._lock:
            self._index, self._state = None, None
