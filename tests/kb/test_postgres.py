"""The PostgreSQL + pgvector store (kbqa/store/postgres.py) on a real server (pgserver).

- LangChain's VectorStoreIntegrationTests on KBQAVectorStore over a postgres-kept base;
- the project's knowledge-base tests that take `each_dense_kb` (tests/kb/test_knowledge_base.py),
  run here on postgres by overriding that fixture;
- a real base on postgres gives the same hits, in the same order, as the same base on the
  default SQLite + FAISS store, through ingest, incremental update, removal, filters and
  neighbour expansion;
- two processes: a commit in one is searched by the other at once; two writers at once leave
  exactly the union; the password is never written down; `kbqa kb delete` drops the tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from kbqa.cli import main
from kbqa.errors import KnowledgeBaseError, KnowledgeBaseLocked
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, IngestSettings, Settings, StoreSettings
from kbqa.store.base import NewChunk
from kbqa.store.factory import open_store
from kbqa.store.langchain_store import KBQAVectorStore
from kbqa.store.postgres import schema_for
from tests.kb.conftest import FAST_EMBEDDER
from tests.kb.test_knowledge_base import (  # noqa: F401 - run here on postgres (each_dense_kb)
    _bilingual_docs,
    test_modes_threshold_sources_and_expansion,
    test_remove_by_name_or_path,
)
from tests.pgserver_fixture import PgServer, pg_database, pg_server  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _settings(home: Path, uri: str = "") -> Settings:
    # Files read in this process (no reader process to start for each add: the tests are timed).
    return Settings(
        home=home,
        embedder=EmbedderSettings(name=FAST_EMBEDDER),
        store=StoreSettings(uri=uri),
        ingest=IngestSettings(worker=False),
    )


def _schemas(uri: str) -> set[str]:
    with psycopg.connect(uri) as connection:
        rows = connection.execute("SELECT nspname FROM pg_namespace").fetchall()
    return {row[0] for row in rows}


@pytest.fixture
def each_dense_kb(kbqa_home: Path, pg_database: str) -> Iterator[KnowledgeBase]:  # noqa: F811
    """The shared knowledge-base tests' base, kept on postgres (overrides tests/kb/conftest)."""
    kb = KnowledgeBase.create("test", _settings(kbqa_home, pg_database))
    assert (kb.store.records.name, kb.store.dense.name, kb.store.lexical.name) == (
        "postgres",
        "pgvector",
        "pg-bm25",
    )
    yield kb
    kb.close()


class TestKBQAVectorStoreOnPostgres(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path, pg_server: PgServer) -> Iterator[VectorStore]:  # noqa: F811
        folder = tmp_path / f"lc{uuid.uuid4().hex[:12]}"  # its name on the server: one per test
        store = KBQAVectorStore.in_folder(
            folder, self.get_embeddings(), StoreSettings(uri=pg_server.uri)
        )
        assert store.store.dense.name == "pgvector"
        yield store
        store.store.records.drop()
        store.store.close()


def _hits(kb: KnowledgeBase, query: str, **options) -> list[tuple]:
    return [
        (h.chunk_id, h.source, h.page, h.text, round(h.score, 4), h.dense_rank, h.bm25_rank)
        for h in kb.search(query, **options)
    ]


QUERIES = [
    ("代理服务器默认端口是多少？", {}),
    ("What does error E5521 mean?", {"k": 3}),
    ("offline mode version", {"mode": "bm25", "k": 5}),
    ("离线模式", {"mode": "dense", "k": 5}),
    ("status light port", {"k": 10, "threshold": 0.0}),
    ("port", {"sources": ["faq.txt", "notes.md"], "k": 5}),
    ("port 8417", {"expand": 1, "k": 2}),
]


def _same_results(one: KnowledgeBase, other: KnowledgeBase) -> None:
    for query, options in QUERIES:
        assert _hits(one, query, **options) == _hits(other, query, **options), (query, options)
    for hit in one.search("port 8417", k=2):
        assert [h.text for h in one.neighbours(hit, 1)] == [
            h.text for h in other.neighbours(hit, 1)
        ]


def test_a_base_on_postgres_finds_what_the_default_store_finds(
    kbqa_home: Path,
    pg_database: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = _bilingual_docs(kbqa_home / "docs")
    default = KnowledgeBase.create("local", _settings(kbqa_home))
    served = KnowledgeBase.create("served", _settings(kbqa_home, pg_database))
    assert served.store.records.name == "postgres" and default.store.records.name == "sqlite"
    # Both bases share the process's embedder: embed each query once (a query takes 0.3 s here).
    embedder, seen = default.embedder, {}
    assert served.embedder is embedder
    encode = embedder.encode_query

    def remembered(query: str):
        if query not in seen:
            seen[query] = encode(query)
        return seen[query].copy()

    monkeypatch.setattr(embedder, "encode_query", remembered)
    for kb in (default, served):
        assert sorted(kb.add([docs]).added) == ["faq.txt", "guide.pdf", "notes.md"]
    _same_results(default, served)
    assert served.count_chunks() == default.count_chunks()

    # Incremental update by file hash: unchanged skipped, changed replaced, gone removed.
    (docs / "faq.txt").write_text("The status light glows solid green when idle.\n", "utf-8")
    for kb in (default, served):
        report = kb.add([docs])
        assert report.updated == ["faq.txt"] and sorted(report.unchanged) == [
            "guide.pdf",
            "notes.md",
        ]
    texts = " ".join(hit.text for hit in served.search("status light", k=10))
    assert "green" in texts and "amber" not in texts
    _same_results(default, served)
    assert default.remove("notes.md") == served.remove("notes.md") > 0
    _same_results(default, served)
    assert [f.doc for f in served.files()] == [f.doc for f in default.files()]
    assert served.store.check() == []

    # Another process (another machine) opens it from the server, from its own folder.
    elsewhere = KnowledgeBase.create("served", _settings(kbqa_home / "replica", pg_database))
    assert elsewhere.count_chunks() == served.count_chunks()
    _same_results(default, elsewhere)
    for kb in (default, served, elsewhere):
        kb.close()


_TEXTS = [
    "cache.max_entries 的默认值为 4096。缓存满时按 cache.eviction_policy 淘汰。",
    "The default value of cache.max_entries is 4096; max entries beyond it are evicted.",
    "auth.password_max_age 默认值为 90 天，password max age 可以修改。",
    "代理服务器默认使用 8417 端口。要修改端口，请编辑 proxy.toml 文件中的 listen_port 选项。",
    "Café au lait at the café: CAFE, cafe and café are one term to FTS5.",
    "Error E5521 means the licence has expired. Error error error.",
    "",
    "离线模式在 3.2 版本中加入，默认关闭。Offline mode was added in 3.2.",
    "max max max entries entries cache cache_max",
]
_LEXICAL_QUERIES = [
    "cache.max_entries 默认值",
    "max entries",
    "auth.password_max_age",
    "代理服务器默认端口是多少？",
    "café",
    "error E5521",
    "离线模式 offline",
    "cache_max max",
    "entries_max",
    "entries max",
    "nothing-matches-this",
]


def test_pg_bm25_ranks_exactly_as_fts5(tmp_path: Path, pg_database: str) -> None:  # noqa: F811
    """The same chunks in FTS5 and in pg-bm25: the same ids, in the same order, for every query,
    with and without an id filter (phrases, Chinese, accents, repeats, an empty chunk)."""
    chunks = [
        NewChunk(f"u{i}", text, {"heading": "缓存" if i % 3 else None})
        for i, text in enumerate(_TEXTS)
    ]
    vectors = np.eye(len(chunks), 8, dtype=np.float32)
    stores = [
        open_store(tmp_path / "local", StoreSettings(), create=True),
        open_store(tmp_path / "served", StoreSettings(uri=pg_database), create=True),
    ]
    for store in stores:
        with store.writer():
            store.upsert_chunks(chunks, vectors)
            store.delete_uids(["u1"])  # a removal keeps N and the average length right
            store.upsert_chunks(chunks[1:2], vectors[1:2])
    local, served = stores
    assert served.lexical.name == "pg-bm25" and served.lexical.check() == []
    to_uid = [{c.id: c.uid for c in store.records.iter_chunks()} for store in stores]
    allowed = [
        np.asarray([i for i, u in ids.items() if u in {"u0", "u1", "u4", "u8"}]) for ids in to_uid
    ]
    for query in _LEXICAL_QUERIES:
        for limit in (3, 20):
            found = [
                [(ids[i], score) for i, score in s.lexical.search(query, limit)]
                for s, ids in zip(stores, to_uid, strict=True)
            ]
            assert [u for u, _ in found[0]] == [u for u, _ in found[1]], (query, limit)
            # the same BM25 scores as FTS5's, which hybrid search fuses with the cosine
            assert [s for _, s in found[1]] == pytest.approx([s for _, s in found[0]]), query
            kept = [
                [ids[i] for i, _ in s.lexical.search(query, limit, a)]
                for s, ids, a in zip(stores, to_uid, allowed, strict=True)
            ]
            assert kept[0] == kept[1], (query, limit, "allowed")
    # A token FTS5 cuts in two is a phrase: its terms adjacent, in order.
    assert served.lexical.search("entries_max", 9) == [] and served.lexical.search("entries max", 9)
    with served.writer():
        served.lexical.rebuild()
    assert served.lexical.check() == []
    for store in stores:
        store.close()


_PROCESS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import EmbedderSettings, IngestSettings, Settings, StoreSettings

    home, uri, embedder = sys.argv[1], sys.argv[2], sys.argv[3]
    settings = Settings(home=home, embedder=EmbedderSettings(name=embedder),
                        store=StoreSettings(uri=uri), ingest=IngestSettings(worker=False))
    kb = KnowledgeBase.create("shared", settings)  # attaches: the base is on the server
    kb.embedder.encode_query("warm up")
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "search":
            print(json.dumps([h.source for h in kb.search(argument, k=3)]), flush=True)
        elif command == "add":
            for path in argument.split(","):
                kb.add(Path(path))
            print("added", flush=True)
    """
)


def _process(home: Path, uri: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", _PROCESS, str(home), uri, FAST_EMBEDDER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "KBQA_HOME": str(home)},
    )
    return process


def _ask(process: subprocess.Popen, line: str) -> str:
    process.stdin.write(line + "\n")
    process.stdin.flush()
    return process.stdout.readline().strip()


def test_two_processes_share_one_base_and_two_writers_leave_the_union(
    kbqa_home: Path,
    tmp_path: Path,
    pg_database: str,  # noqa: F811
) -> None:
    kb = KnowledgeBase.create("shared", _settings(kbqa_home, pg_database))
    (tmp_path / "faq.txt").write_text("The status light blinks amber while syncing.", "utf-8")
    kb.add(tmp_path / "faq.txt")
    other = _process(tmp_path / "elsewhere", pg_database)  # its own folder, as on another machine
    try:
        assert other.stdout.readline().strip() == "ready"
        assert "wombat.txt" not in json.loads(_ask(other, "search wombat droppings"))
        # A file added here is searched there at once, with no restart.
        (tmp_path / "wombat.txt").write_text("Wombats produce cube-shaped droppings.", "utf-8")
        kb.add(tmp_path / "wombat.txt")
        assert json.loads(_ask(other, "search wombat droppings"))[0] == "wombat.txt"

        # Both write at once, each adding its own files one at a time: the union, exactly.
        (tmp_path / "x").mkdir()
        (tmp_path / "y").mkdir()
        mine, theirs = [], []
        for n in range(3):
            for path, names in (
                (tmp_path / "x" / f"otter{n}.txt", mine),
                (tmp_path / "y" / f"heron{n}.txt", theirs),
            ):
                path.write_text(
                    f"Note {n}: the {path.stem[:-1]} number {n} sleeps at dusk.", "utf-8"
                )
                names.append(path)
        other.stdin.write(f"add {','.join(map(str, theirs))}\n")
        other.stdin.flush()
        for path in mine:
            kb.add(path)
        assert other.stdout.readline().strip() == "added"
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    files = [f.doc for f in kb.files()]
    expected = [*(f"otter{n}.txt" for n in range(3)), *(f"heron{n}.txt" for n in range(3))]
    assert sorted(files) == sorted(["faq.txt", "wombat.txt", *expected])
    chunks = list(kb.store.records.iter_chunks())
    assert len({c.uid for c in chunks}) == len(chunks) == sum(f.chunks for f in kb.files())
    assert kb.store.check() == []
    assert kb.search("heron number 2 sleeps", k=1)[0].source == "heron2.txt"
    kb.close()


def test_the_password_is_used_never_kept(
    kbqa_home: Path,
    pg_server: PgServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    role = f"kbqa_pw_{uuid.uuid4().hex[:8]}"
    secret = f"s3cret-{uuid.uuid4().hex[:8]}"
    hba = pg_server.folder / "pg_hba.conf"
    if f"local all {role} scram-sha-256" not in hba.read_text():
        hba.write_text(f"local all {role} scram-sha-256\n" + hba.read_text())
    pg_server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'")
    pg_server.execute(f"GRANT CREATE ON DATABASE postgres TO {role}")
    pg_server.execute("SELECT pg_reload_conf()")
    base = pg_server.uri.replace("postgres:@", f"{role}:{secret}@", 1)
    wrong = base.replace(secret, "not-the-" + secret)
    settings = _settings(kbqa_home, wrong)
    with pytest.raises(KnowledgeBaseError) as refused:
        KnowledgeBase.create("pw", settings)
    message = str(refused.value)
    assert "cannot connect to PostgreSQL at postgresql://" + role + "@" in message
    assert secret not in message and "authentication failed" in message
    assert not (settings.kb_root / "pw").exists()  # a failed create leaves nothing

    kb = KnowledgeBase.create("pw", _settings(kbqa_home, base))
    kb.close()
    pointer = (settings.kb_root / "pw" / "remote.json").read_text()
    assert secret not in pointer and json.loads(pointer)["uri"].startswith(f"postgresql://{role}@")
    # Later opens take it from the environment.
    monkeypatch.setenv("KBQA_STORE_PASSWORD", secret)
    kb = KnowledgeBase.open("pw", Settings(home=kbqa_home))
    manifest = kb.info()["manifest"]
    assert (
        secret not in json.dumps(manifest) and manifest["store_uri"] == json.loads(pointer)["uri"]
    )
    kb.store.records.drop()
    kb.close()


def test_kb_delete_drops_the_tables(
    kbqa_home: Path,
    pg_database: str,  # noqa: F811
    capsys: pytest.CaptureFixture,
) -> None:
    kb = KnowledgeBase.create("gone", _settings(kbqa_home, pg_database))
    (kbqa_home / "note.txt").write_text("A short note about quokkas.", "utf-8")
    kb.add(kbqa_home / "note.txt")
    kb.close()
    assert schema_for("gone") in _schemas(pg_database)
    assert main(["--home", str(kbqa_home), "kb", "delete", "gone", "--yes"]) == 0
    assert schema_for("gone") not in _schemas(pg_database)
    assert KnowledgeBase.list_names(Settings(home=kbqa_home)) == []


def test_a_lost_connection_is_a_clear_error_and_the_next_call_connects_again(
    tmp_path: Path,
    pg_database: str,  # noqa: F811
) -> None:
    store = open_store(tmp_path / "lost", StoreSettings(uri=pg_database), create=True)

    def kill() -> None:  # what a server restart does to the session
        pid = store.records.db.execute("SELECT pg_backend_pid()").fetchone()[0]
        with psycopg.connect(pg_database, autocommit=True) as connection:
            connection.execute("SELECT pg_terminate_backend(%s)", (pid,))

    for attempt in (store.count, lambda: store.records.transaction().__enter__()):
        kill()
        with pytest.raises(KnowledgeBaseError, match=r"lost the connection to PostgreSQL at "):
            attempt()
        assert store.count() == 0  # connected again
    store.close()


def test_a_writer_right_after_another_is_never_refused(
    tmp_path: Path,
    pg_database: str,  # noqa: F811
) -> None:
    """The lock is released when a writer ends, not whenever the server gets round to ending
    its closed session (CI once saw the next writer refused)."""
    store = open_store(tmp_path / "served", StoreSettings(uri=pg_database), create=True)
    for _ in range(200):
        with store.writer():
            pass
    with store.writer(), pytest.raises(KnowledgeBaseLocked), store.writer():
        pass  # the lock is still exclusive
