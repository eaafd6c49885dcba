"""The milvus-bm25 lexical index: kbqa's jieba tokens in Milvus, ranked exactly as FTS5 ranks them.

Which tokens, and why: kbqa's own (kbqa/store/tokenize.py: jieba's search mode for Chinese,
lower-cased words and numbers, kbqa's stop words), the fts5 index's, not Milvus's analyzers.
Milvus's jieba analyzer cuts Chinese differently and keeps stop words, and its 'standard' one
splits Chinese into single characters on a server (Milvus Lite's keeps \\w runs), so either would
rank differently from the default store, and the issue wants the same figures on every backend.

How they are stored: each lexical row (id, added, words, length) holds the chunk's words as FTS5
sees the space-joined kbqa tokens (its unicode61 tokenizer also splits at '_' and folds Latin
diacritics), each written as "t" + 12 hex digits of its BLAKE2b hash: one word every Milvus
analyzer keeps whole, so Lite and a cluster index the same terms. The 'standard' analyzer and
Milvus's BM25 function (k1 1.2, b 0.75) turn them into a sparse vector with an inverted index.

How a query ranks, and why not by Milvus's own BM25 score: measured on eval/dev, Milvus's score
gave hit@1 0.968 and MRR 0.984 against the default store's 0.952 and 0.974, because its IDF is
log(1 + (N - n + 0.5) / (n + 0.5)) where FTS5's is log((N - n + 0.5) / (n + 0.5)) floored at
1e-6 (terms in over half the rows weigh nothing in FTS5), and Milvus Lite keeps BM25 statistics
per segment. So Milvus finds the candidates (its BM25 search over the committed rows: every row
holding a query word, up to 16,384), returns their words, and kbqa scores them with FTS5's own
formula (sqlite/ext/fts5/fts5_aux.c): N is the committed rows' count and avgdl their words over
N (both kept in the commit record, so neither is a scan), n(t) the candidates holding t. The
same queries then rank the same chunks in the same order as fts5 (tests/kb/test_milvus.py), and
eval/dev's figures are the fts5 ones (docstring of kbqa/store/milvus.py). Cost: Milvus Lite 3 is
pure Python; on 4,000 synthetic chunks its own BM25 query took ~0.9 s and this one ~0.7-0.9 s.
Limits: a query whose words more than 16,384 rows hold is scored over the 16,384 Milvus ranks
best (n(t) and the order below them are then approximate); a query costs a read of every
candidate's words; a chunk's first 4,681 words are stored (VARCHAR's 65,535 bytes), its length
is its whole count. A query token FTS5 splits (one with '_') is matched as adjacent words, as
FTS5 matches a phrase.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import NewChunk, Problem, RecordStore
from kbqa.store.milvus import BATCH, STRONG, VARCHAR_MAX, Batch, _ints, _parts
from kbqa.store.milvus_records import MilvusRecordStore
from kbqa.store.tokenize import tokenize

K1, B = 1.2, 0.75
#: Milvus caps a search's limit (topk) at 16,384
CANDIDATES = 16384
_WORDS_KEPT = (VARCHAR_MAX + 1) // 14  # 13 characters and a space each
_LETTERS = re.compile(r"[^\W_]+")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fts5_words(text: str) -> list[str]:
    """The words FTS5's unicode61 tokenizer makes of a space-joined token string."""
    text = text.lower()
    if not text.isascii():
        text = _COMBINING.sub("", unicodedata.normalize("NFD", text))
    return _LETTERS.findall(text)


def term(word: str) -> str:
    """A word as one term every Milvus analyzer keeps whole."""
    return "t" + hashlib.blake2b(word.encode("utf-8"), digest_size=6).hexdigest()


def _row(chunk_id: int, text: str, generation: int) -> dict:
    words = [term(word) for word in fts5_words(" ".join(tokenize(text)))]
    return {
        "id": int(chunk_id),
        "added": generation,
        "words": " ".join(words[:_WORDS_KEPT]),
        "length": len(words),
    }


def _matches(words: list[str], phrase: list[str]) -> int:
    """How often `phrase` (adjacent words) occurs in `words`."""
    if len(phrase) == 1:
        return words.count(phrase[0])
    span = len(phrase)
    return sum(words[i : i + span] == phrase for i in range(len(words) - span + 1))


class MilvusBM25Index:
    name = "milvus-bm25"
    part = "lexical index"

    def __init__(self, records: RecordStore) -> None:
        if not isinstance(records, MilvusRecordStore):
            raise KnowledgeBaseError(
                f"the milvus-bm25 lexical index needs the milvus record store, not {records.name!r}"
            )
        self.records = records

    def _ensure(self) -> None:
        records = self.records
        if records.has("lexical"):
            return
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("added", DataType.INT64)
        schema.add_field(
            "words",
            DataType.VARCHAR,
            max_length=VARCHAR_MAX,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("length", DataType.INT64)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["words"],
                output_field_names=["sparse"],
            )
        )
        index = records.client.prepare_index_params()
        index.add_index(
            field_name="sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": K1, "bm25_b": B},
        )
        records._create("lexical", schema, index)

    def add(self, tx: Batch, chunks: Iterable[tuple[int, NewChunk]]) -> None:
        rows = [_row(i, chunk.lexical_text(), tx.pending) for i, chunk in chunks]
        if not rows:
            return
        self._ensure()
        tx.wrote = True
        for row in rows:
            tx.new_lexical[row["id"]] = row["length"]
            tx.tokens += row["length"]
        for part in _parts(rows):
            self.records.client.insert(self.records.names["lexical"], list(part))

    def remove(self, tx: Batch, ids: Sequence[int]) -> None:
        ids = [int(i) for i in ids]
        new = [i for i in ids if i in tx.new_lexical]
        old = [i for i in ids if i not in tx.new_lexical and i not in tx.gone_lexical]
        if new:  # written by this batch: delete now; the others go with the batch's commit
            self.records.client.delete(self.records.names["lexical"], ids=new)
            tx.tokens -= sum(tx.new_lexical.pop(i) for i in new)
        if old and self.records.has("lexical"):
            for part in _parts(old):
                where = f"id in {_ints(part)} and {tx.view.chunks()}"
                rows = self.records._query("lexical", where, ["id", "length"])
                tx.tokens -= sum(int(row["length"]) for row in rows)
        tx.gone_lexical.update(old)
        tx.gone_ids.update(old)
        tx.wrote = tx.wrote or bool(ids)

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        phrases = [
            [term(word) for word in words]
            for token in dict.fromkeys(tokenize(query))
            if (words := fts5_words(token))
        ]
        records = self.records
        if not phrases or (allowed is not None and len(allowed) == 0) or limit <= 0:
            return []
        if not records.has("lexical"):
            return []
        view = records.view()
        every = sorted({word for phrase in phrases for word in phrase})
        found = records.client.search(
            records.names["lexical"],
            data=[" ".join(every)],
            anns_field="sparse",
            limit=CANDIDATES,
            filter=view.chunks(),
            output_fields=["id", "words", "length"],
            search_params={"metric_type": "BM25"},
            consistency_level=STRONG,
        )[0]
        if not found:
            return []
        total_rows = view.rows  # one lexical row per chunk (the commit record counts them)
        average = (view.tokens / total_rows if total_rows else 0.0) or 1.0
        counts = []
        for hit in found:
            entity = hit["entity"]
            words = entity["words"].split()
            counts.append(
                (int(hit["id"]), int(entity["length"]), [_matches(words, p) for p in phrases])
            )
        weights = []
        for index in range(len(phrases)):
            held = sum(1 for _, _, tf in counts if tf[index])
            idf = math.log((total_rows - held + 0.5) / (held + 0.5))
            weights.append(idf if idf > 0 else 1e-6)
        keep = None if allowed is None else set(np.asarray(allowed).tolist())
        scored = []
        for chunk_id, length, tfs in counts:
            if not any(tfs) or (keep is not None and chunk_id not in keep):
                continue
            norm = K1 * (1 - B + B * length / average)
            score = sum(
                w * (tf * (K1 + 1.0)) / (tf + norm)
                for w, tf in zip(weights, tfs, strict=True)
                if tf
            )
            scored.append((-score, chunk_id))
        scored.sort()
        return [(chunk_id, -negative) for negative, chunk_id in scored[:limit]]

    def _ids(self, part: str) -> set[int]:
        records = self.records
        if not records.has(part):
            return set()
        return {int(r["id"]) for r in records._all(part, records.view().chunks(), ["id"])}

    def check(self) -> list[Problem]:
        try:
            held, chunks = self._ids("lexical"), self._ids("chunks")
        except Exception as error:
            return [Problem(self.part, f"the lexical collection cannot be read ({error})", True)]
        missing, extra = len(chunks - held), len(held - chunks)
        if missing or extra:
            detail = (
                f"the lexical collection lacks {missing} chunks and holds {extra} that are gone"
            )
            return [Problem(self.part, detail, True)]
        counted, kept = self.tokens()
        if counted != kept:
            detail = f"the lexical rows hold {counted} words, the commit record says {kept}"
            return [Problem(self.part, detail, True)]
        return []

    def tokens(self) -> tuple[int, int]:
        """(words the committed lexical rows hold, the commit record's total: BM25's avgdl)."""
        records = self.records
        view = records.view()
        if not records.has("lexical"):
            return 0, view.tokens
        rows = records._all("lexical", view.chunks(), ["length"])
        return sum(int(row["length"]) for row in rows), view.tokens

    def rebuild(self) -> None:
        """Index every chunk again, from nothing (the caller holds writer())."""
        records = self.records
        if records.has("lexical"):
            records.client.drop_collection(records.names["lexical"])
            records._ready.discard("lexical")
        self._ensure()
        view = records.recover()
        rows: list[dict] = []
        tokens = 0
        for chunk in records.iter_chunks():
            lexical_text = NewChunk(chunk.uid, chunk.text, chunk.metadata).lexical_text()
            rows.append(_row(chunk.id, lexical_text, view.generation))
            tokens += rows[-1]["length"]
            if len(rows) >= BATCH:
                records.client.insert(records.names["lexical"], rows)
                rows = []
        if rows:
            records.client.insert(records.names["lexical"], rows)
        records.set_counts(view, tokens=tokens)

    def close(self) -> None:
        pass  # the record store owns the client
