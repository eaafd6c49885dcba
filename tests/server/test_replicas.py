"""Two `kbqa serve` replicas, each with its own KBQA_HOME, over one knowledge base kept in a real
PostgreSQL + pgvector (pgserver): what is uploaded through one is searched and answered through
the other with no restart, and concurrent uploads through both lose and duplicate nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openai import OpenAI

from tests.pgserver_fixture import pg_database, pg_server  # noqa: F401
from tests.server.conftest import Server, server_env, start_server, stop_server, wait_until_ready

TOKEN = "replica-token-51c9"
KB = "shared"

FACTS = {
    f"site{number}.txt": f"Relay station R{number}0{number} in the valley of {valley} runs on "
    f"{number * 7} kilowatts and was opened in {1990 + number}.\n"
    for number, valley in enumerate(["Arden", "Belmora", "Corvel", "Dunmere", "Estrel", "Faron"], 1)
}


def _attach(home: Path, uri: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kbqa", "kb", "create", KB, "--store", uri],
        env=server_env(home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory,
    pg_server,  # noqa: F811
) -> Iterator[tuple[Server, Server]]:
    uri = pg_server.database_uri("postgres")
    homes = [tmp_path_factory.mktemp(f"replica-{name}") for name in "ab"]
    assert "created" in _attach(homes[0], uri)
    assert "attached to knowledge base 'shared'" in _attach(homes[1], uri)  # the same base
    with ThreadPoolExecutor(2) as pool:  # both start (and load their models) at once
        servers = list(pool.map(lambda h: start_server(h, f"replica-{h.name}", TOKEN), homes))
    try:
        for server in servers:
            wait_until_ready(server, timeout=300)  # two models load at once
        yield servers[0], servers[1]
    finally:
        for server in servers:
            stop_server(server)


def _upload(server: Server, names: list[str]) -> list[str]:
    files = [("files", (name, FACTS[name].encode(), "text/plain")) for name in names]
    with server.client() as client:
        reply = client.post(f"/v1/kbs/{KB}/files", files=files, params={"wait": "true"})
    assert reply.status_code == 200, reply.text
    return [result["status"] for result in reply.json()["results"]]


def _files(server: Server) -> dict[str, int]:
    with server.client() as client:
        reply = client.get(f"/v1/kbs/{KB}/files")
    assert reply.status_code == 200, reply.text
    return {f["doc"]: f["chunks"] for f in reply.json()["data"]}


def test_an_upload_through_one_replica_is_answered_through_the_other(replicas) -> None:
    first, second = replicas
    assert _upload(first, ["site1.txt"]) == ["added"]
    with second.client() as client:
        found = client.post(f"/v1/kbs/{KB}/search", json={"query": "Arden relay kilowatts", "k": 3})
    assert found.status_code == 200, found.text
    assert found.json()["hits"][0]["source"] == "site1.txt"
    answer = OpenAI(base_url=second.url + "/v1", api_key=TOKEN).chat.completions.create(
        model=f"kb:{KB}",
        messages=[{"role": "user", "content": "When was the Arden relay station opened?"}],
    )
    sources = answer.model_extra["sources"]
    assert sources and sources[0]["file"] == "site1.txt"
    assert "1991" in answer.choices[0].message.content


def test_concurrent_uploads_through_both_lose_and_duplicate_nothing(replicas) -> None:
    first, second = replicas
    batches = [(first, ["site2.txt", "site3.txt"]), (second, ["site4.txt", "site5.txt"])]
    with ThreadPoolExecutor(2) as pool:
        statuses = list(pool.map(lambda job: _upload(*job), batches))
    assert statuses == [["added", "added"], ["added", "added"]]
    # The same file uploaded through both at once: one copy of its chunks, not two.
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda server: _upload(server, ["site6.txt"]), replicas))
    assert sorted(s for result in again for s in result) in (
        ["added", "unchanged"],
        ["added", "updated"],
    )
    listed = _files(first)
    assert listed == _files(second)
    assert set(listed) == {f"site{n}.txt" for n in range(1, 7)}
    with first.client() as client:
        hits = client.post(
            f"/v1/kbs/{KB}/search", json={"query": "relay station kilowatts", "k": 20}
        ).json()["hits"]
    ids = [hit["chunk_id"] for hit in hits]
    assert len(ids) == len(set(ids)) == sum(listed.values())  # every chunk once
