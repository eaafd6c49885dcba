"""The Milvus store (kbqa/store/milvus*.py) on a real Milvus Lite (a local .db, pymilvus's own client).

- LangChain's VectorStoreIntegrationTests on KBQAVectorStore over a milvus-kept base;
- the project's knowledge-base tests that take `each_dense_kb` (tests/kb/test_knowledge_base.py),
  run here on milvus by overriding that fixture;
- a real base on milvus gives the same hits, in the same order, as the same base on the default
  SQLite + FAISS store, through ingest, incremental update, removal, filters and expansion;
- a writer killed mid-batch (a real process, os._exit) or failing mid-batch leaves the last
  committed state, and the next batch sweeps what it left;
- two clients of one base see each other's commits at once; create attaches, never wipes;
  drop() drops the collections; the writer lock (Lite's flock, a server's lease); credentials
  are never written down; an unreachable server is a clear error.

One Milvus Lite file per module where tests can share it (each Lite file starts a server).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from kbqa.errors import KnowledgeBaseError, KnowledgeBaseLocked
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, Settings, StoreSettings
from kbqa.store.base import FileRecord, NewChunk
from kbqa.store.factory import open_store
from kbqa.store.langchain_store import KBQAVectorStore
from kbqa.store.milvus import collection_prefix, connection
from kbqa.store.milvus_lock import lease_writer
from kbqa.store.milvus_records import MilvusRecordStore
from kbqa.store.remote import Remote
from tests.kb.conftest import FAST_EMBEDDER
from tests.kb.test_knowledge_base import (  # noqa: F401 - run here on milvus (each_dense_kb)
    _bilingual_docs,
    test_modes_threshold_sources_and_expansion,
    test_remove_by_name_or_path,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One Milvus Lite file for the module's bases (each test's base has its own name)."""
    return f"milvus://{tmp_path_factory.mktemp('milvus') / 'kbqa.db'}"


def _settings(home: Path, uri: str = "") -> Settings:
    return Settings(
        home=home, embedder=EmbedderSettings(name=FAST_EMBEDDER), store=StoreSettings(uri=uri)
    )


def _drop(kb: KnowledgeBase) -> None:
    with kb.store.writer(wait_s=5):
        kb.store.records.drop()
    kb.close()


@pytest.fixture
def each_dense_kb(kbqa_home: Path, milvus_uri: str) -> Iterator[KnowledgeBase]:
    """The shared knowledge-base tests' base, kept in Milvus (overrides tests/kb/conftest)."""
    kb = KnowledgeBase.create("test", _settings(kbqa_home, milvus_uri))
    assert (kb.store.records.name, kb.store.dense.name, kb.store.lexical.name) == (
        "milvus",
        "milvus",
        "milvus-bm25",
    )
    yield kb
    _drop(kb)


class TestKBQAVectorStoreOnMilvus(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, tmp_path: Path, milvus_uri: str) -> Iterator[VectorStore]:
        name = f"lc{uuid.uuid4().hex[:12]}"  # its name on the server: one per test
        store = open_store(
            tmp_path / "store", StoreSettings(uri=milvus_uri), create=True, name=name
        )
        assert store.dense.name == "milvus" and store.lexical.name == "milvus-bm25"
        yield KBQAVectorStore(store, self.get_embeddings())
        store.records.drop()
        store.close()


def _hits(kb: KnowledgeBase, query: str, **options) -> list[tuple]:
    return [
        (h.source, h.page, h.position, h.text, h.dense_rank, h.bm25_rank)
        for h in kb.search(query, **options)
    ]


QUERIES = [
    "代理服务器默认端口是多少？",
    "What does error E5521 mean?",
    "offline mode version",
    "status light syncing",
    "离线模式",
    "port 8417",
]


def test_a_base_on_milvus_finds_what_the_default_store_finds(
    kbqa_home: Path, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = _bilingual_docs(kbqa_home / "docs")
    default = KnowledgeBase.create("default", _settings(kbqa_home))
    milvus = KnowledgeBase.create("milvus", _settings(kbqa_home, milvus_uri))
    assert default.store.records.name == "sqlite" and milvus.store.records.name == "milvus"
    for kb in (default, milvus):  # one query embedding per text: the test compares stores
        monkeypatch.setattr(kb.embedder, "encode_query", lru_cache(kb.embedder.encode_query))
    try:

        def same(modes: tuple[str, ...] = ("hybrid",), **options) -> None:
            # A hybrid hit carries its dense and bm25 ranks: the fused list checks both.
            for query in QUERIES:
                for mode in modes:
                    expected = _hits(default, query, mode=mode, **options)
                    assert _hits(milvus, query, mode=mode, **options) == expected, (query, mode)

        for kb in (default, milvus):
            assert sorted(kb.add([docs]).added) == ["faq.txt", "guide.pdf", "notes.md"]
        assert milvus.count_chunks() == default.count_chunks()
        same(("hybrid", "dense", "bm25"), k=10)
        same(k=3, sources=["faq.txt", "notes.md"])
        same(k=2, expand=1)
        # Incremental: an unchanged file is skipped by its hash, a changed one replaced.
        (docs / "faq.txt").write_text("The status light glows solid green when idle.\n", "utf-8")
        for kb in (default, milvus):
            report = kb.add([docs])
            assert report.updated == ["faq.txt"] and len(report.unchanged) == 2
        same(k=10)
        for kb in (default, milvus):
            assert kb.remove("notes.md") > 0
        same(k=10)
        assert [f.doc for f in milvus.files()] == [f.doc for f in default.files()]
        assert [(f.doc, f.sha256, f.chunks) for f in milvus.files()] == [
            (f.doc, f.sha256, f.chunks) for f in default.files()
        ]
        assert milvus.store.check() == []
    finally:
        default.close()
        _drop(milvus)


def _vectors(count: int, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _file(doc: str, chunks: int) -> FileRecord:
    return FileRecord(doc, doc, None, f"sha-{doc}-{chunks}", 1, 1.0, None, chunks, 1.0)


def _chunks(doc: str, texts: list[str]) -> list[NewChunk]:
    return [NewChunk(f"{doc}#{i}", t, {"source": doc}, doc, i) for i, t in enumerate(texts)]


def _state(store) -> tuple:
    """Everything a reader can see."""
    chunks = [(c.uid, c.text) for c in store.records.iter_chunks()]
    files = [(f.doc, f.chunks) for f in store.files()]
    found = [chunk_id for chunk_id, _ in store.lexical.search("alpha beta gamma delta", 10)]
    near = store.dense.search(_vectors(1, 9)[0], 10)
    return store.generation, store.records.state, chunks, files, sorted(found), sorted(near)


def _first_batches(store) -> None:
    with store.writer():
        store.replace_documents(
            [(_file("a.txt", 2), _chunks("a.txt", ["alpha", "beta"]), _vectors(2))]
        )
        store.replace_documents([(_file("b.txt", 1), _chunks("b.txt", ["gamma"]), _vectors(1, 1))])


_KILLED_WRITER = """
import json, os, sys
import numpy as np
from pathlib import Path
from kbqa.settings import StoreSettings
from kbqa.store.factory import open_store
from kbqa.store.milvus_records import MilvusRecordStore
from kbqa.store.base import FileRecord, NewChunk

# The test module's helpers, repeated: importing it (LangChain's suites) would double start-up.
def _vectors(count, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(count, 8)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

def _file(doc, chunks):
    return FileRecord(doc, doc, None, f"sha-{doc}-{chunks}", 1, 1.0, None, chunks, 1.0)

def _chunks(doc, texts):
    return [NewChunk(f"{doc}#{i}", t, {"source": doc}, doc, i) for i, t in enumerate(texts)]

def _first_batches(store):
    with store.writer():
        store.replace_documents([(_file("a.txt", 2), _chunks("a.txt", ["alpha", "beta"]), _vectors(2))])
        store.replace_documents([(_file("b.txt", 1), _chunks("b.txt", ["gamma"]), _vectors(1, 1))])

store = open_store(Path(sys.argv[1]), StoreSettings(uri=sys.argv[2]), create=True)
_first_batches(store)
where = sys.argv[3]
real = MilvusRecordStore._put_meta

def put_meta(self, values):
    commit = json.loads(values.get("commit", "{}") or "{}")
    if where == "before commit" and commit.get("generation") == 3:
        os._exit(9)  # rows and gone rows written, the commit record not
    real(self, values)
    if where == "after commit" and commit.get("generation") == 3 and commit.get("gone"):
        os._exit(9)  # committed, nothing swept

MilvusRecordStore._put_meta = put_meta
with store.writer():
    store.replace_documents(
        [(_file("a.txt", 3), _chunks("a.txt", ["alpha two", "delta", "beta two"]), _vectors(3, 2))]
    )
    store.delete_documents(["b.txt"])
"""


CRASHES = ["before commit", "after commit"]


@pytest.fixture(scope="module")
def killed_writers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Both killed writers, run at once (each is a process that imports kbqa and pymilvus)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = {}
    for where in CRASHES:
        folder = tmp_path_factory.mktemp("killed")
        uri = f"milvus://{folder / 'crash.db'}"
        command = [sys.executable, "-c", _KILLED_WRITER, str(folder / "kb"), uri, where]
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        started[where] = (process, folder, uri)
    return started


@pytest.mark.parametrize("where", CRASHES)
def test_a_writer_killed_mid_batch_leaves_a_whole_state(
    killed_writers: dict[str, tuple], where: str
) -> None:
    process, folder, uri = killed_writers[where]
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 9, errors[-2000:]
    store = open_store(folder / "kb", StoreSettings(uri=uri))
    try:
        generation, _, chunks, files, found, _ = _state(store)
        if where == "before commit":  # the killed batch is invisible: the last commit stands
            assert generation == 2
            assert chunks == [("a.txt#0", "alpha"), ("a.txt#1", "beta"), ("b.txt#0", "gamma")]
            assert files == [("a.txt", 2), ("b.txt", 1)] and len(found) == 3
        else:  # committed: all of it shows, though nothing was swept
            assert generation == 3
            assert chunks == [
                ("b.txt#0", "gamma"),
                ("a.txt#0", "alpha two"),
                ("a.txt#1", "delta"),
                ("a.txt#2", "beta two"),
            ]
            assert files == [("a.txt", 3), ("b.txt", 1)] and len(found) == 4
        assert store.check() == []
        before = _state(store)
        with store.writer():  # the next batch sweeps what the killed one left
            store.delete_uids(["no-such-uid"])
        assert _state(store) == before
        names = store.records.names
        held = store.records.client.query(names["chunks"], filter="id >= 0", output_fields=["id"])
        assert len(held) == len(chunks)  # rows of the killed batch, or swept ones, are gone
        assert (
            store.records.client.query(names["gone"], filter='key != ""', output_fields=["key"])
            == []
        )
    finally:
        store.close()


def _fail(*args: object) -> None:
    raise RuntimeError("killed before the sweep")


def test_a_failing_batch_writes_nothing_and_a_second_client_sees_commits(
    tmp_path: Path, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"crash{uuid.uuid4().hex[:8]}"
    one = open_store(tmp_path / "one", StoreSettings(uri=milvus_uri), create=True, name=name)
    # A second client (a replica) of the same base: create attaches, it never wipes.
    _first_batches(one)
    two = open_store(tmp_path / "two", StoreSettings(uri=milvus_uri), create=True, name=name)
    try:
        committed = _state(one)
        assert _state(two) == committed and committed[0] == 2
        # A batch that fails half-way: nothing of it is seen, by either client.
        failing = pytest.raises(RuntimeError, match="disk on fire")
        with one.writer(), failing, one.records.transaction() as tx:
            ids = one.records.delete_chunks(tx, doc="a.txt")
            one.lexical.remove(tx, ids)
            one.records.insert_chunks(tx, _chunks("a.txt", ["delta"]), _vectors(1, 3))
            raise RuntimeError("disk on fire")
        assert _state(one) == _state(two) == committed
        # A batch whose clean-up never ran (as if killed): still invisible, swept next time.
        monkeypatch.setattr(MilvusRecordStore, "_discard", lambda self, batch: None)
        with one.writer(), pytest.raises(RuntimeError), one.records.transaction() as tx:
            one.records.delete_chunks(tx, doc="b.txt")
            new = one.records.insert_chunks(tx, _chunks("c.txt", ["delta"]), _vectors(1, 4))
            one.lexical.add(tx, zip(new, _chunks("c.txt", ["delta"]), strict=True))
            raise RuntimeError
        monkeypatch.undo()
        assert _state(two) == committed
        assert two.lexical.search("delta", 5) == [] and two.count() == 3
        # A commit through one client is seen by the other's next read (nothing cached).
        with two.writer(wait_s=5):
            two.delete_documents(["b.txt"])
        assert one.count() == 2 and [f.doc for f in one.files()] == ["a.txt"]
        assert one.generation == 3 and one.records.state == two.records.state != committed[1]
        assert one.lexical.search("gamma delta", 5) == []
        # A failure after the commit point (the sweep) keeps the commit; the next batch sweeps.
        monkeypatch.setattr(MilvusRecordStore, "_sweep", _fail)
        with one.writer(), pytest.raises(RuntimeError, match="sweep"):
            one.delete_documents(["a.txt"])
        monkeypatch.undo()
        assert two.count() == 0 and two.files() == [] and two.generation == 4
        assert (
            two.lexical.search("alpha beta", 5) == [] and two.dense.search(_vectors(1)[0], 5) == []
        )
        with two.writer():
            two.replace_documents([(_file("d.txt", 1), _chunks("d.txt", ["omega"]), _vectors(1))])
        assert [c.uid for c in one.records.iter_chunks()] == ["d.txt#0"]
        # One writer at a time, across clients (a flock beside the Lite file).
        locked = pytest.raises(KnowledgeBaseLocked, match="being written by another")
        with one.writer(), locked, two.writer():
            pass
        assert one.check() == []
    finally:
        with one.writer():
            one.records.drop()
        assert not any(n.startswith(f"kbqa_{name}_") for n in one.records.client.list_collections())
        one.close()
        two.close()
    with pytest.raises(KnowledgeBaseError, match=f"no knowledge base '{name}'"):
        open_store(tmp_path / "one", StoreSettings(uri=milvus_uri))


def test_check_finds_what_is_out_of_step_and_repair_mends_it(
    tmp_path: Path, milvus_uri: str
) -> None:
    name = f"check{uuid.uuid4().hex[:8]}"
    store = open_store(tmp_path / "kb", StoreSettings(uri=milvus_uri), create=True, name=name)
    try:
        _first_batches(store)
        store.records.client.delete(store.records.names["lexical"], ids=[1])
        problems = store.check()
        assert [p.part for p in problems] == ["lexical index"] and problems[0].repairable
        with store.writer():
            store.repair(problems)
        assert store.check() == [] and sorted(
            i for i, _ in store.lexical.search("alpha beta", 5)
        ) == [1, 2]
        assert store.dense.index().ntotal == 3
        # The commit record's counts (chunks; BM25's words) are checked and recounted.
        records = store.records
        records.set_counts(records.view(), tokens=99, rows=7)
        problems = store.check()
        assert [p.part for p in problems] == ["records", "lexical index"]
        assert all(p.repairable for p in problems)
        assert "3 chunks stored, the commit record counts 7" in str(problems[0])
        assert "the commit record says 99" in str(problems[1])
        with store.writer():
            store.repair(problems)
        assert store.check() == [] and store.count() == 3
    finally:
        store.records.drop()
        store.close()


def test_uris_credentials_and_an_unreachable_server(
    tmp_path: Path, milvus_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.delenv("KBQA_STORE_PASSWORD", raising=False)
    assert connection(Remote("milvus://alice:pw@db.example:19531/kb", "x")) == (
        "http://db.example:19531",
        {"token": "alice:pw", "db_name": "kb"},
    )
    assert connection(Remote("milvus+https://db.example", "x")) == ("https://db.example:443", {})
    assert connection(Remote("milvus:///srv/kb.db", "x")) == ("/srv/kb.db", {})
    monkeypatch.setenv("KBQA_STORE_PASSWORD", "from-env")
    assert connection(Remote("milvus://alice@h", "x"))[1] == {"token": "alice:from-env"}
    monkeypatch.setenv("MILVUS_TOKEN", "api-key")
    assert connection(Remote("milvus://h", "x"))[1] == {"token": "api-key"}
    assert connection(Remote("milvus://h?token=t0k", "x"))[1] == {"token": "t0k"}
    # Collection names: what Milvus allows, one name to one prefix.
    names = ["kb", "my-kb", "my_2d_kb", "my__kb", "中文库", "a.b", "知" * 64]
    prefixes = [collection_prefix(n) for n in names]
    assert len(set(prefixes)) == len(names)
    assert all(re.fullmatch(r"kbqa_\w{1,200}", p) and p.isascii() for p in prefixes)
    with pytest.raises(KnowledgeBaseError, match="absolute .db path"):
        connection(Remote("milvus:///srv/kb", "x"))

    # A server that does not answer: a clear error naming the URI without its password.
    home = tmp_path / "home"
    settings = _settings(home, "milvus://alice:s3cret@127.0.0.1:9")
    with pytest.raises(
        KnowledgeBaseError, match=r"cannot reach Milvus at milvus://alice@127.0.0.1:9"
    ) as error:
        KnowledgeBase.create("down", settings)
    assert "s3cret" not in str(error.value) and not KnowledgeBase.exists("down", settings)

    # A secret in the URI is used, never written: not in remote.json, the manifest, the meta rows.
    kb = KnowledgeBase.create("kept", _settings(home, f"{milvus_uri}?token=s3cret"))
    try:
        (home / "doc.txt").write_text("Quokkas live on Rottnest Island.", "utf-8")
        kb.add(home / "doc.txt")
        pointer = (kb.path / "remote.json").read_text("utf-8")
        assert json.loads(pointer)["records"] == "milvus"
        meta = kb.store.records.client.query(
            kb.store.records.names["meta"], filter='key != ""', output_fields=["key", "value"]
        )
        for text in [pointer, json.dumps(kb.info(), default=str), json.dumps(meta)]:
            assert "s3cret" not in text
        assert not any(
            "s3cret" in p.read_text("utf-8", "replace") for p in kb.path.rglob("*") if p.is_file()
        )
        again = KnowledgeBase.open("kept", _settings(home))  # the password is not needed here
        assert again.search("quokka", k=1)[0].source == "doc.txt"
        again.close()
    finally:
        kb.close()
    KnowledgeBase.delete("kept", _settings(home))
    assert not KnowledgeBase.exists("kept", _settings(home))


def test_a_servers_writer_lease_excludes_a_second_writer_and_expires(
    tmp_path: Path, milvus_uri: str
) -> None:
    """The lease a server's writers take (milvus_lock.py), on Milvus Lite's same client API."""
    name = f"lease{uuid.uuid4().hex[:8]}"
    store = open_store(tmp_path / "kb", StoreSettings(uri=milvus_uri), create=True, name=name)
    records = store.records
    try:
        with lease_writer(records, 0):
            held = json.loads(records._meta(["writer"])["writer"])
            assert held["expires"] > time.time() + 30
            locked = pytest.raises(KnowledgeBaseLocked, match="being written by another process")
            with locked, lease_writer(records, 0):
                pass
        assert records._meta(["writer"]) == {}  # given back
        # A lease its writer never gave back (killed) is taken once it has expired.
        stale = {"owner": "gone-host:1:x", "expires": time.time() - 1}
        records._put_meta({"writer": json.dumps(stale)})
        with lease_writer(records, 0):
            assert json.loads(records._meta(["writer"])["writer"])["owner"] != stale["owner"]
    finally:
        records.drop()
        store.close()


_BM25_TEXTS = [
    "cache.max_entries 的默认值为 4096。缓存满时按 cache.eviction_policy 淘汰。",
    "The default value of cache.max_entries is 4096; max entries beyond it are evicted.",
    "代理服务器默认使用 8417 端口。要修改端口，请编辑 proxy.toml 文件中的 listen_port 选项。",
    "Error E5521 means the licence has expired. Error error error.",
    "max max max entries entries cache cache_max",
]


def test_milvus_bm25_scores_equal_fts5s(tmp_path: Path, milvus_uri: str) -> None:
    """Hybrid search fuses the BM25 scores themselves, so the milvus-bm25 index must give FTS5's
    ids in FTS5's order and FTS5's scores (its `-bm25()`), with and without an id filter."""
    chunks = [NewChunk(f"u{i}", text, {}) for i, text in enumerate(_BM25_TEXTS)]
    vectors = np.eye(len(chunks), 8, dtype=np.float32)
    name = f"bm{uuid.uuid4().hex[:12]}"
    stores = [
        open_store(tmp_path / "local", StoreSettings(), create=True),
        open_store(tmp_path / "served", StoreSettings(uri=milvus_uri), create=True, name=name),
    ]
    try:
        for store in stores:
            with store.writer():
                store.upsert_chunks(chunks, vectors)
        to_uid = [{c.id: c.uid for c in store.records.iter_chunks()} for store in stores]
        allowed = [np.asarray([i for i, u in ids.items() if u in {"u1", "u4"}]) for ids in to_uid]
        for query in ("cache.max_entries 默认值", "max entries", "error E5521", "代理服务器端口"):
            for keep in (None, allowed):
                found = [
                    [
                        (ids[i], score)
                        for i, score in s.lexical.search(query, 10, None if keep is None else a)
                    ]
                    for s, ids, a in zip(stores, to_uid, allowed, strict=True)
                ]
                assert found[0] or keep is not None, query
                assert [u for u, _ in found[1]] == [u for u, _ in found[0]], query
                assert [s for _, s in found[1]] == pytest.approx([s for _, s in found[0]]), query
    finally:
        stores[1].records.drop()
        for store in stores:
            store.close()
