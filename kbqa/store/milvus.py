"""The Milvus record store: a knowledge base kept in Milvus collections (a cluster, or Milvus Lite).

URIs (`kbqa kb create NAME --store URI`, or `Settings.store.uri`):
    milvus:///abs/path/kb.db          Milvus Lite: a local .db (one process at a time; the tests')
    milvus://host:19530               a Milvus server over http (port 19530 when none is given)
    milvus+https://host[:443]/db      over TLS; a path's first segment names the Milvus database
    milvus://user:password@host       credentials: "user:password" is the token; without a password
                                      in the URI it comes from KBQA_STORE_PASSWORD; with no user,
                                      the token is ?token=… in the URI, else MILVUS_TOKEN (or
                                      KBQA_STORE_PASSWORD). None is ever written down (remote.json
                                      and the manifest keep the URI without them).

A base called N on the server is five collections, `kbqa_N_<part>` (N spelt one-to-one in what
Milvus allows, kbqa/store/milvus.py `collection_prefix`):
    meta     the manifest (key -> value), the id counter, the commit record, the writer's lease
    files    one row per file version: key "<generation>:<doc>", the FileRecord fields
    chunks   id (the chunk id), uid, doc, position, text, metadata (JSON text), the vector
             (FLAT index, IP metric: exact inner product on the L2-normalised vectors)
    lexical  id, the chunk's kbqa words and their count, Milvus's BM25 index over them
             (kbqa/store/milvus_bm25.py: ranked exactly as the fts5 index ranks)
    gone     ids and file keys a batch deletes, tagged with that batch's generation
(Milvus requires a vector field in every collection; meta, files and gone carry a 2-d dummy.)
The chunks and lexical collections are made at the first insert, when the dimension is known.

Atomic batches without transactions. Every chunk, lexical and file row carries `added`, the
generation of the batch that wrote it. The commit record (meta key "commit": generation, state,
how many deletions await sweeping, the state's chunk and lexical word counts) names the committed
generation C. Every read filters on
`added <= C` (and, while the commit record says deletions await sweeping, on the ids and keys in
`gone` tagged <= C), so what a batch writes is invisible until it commits. A batch at C writes:
new rows tagged P = C + 1; deletions as `gone` rows tagged P (the rows stay, still visible at C);
then the commit point, one row upsert of the commit record to generation P with a new random
state; then sweeps: deletes the gone rows' targets and the gone rows, and records that nothing
awaits sweeping. A crash before the commit point leaves rows tagged P that no reader sees; one
after it leaves gone rows that readers honour until swept. Every batch (`transaction()`) starts
by repairing what a killed one left: rows tagged > C are deleted, and committed deletions are
swept. So a batch is all or nothing, and a state is never half visible (tests/kb/test_milvus.py
kills a writer mid-batch and reopens). A failed batch deletes its own rows at once.

Chunk ids come from a counter in meta, advanced before the rows are written, so an id is never
reused (a killed batch only skips some).

Exclusive writing (`writer()`): Milvus Lite takes a flock on a file beside the .db
(`kb.db.kbqa_N.lock`), like the sqlite store's write.lock (threads of one process exclude each
other too). On a server there is no shared file system and Milvus has no compare-and-set, so a
writer holds a lease row in meta (owner, expiry 60 s, renewed every 20 s by a thread while held)
and confirms after a pause that its write won. Its limit, honestly: two writers that read the
lease row as free within the same ~0.3 s can both believe they won; the commit then checks that
the generation is still the one the batch started from, so the later of two colliding batches is
refused rather than interleaved, but a collision is not prevented. Replicas that must never
collide should serialise writes elsewhere (one ingesting replica), or use PostgreSQL.

Reads are never cached: every call asks the server for the committed generation first, so a
second client (or, on a server, another process) sees a commit as soon as it lands. Milvus Lite
serves one process at a time (its data folder is flock'ed), so cross-process sharing needs a
server.

Measured (eval/dev, 71 questions, retrieval only, default embedder): a base ingested into Milvus
Lite retrieves the same passages in the same order as the default SQLite + FAISS store for all 71
questions (hit@1 0.952, hit@3/5/10 1.000, MRR 0.974 on both; one cosine differs in its fourth
decimal, float32 sums in another order); a `kbqa kb copy` of the default base to Milvus Lite
likewise (71 of 71).

Not supported: texts or metadata over 65,535 bytes of UTF-8 in one chunk (Milvus VARCHAR's
limit; refused with a clear error). `check()` reads every row; `rewrite()` sweeps what a killed
writer left (the server keeps its own storage: there is no file of ours to copy).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from kbqa.errors import KnowledgeBaseError
from kbqa.store.remote import Remote

SCHEMA_VERSION = 1
VARCHAR_MAX = 65535
PATH_MAX = 4096
BATCH = 1000  # rows per insert, ids per `in [...]` filter
WINDOW = 4096  # ids per page when reading in id order
LEASE_S = 60.0
STRONG = "Strong"
_RESERVED = frozenset({"commit", "next_id", "writer"})
_DUMMY = [0.0, 1.0]

_CHUNK_FIELDS = ["id", "uid", "doc", "position", "text", "metadata"]
_FILE_FIELDS = ["doc", "source", "origin", "sha256", "size", "mtime", "pages", "chunks", "added_at"]


def connection(remote: Remote) -> tuple[str, dict[str, str]]:
    """(pymilvus uri, its keyword arguments) for a milvus:// store URI: a .db path for Lite."""
    parts = urlsplit(remote.uri)
    transport = parts.scheme.lower().partition("+")[2] or "http"
    if transport not in {"http", "https"}:
        raise KnowledgeBaseError(
            f"store URI {remote.kept_uri!r}: use milvus://host:19530, milvus+https://host "
            "or milvus:///abs/path/kb.db"
        )
    if not parts.netloc:
        path = unquote(parts.path)
        if not path.endswith(".db") or not path.startswith("/"):
            raise KnowledgeBaseError(
                f"store URI {remote.kept_uri!r}: Milvus Lite needs an absolute .db path "
                "(milvus:///abs/path/kb.db)"
            )
        return path, {}
    host = parts.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    port = parts.port or (443 if transport == "https" else 19530)
    options: dict[str, str] = {}
    query = dict(parse_qsl(parts.query))
    user = unquote(parts.username or "")
    secret = unquote(parts.password) if parts.password else remote.password()
    if user:
        options["token"] = f"{user}:{secret}" if secret else user
    elif token := query.get("token") or os.environ.get("MILVUS_TOKEN") or secret:
        options["token"] = token
    if database := parts.path.strip("/").split("/")[0] or query.get("db_name", ""):
        options["db_name"] = unquote(database)
    return f"{transport}://{host}:{port}", options


def collection_prefix(name: str) -> str:
    """`kbqa_<name>`, spelt as Milvus allows (letters, digits, '_'), one-to-one: '_' is '__',
    another character '_<hex>_'; a name too long for Milvus's 255 ends in a hash of itself."""
    escaped = "".join(
        c if c.isascii() and c.isalnum() else "__" if c == "_" else f"_{ord(c):x}_" for c in name
    )
    if len(escaped) > 200:
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=10).hexdigest()
        escaped = f"{escaped[:160]}_h{digest}"
    return f"kbqa_{escaped}"


def literal(value: str) -> str:
    """A Milvus filter string literal (JSON's escapes, which Milvus reads)."""
    return json.dumps(value, ensure_ascii=False)


def _ints(values: Iterable[int]) -> str:
    return "[" + ",".join(str(int(v)) for v in values) + "]"


def _strings(values: Iterable[str]) -> str:
    return "[" + ",".join(literal(v) for v in values) + "]"


def _parts(values: Sequence, size: int = BATCH) -> Iterator[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class View:
    """One committed state as readers see it: its generation and the deletions not yet swept."""

    generation: int
    state: str
    gone_ids: frozenset[int] = frozenset()
    gone_keys: frozenset[str] = frozenset()
    unswept: bool = False  # the commit record says deletions await sweeping
    tokens: int = 0  # the lexical rows' words, all together (BM25's average length)
    rows: int = 0  # the chunks of this state (so counting them is no scan)

    def chunks(self) -> str:
        """The filter that keeps exactly the chunk (and lexical) rows of this state."""
        where = f"added <= {self.generation}"
        return f"{where} and id not in {_ints(sorted(self.gone_ids))}" if self.gone_ids else where

    def files(self) -> str:
        where = f"added <= {self.generation}"
        return (
            f"{where} and key not in {_strings(sorted(self.gone_keys))}"
            if self.gone_keys
            else where
        )


@dataclass
class Batch:
    """The handle `transaction()` yields: what this batch has written so far."""

    view: View
    pending: int  # the generation its rows are tagged with
    wrote: bool = False
    committed: bool = False  # past the commit point: a failure now must not discard it
    state: str | None = None
    gone_ids: set[int] = field(default_factory=set)
    gone_keys: set[str] = field(default_factory=set)
    new_chunks: set[int] = field(default_factory=set)
    new_lexical: dict[int, int] = field(default_factory=dict)  # id -> its words
    gone_lexical: set[int] = field(default_factory=set)  # committed lexical rows it deletes
    new_files: set[str] = field(default_factory=set)
    tokens: int = 0  # words the lexical rows gain (or lose) in this batch
    rows: int = 0  # chunks it adds less those it deletes


def _commit_value(generation: int, state: str, gone: int, tokens: int = 0, rows: int = 0) -> str:
    """The commit record: the committed generation and state, how many deletions await
    sweeping, and the state's lexical words and chunks."""
    record = {"generation": generation, "state": state, "gone": gone, "tokens": tokens}
    return json.dumps({**record, "rows": rows})


def vector_index(client: Any) -> Any:
    """FLAT (exact) over the inner product: the vectors are L2-normalised."""
    index = client.prepare_index_params()
    index.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    return index
