"""The Milvus dense and lexical indexes: the engine's own searches over a milvus record store's rows.

Dense ("milvus"): the chunks collection's vector field, FLAT index, IP metric (exact inner
product on the L2-normalised vectors); (id, inner product) best first. Written with the rows, in
the same batch, so there is nothing to follow, save or rebuild from a cache: `apply` and `save`
do nothing, and every search filters on the committed generation (kbqa/store/milvus.py), so a
commit by another client is seen by the next search.

Lexical ("milvus-bm25"): Milvus's BM25 function over kbqa's own jieba/word tokens
(kbqa/store/tokenize.py, the fts5 index's), not Milvus's jieba analyzer. Why: the issue asks for
the same rankings on every backend, and the fts5 index ranks kbqa's tokens (jieba's search mode,
lower-cased words, kbqa's stop words); Milvus's jieba analyzer cuts Chinese differently and keeps
stop words, and its 'standard' one splits Chinese per character on a server. So each kbqa token
is stored as a short hash ("t" + 12 hex digits of BLAKE2b: a word that every analyzer keeps
whole, so Milvus Lite and a cluster see the same terms) in a VARCHAR with the 'standard'
analyzer, and the BM25 function turns it into the sparse vector Milvus scores; k1 = 1.2,
b = 0.75, as FTS5's bm25(). A query is its distinct kbqa tokens, hashed the same way (FTS5 is
asked for them OR'ed). What still differs from FTS5: Milvus's IDF is log(1 + (N - n + 0.5) /
(n + 0.5)), FTS5's log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, so terms in over half the
chunks weigh a little instead of nothing; and Milvus Lite keeps BM25 statistics per segment and
counts deleted rows until a compaction. docs/benchmarks.md has the eval/dev figures on both.
A chunk's first 4,681 tokens are indexed (Milvus VARCHAR's 65,535 bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import Change, NewChunk, Problem, RecordStore
from kbqa.store.milvus import (
    BATCH,
    STRONG,
    VARCHAR_MAX,
    Batch,
    _ints,
    _parts,
    vector_index,
)
from kbqa.store.milvus_records import MilvusRecordStore
from kbqa.store.tokenize import tokenize

#: Milvus caps a search's limit (topk) at 16,384
TOPK_MAX = 16384
BM25_PARAMS = {"bm25_k1": 1.2, "bm25_b": 0.75}


def _milvus_records(records: RecordStore, what: str) -> MilvusRecordStore:
    if not isinstance(records, MilvusRecordStore):
        raise KnowledgeBaseError(f"the {what} needs the milvus record store, not {records.name!r}")
    return records


def _allowed(allowed: np.ndarray | None) -> str:
    return "" if allowed is None else f" and id in {_ints(np.asarray(allowed).tolist())}"


@dataclass(frozen=True)
class MilvusIndexView:
    """What `index()` gives: the collection and its size, for benchmarks and checks."""

    client: Any
    collection: str
    ntotal: int
    d: int


class MilvusDenseIndex:
    name = "milvus"
    part = "dense index"

    def __init__(self, records: RecordStore) -> None:
        self.records = _milvus_records(records, "milvus dense index")

    def apply(self, change: Change) -> None:
        pass  # the vectors are the rows: written and committed with them

    def search(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        records = self.records
        if (allowed is not None and len(allowed) == 0) or limit <= 0 or not records.has("chunks"):
            return []
        where = records.view().chunks() + _allowed(allowed)
        found = records.client.search(
            records.names["chunks"],
            data=[np.asarray(vector, dtype=np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=min(int(limit), TOPK_MAX),
            filter=where,
            output_fields=["id"],
            search_params={"metric_type": "IP"},
            consistency_level=STRONG,
        )
        return [(int(hit["id"]), float(hit["distance"])) for hit in found[0]]

    def index(self) -> MilvusIndexView:
        records = self.records
        return MilvusIndexView(
            records.client, records.names["chunks"], records.count(), records.dimension() or 0
        )

    def save(self) -> None:
        pass  # the server persists on write

    def check(self) -> list[Problem]:
        records = self.records
        if not records.has("chunks"):
            return []
        try:
            described = records.client.describe_index(records.names["chunks"], "vector")
        except Exception as error:
            return [Problem(self.part, f"the vector index cannot be read ({error})", True)]
        kind = (described or {}).get("index_type"), (described or {}).get("metric_type")
        if kind != ("FLAT", "IP"):
            detail = f"the vector index is {kind[0]}/{kind[1]}, not FLAT/IP (exact inner product)"
            return [Problem(self.part, detail, True)]
        return []

    def rebuild(self) -> None:
        """Build the vector index again (FLAT, IP)."""
        records = self.records
        if not records.has("chunks"):
            return
        name = records.names["chunks"]
        records.client.release_collection(name)
        if "vector" in records.client.list_indexes(name):
            records.client.drop_index(name, "vector")
        records.client.create_index(name, vector_index(records.client))
        records.client.load_collection(name)

    def close(self) -> None:
        pass  # the record store owns the client


def term(token: str) -> str:
    """A kbqa token as one word every Milvus analyzer keeps whole."""
    return "t" + hashlib.blake2b(token.encode("utf-8"), digest_size=6).hexdigest()


def terms(text: str) -> str:
    words = [term(token) for token in tokenize(text)]
    return " ".join(words[: (VARCHAR_MAX + 1) // 14])  # 13 characters and a space each


class MilvusBM25Index:
    name = "milvus-bm25"
    part = "lexical index"

    def __init__(self, records: RecordStore) -> None:
        self.records = _milvus_records(records, "milvus-bm25 lexical index")

    def _ensure(self) -> None:
        records = self.records
        if records.has("lexical"):
            return
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("added", DataType.INT64)
        schema.add_field(
            "tokens",
            DataType.VARCHAR,
            max_length=VARCHAR_MAX,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["tokens"],
                output_field_names=["sparse"],
            )
        )
        index = records.client.prepare_index_params()
        index.add_index(
            field_name="sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params=BM25_PARAMS,
        )
        records._create("lexical", schema, index)

    def add(self, tx: Batch, chunks: Iterable[tuple[int, NewChunk]]) -> None:
        rows = [
            {"id": int(i), "added": tx.pending, "tokens": terms(chunk.lexical_text())}
            for i, chunk in chunks
        ]
        if not rows:
            return
        self._ensure()
        tx.wrote = True
        tx.new_lexical.update(row["id"] for row in rows)
        for part in _parts(rows):
            self.records.client.insert(self.records.names["lexical"], list(part))

    def remove(self, tx: Batch, ids: Sequence[int]) -> None:
        new = [int(i) for i in ids if int(i) in tx.new_lexical]
        if new:  # written by this batch: delete now; the others go with the batch's commit
            self.records.client.delete(self.records.names["lexical"], ids=new)
            tx.new_lexical.difference_update(new)
        tx.gone_ids.update(int(i) for i in ids if int(i) not in new)
        tx.wrote = True

    def search(self, query: str, limit: int, allowed: np.ndarray | None = None) -> list[int]:
        words = list(dict.fromkeys(term(token) for token in tokenize(query)))
        records = self.records
        if not words or (allowed is not None and len(allowed) == 0) or limit <= 0:
            return []
        if not records.has("lexical"):
            return []
        found = records.client.search(
            records.names["lexical"],
            data=[" ".join(words)],
            anns_field="sparse",
            limit=min(int(limit), TOPK_MAX),
            filter=records.view().chunks() + _allowed(allowed),
            output_fields=["id"],
            search_params={"metric_type": "BM25"},
            consistency_level=STRONG,
        )
        return [int(hit["id"]) for hit in found[0]]

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
        return []

    def rebuild(self) -> None:
        """Index every chunk again, from nothing (the caller holds writer())."""
        records = self.records
        if records.has("lexical"):
            records.client.drop_collection(records.names["lexical"])
            records._ready.discard("lexical")
        self._ensure()
        view = records.recover()
        rows: list[dict] = []
        for chunk in records.iter_chunks():
            lexical_text = NewChunk(chunk.uid, chunk.text, chunk.metadata).lexical_text()
            rows.append({"id": chunk.id, "added": view.generation, "tokens": terms(lexical_text)})
            if len(rows) >= BATCH:
                records.client.insert(records.names["lexical"], rows)
                rows = []
        if rows:
            records.client.insert(records.names["lexical"], rows)

    def close(self) -> None:
        pass  # the record store owns the client
