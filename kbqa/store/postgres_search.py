"""The dense and lexical indexes of a PostgreSQL-kept base (kbqa/store/postgres.py).

- `PgVectorIndex` ("pgvector"): pgvector's negative inner product `<#>` over the `chunks` rows,
  exact (no approximate index, so its hits are FAISS's flat index's). Nothing to keep in step:
  the vectors are the rows, written in the record store's transaction, so every process sees
  every commit at once.
- `PgBM25Index` ("pg-bm25"): BM25 over kbqa's own jieba/word tokens (kbqa/store/tokenize.py).
  PostgreSQL has no BM25 (`ts_rank` is not BM25) and no good Chinese text-search parser (the
  `zhparser`/`pg_jieba` extensions are not on most servers, nor in pgserver), so the tokens are
  kbqa's, kept in a postings table (term, chunk, tf) with each chunk's token count, written
  inside the record store's transaction, and scored in SQL with exactly SQLite FTS5's bm25():
  k1 = 1.2, b = 0.75, IDF = log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, over the whole
  table's N and average length, the query an OR of its distinct tokens. So its rankings are the
  fts5 index's (terms are cut as FTS5's unicode61 tokenizer cuts the token text it is given;
  the one difference: a query token FTS5 would cut in two, "a_b", is two OR-ed terms here, not
  the phrase "a b").
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from kbqa.errors import KnowledgeBaseError
from kbqa.store.base import Change, NewChunk, Problem, RecordStore, lexical_batches
from kbqa.store.postgres_schema import DDL_KEY, LOCK_CLASS, vector_literal
from kbqa.store.tokenize import tokenize

K1 = 1.2
B = 0.75


def _needs_postgres(records: RecordStore, index: str) -> None:
    if getattr(records, "name", None) != "postgres":
        raise KnowledgeBaseError(
            f"the {index} index needs the postgres record store, not {records.name!r}"
        )


class _RawIndex:
    """pgvector's own query, shaped like a FAISS index (`ntotal`, `d`, `search(queries, k)`),
    for benchmarks against the raw engine and for consistency checks."""

    def __init__(self, records: Any) -> None:
        self.records = records
        self.ntotal = records.count()
        self.d = records.dimension() or 0

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.asarray(queries, dtype=np.float32).reshape(-1, self.d or queries.shape[-1])
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        for row, query in enumerate(queries):
            found = self.records.db.execute(
                "SELECT id, -(vector <#> %s::vector) FROM chunks ORDER BY vector <#> %s::vector "
                "LIMIT %s",
                (literal := vector_literal(query), literal, k),
            ).fetchall()
            for column, (chunk_id, score) in enumerate(found):
                ids[row, column], scores[row, column] = chunk_id, score
        return scores, ids


class PgVectorIndex:
    name = "pgvector"
    part = "dense index"

    def __init__(self, records: RecordStore) -> None:
        _needs_postgres(records, self.name)
        self.records: Any = records

    def apply(self, change: Change) -> None:
        pass  # the vectors are the rows, committed in the record store's transaction

    def search(
        self, vector: np.ndarray, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        if limit <= 0:
            return []
        literal = vector_literal(np.asarray(vector, dtype=np.float32).reshape(-1))
        if allowed is None:
            rows = self.records.db.execute(
                "SELECT id, -(vector <#> %s::vector) FROM chunks "
                "ORDER BY vector <#> %s::vector, id LIMIT %s",
                (literal, literal, limit),
            ).fetchall()
        else:
            if len(allowed) == 0:
                return []
            rows = self.records.db.execute(
                "SELECT id, -(vector <#> %s::vector) FROM chunks WHERE id = ANY(%s) "
                "ORDER BY vector <#> %s::vector, id LIMIT %s",
                (literal, [int(i) for i in allowed], literal, limit),
            ).fetchall()
        return [(int(chunk_id), float(score)) for chunk_id, score in rows]

    def index(self) -> _RawIndex:
        return _RawIndex(self.records)

    def save(self) -> None:
        pass  # persisted on write

    def check(self) -> list[Problem]:
        """Every chunk has a vector of the manifest's dimension (the index is the rows)."""
        dimension = self.records.dimension()
        if not dimension:
            return []
        wrong = self.records.db.execute(
            "SELECT count(*) FROM chunks WHERE vector_dims(vector) <> %s", (dimension,)
        ).fetchone()[0]
        if wrong:
            return [Problem(self.part, f"{wrong} vectors are not {dimension}-d", False)]
        return []

    def rebuild(self) -> None:
        pass  # nothing derived to rebuild: searches read the rows

    def close(self) -> None:
        pass  # the record store owns the connections


_LEXICAL_TABLES = """
CREATE TABLE IF NOT EXISTS postings (
    term text NOT NULL,
    chunk bigint NOT NULL,
    tf integer NOT NULL,
    positions integer[] NOT NULL,  -- where in the chunk's terms (for phrases, as FTS5 has them)
    PRIMARY KEY (term, chunk)
);
CREATE INDEX IF NOT EXISTS postings_chunk ON postings (chunk);
CREATE TABLE IF NOT EXISTS lexical_lengths (chunk bigint PRIMARY KEY, tokens integer NOT NULL);
CREATE TABLE IF NOT EXISTS lexical_totals (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    rows bigint NOT NULL,
    tokens bigint NOT NULL
);
INSERT INTO lexical_totals VALUES (true, 0, 0) ON CONFLICT DO NOTHING;
"""


@functools.lru_cache(maxsize=65536)
def _unicode61(token: str) -> tuple[str, ...]:
    """The terms SQLite FTS5's default tokenizer (unicode61, remove_diacritics 1) makes of
    `token`: runs of letters, numbers and private-use characters, case-folded, Latin
    diacritics removed."""
    if token.isalnum():  # letters and numbers only (nearly every token): one term
        return (_fold(token),)
    terms: list[str] = []
    current: list[str] = []
    for char in token:
        category = unicodedata.category(char)
        if category[0] in "LN" or category == "Co":
            current.append(char)
        elif current:
            terms.append("".join(current))
            current = []
    if current:
        terms.append("".join(current))
    return tuple(_fold(term) for term in terms)


@functools.lru_cache(maxsize=65536)
def _fold(term: str) -> str:
    term = term.lower()
    if term.isascii():
        return term
    out = []
    for char in term:
        if ord(char) < 0x2B0 or 0x1E00 <= ord(char) <= 0x1EFF:  # Latin: drop the accents
            base = "".join(
                c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
            )
            out.append(base or char)
        else:
            out.append(char)
    return "".join(out)


def lexical_terms(text: str) -> list[str]:
    """The terms a chunk's lexical text is indexed under, as FTS5 indexes kbqa's tokens."""
    return [term for token in tokenize(text) for term in _unicode61(token)]


class PgBM25Index:
    name = "pg-bm25"
    part = "lexical index"

    def __init__(self, records: RecordStore) -> None:
        _needs_postgres(records, self.name)
        self.records: Any = records
        if records._has_table(records.db, "lexical_totals"):
            return  # no DDL when the tables are there: it would wait for writers' table locks
        with records.transaction() as tx:
            tx.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, DDL_KEY))
            tx.execute(_LEXICAL_TABLES)

    def add(self, tx: Any, chunks: Iterable[tuple[int, NewChunk]]) -> None:
        postings: list[tuple[str, int, int, list[int]]] = []
        lengths: list[tuple[int, int]] = []
        for chunk_id, chunk in chunks:
            terms = lexical_terms(chunk.lexical_text())
            lengths.append((int(chunk_id), len(terms)))
            where: dict[str, list[int]] = {}
            for position, term in enumerate(terms):
                where.setdefault(term, []).append(position)
            postings.extend((t, int(chunk_id), len(p), p) for t, p in where.items())
        if not lengths:
            return
        cursor = tx.cursor()
        with cursor.copy("COPY lexical_lengths (chunk, tokens) FROM STDIN") as copy:
            copy.write("".join(f"{chunk}\t{n}\n" for chunk, n in lengths))
        # COPY's text format written directly: terms are runs of letters and numbers (no tab,
        # newline or backslash to escape), the rest are integers.
        with cursor.copy("COPY postings (term, chunk, tf, positions) FROM STDIN") as copy:
            copy.write(
                "".join(
                    f"{term}\t{chunk}\t{tf}\t{{{','.join(map(str, where))}}}\n"
                    for term, chunk, tf, where in postings
                )
            )
        tx.execute(
            "UPDATE lexical_totals SET rows = rows + %s, tokens = tokens + %s",
            (len(lengths), sum(n for _, n in lengths)),
        )

    def remove(self, tx: Any, ids: Sequence[int]) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        tx.execute("DELETE FROM postings WHERE chunk = ANY(%s)", (ids,))
        tx.execute(
            "WITH gone AS (DELETE FROM lexical_lengths WHERE chunk = ANY(%s) RETURNING tokens) "
            "UPDATE lexical_totals SET rows = rows - (SELECT count(*) FROM gone), "
            "tokens = tokens - (SELECT coalesce(sum(tokens), 0) FROM gone)",
            (ids,),
        )

    def search(
        self, query: str, limit: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        # One FTS5 phrase per distinct query token: its unicode61 terms, adjacent in that order.
        phrases = [
            terms for token in dict.fromkeys(tokenize(query)) if (terms := _unicode61(token))
        ]
        if not phrases or limit <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        params: dict[str, Any] = {"limit": limit, "k1": K1, "b": B}
        matches = []
        for i, terms in enumerate(phrases):
            for j, term in enumerate(terms):
                params[f"t{i}_{j}"] = term
            if len(terms) == 1:
                matches.append(
                    f"SELECT {i} AS phrase, chunk, tf FROM postings WHERE term = %(t{i}_0)s"
                )
                continue
            # A phrase's frequency in a chunk: the places its first term is followed by the rest.
            joins = " ".join(
                f"JOIN postings p{j} ON p{j}.chunk = p0.chunk AND p{j}.term = %(t{i}_{j})s"
                for j in range(1, len(terms))
            )
            follows = " AND ".join(f"x + {j} = ANY(p{j}.positions)" for j in range(1, len(terms)))
            matches.append(
                f"SELECT {i} AS phrase, p0.chunk, (SELECT count(*) FROM unnest(p0.positions) x "
                f"WHERE {follows})::int AS tf FROM postings p0 {joins} WHERE p0.term = %(t{i}_0)s"
            )
        keep = ""
        if allowed is not None:
            params["allowed"] = [int(i) for i in allowed]
            keep = "WHERE h.chunk = ANY(%(allowed)s)"
        # N, the average length and each phrase's n are the whole table's, as in FTS5 (a filter
        # on ids does not change them).
        rows = self.records.db.execute(
            f"""
            WITH hits AS MATERIALIZED (
                SELECT * FROM ({" UNION ALL ".join(matches)}) AS m WHERE tf > 0
            ),
            totals AS MATERIALIZED (
                SELECT rows::float8 AS n, tokens::float8 / greatest(rows, 1) AS avgdl
                FROM lexical_totals
            ),
            idf AS MATERIALIZED (
                SELECT phrase, CASE WHEN x <= 0 THEN 1e-6 ELSE x END AS w FROM (
                    SELECT phrase, ln(((SELECT n FROM totals) - count(*) + 0.5) / (count(*) + 0.5))
                        AS x
                    FROM hits GROUP BY phrase
                ) AS raw
            )
            SELECT h.chunk,
                sum(idf.w * (h.tf * (%(k1)s + 1)) / (h.tf + %(k1)s * (1 - %(b)s
                    + %(b)s * l.tokens / nullif((SELECT avgdl FROM totals), 0)))) AS score
            FROM hits h JOIN idf ON idf.phrase = h.phrase
            JOIN lexical_lengths l ON l.chunk = h.chunk
            {keep}
            GROUP BY h.chunk ORDER BY score DESC, h.chunk LIMIT %(limit)s
            """,
            params,
        ).fetchall()
        return [(int(row[0]), float(row[1])) for row in rows]

    def check(self) -> list[Problem]:
        db = self.records.db
        try:
            missing = db.execute(
                "SELECT count(*) FROM chunks c WHERE NOT EXISTS "
                "(SELECT 1 FROM lexical_lengths l WHERE l.chunk = c.id)"
            ).fetchone()[0]
            extra = db.execute(
                "SELECT count(*) FROM lexical_lengths l WHERE NOT EXISTS "
                "(SELECT 1 FROM chunks c WHERE c.id = l.chunk)"
            ).fetchone()[0]
            stray = db.execute(
                "SELECT count(DISTINCT chunk) FROM postings p WHERE NOT EXISTS "
                "(SELECT 1 FROM lexical_lengths l WHERE l.chunk = p.chunk)"
            ).fetchone()[0]
            totals = db.execute("SELECT rows, tokens FROM lexical_totals").fetchone()
            counted = db.execute(
                "SELECT count(*), coalesce(sum(tokens), 0) FROM lexical_lengths"
            ).fetchone()
        except self.records._psycopg.Error as error:
            return [Problem(self.part, f"the postings cannot be read ({error})", True)]
        if missing or extra or stray:
            detail = f"the postings lack {missing} chunks and hold {extra + stray} that are gone"
            return [Problem(self.part, detail, True)]
        if totals is None or tuple(map(int, totals)) != tuple(map(int, counted)):
            return [Problem(self.part, "the postings' totals do not match their rows", True)]
        return []

    def rebuild(self) -> None:
        with self.records.transaction() as tx:
            tx.execute("TRUNCATE postings, lexical_lengths")
            tx.execute("UPDATE lexical_totals SET rows = 0, tokens = 0")
            for batch in lexical_batches(self.records):
                self.add(tx, batch)

    def close(self) -> None:
        pass  # the record store owns the connections
