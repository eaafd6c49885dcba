"""The knowledge-base routes over httpx against the running server: create and list, upload in a
background job (polled), search, remove; uploads checked as the web app checks them."""

from __future__ import annotations

import time

import httpx

from tests.server.conftest import KB, MAX_UPLOAD_MB


def _poll(client: httpx.Client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}")
        assert job.status_code == 200
        if job.json()["status"] in {"done", "failed"}:
            return job.json()
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def test_create_list_and_conflict(client: httpx.Client) -> None:
    created = client.post("/v1/kbs", json={"name": "scratch"})
    assert created.status_code == 201 and created.json()["files"] == 0
    again = client.post("/v1/kbs", json={"name": "scratch"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "kb_exists"
    names = [kb["name"] for kb in client.get("/v1/kbs").json()["data"]]
    assert {"scratch", KB} <= set(names)
    bad = client.post("/v1/kbs", json={"name": "../escape"})
    assert bad.status_code == 400 and bad.json()["error"]["message"]


def test_upload_job_search_and_remove(client: httpx.Client) -> None:
    client.post("/v1/kbs", json={"name": "notes"})
    text = "The Kestrel drone carries a 3 kilogram payload for 40 minutes.\n"
    accepted = client.post(
        "/v1/kbs/notes/files",
        files=[
            ("files", ("kestrel.txt", text.encode(), "text/plain")),
            ("files", ("tool.exe", b"MZ\x90\x00", "application/octet-stream")),
            ("files", ("fake.pdf", b"not a pdf at all", "application/pdf")),
        ],
    )
    assert accepted.status_code == 202
    job = accepted.json()
    assert job["status"] in {"queued", "running", "done"}
    assert job["files"] == ["kestrel.txt", "tool.exe", "fake.pdf"]
    done = _poll(client, job["id"])
    assert done["status"] == "done"
    results = {r["name"]: r for r in done["results"]}
    assert results["kestrel.txt"]["status"] == "added" and results["kestrel.txt"]["chunks"] == 1
    assert results["tool.exe"]["status"] == "rejected"
    assert results["tool.exe"]["code"] == "unsupported_type"
    assert results["fake.pdf"]["code"] == "wrong_content"
    assert job["id"] in [j["id"] for j in client.get("/v1/jobs").json()["data"]]

    files = client.get("/v1/kbs/notes/files").json()["data"]
    assert [f["doc"] for f in files] == ["kestrel.txt"]
    found = client.post("/v1/kbs/notes/search", json={"query": "drone payload", "k": 3})
    assert found.status_code == 200
    hits = found.json()["hits"]
    assert hits[0]["source"] == "kestrel.txt" and "3 kilogram" in hits[0]["text"]
    assert 0 <= hits[0]["score"] <= 1

    removed = client.delete("/v1/kbs/notes/files/kestrel.txt")
    assert removed.status_code == 200 and removed.json()["removed_chunks"] == 1
    assert client.get("/v1/kbs/notes/files").json()["data"] == []
    again = client.delete("/v1/kbs/notes/files/kestrel.txt")
    assert again.status_code == 404 and again.json()["error"]["code"] == "file_not_found"
    assert client.post("/v1/kbs/notes/search", json={"query": "drone"}).json()["hits"] == []


def test_search_modes_and_source_filter(client: httpx.Client) -> None:
    for mode in ("hybrid", "dense", "bm25"):
        hits = client.post(
            f"/v1/kbs/{KB}/search", json={"query": "tomatoes greenhouse", "mode": mode}
        ).json()["hits"]
        assert hits[0]["source"] == "greenhouse.txt", mode
    only = client.post(
        f"/v1/kbs/{KB}/search", json={"query": "tomatoes", "sources": ["pump.txt"]}
    ).json()["hits"]
    assert {h["source"] for h in only} == {"pump.txt"}


def test_upload_over_the_size_limit_is_a_413(client: httpx.Client) -> None:
    big = b"a" * ((MAX_UPLOAD_MB + 1) * 1024 * 1024 + 10)
    refused = client.post(f"/v1/kbs/{KB}/files", files=[("files", ("big.txt", big, "text/plain"))])
    assert refused.status_code == 413
    assert refused.json()["error"]["code"] == "request_too_large"

    # Without a Content-Length (chunked) too.
    def chunks():
        boundary = b"--x\r\n"
        yield boundary + b'Content-Disposition: form-data; name="files"; filename="b.txt"\r\n\r\n'
        # Just past the limit (the files' limit plus 1 MiB of framing): the server stops reading
        # there, and what the client still sends fits the socket buffers.
        for _ in range((MAX_UPLOAD_MB + 1) * 4 + 1):
            yield b"a" * 256 * 1024
        yield b"\r\n--x--\r\n"

    chunked = client.post(
        f"/v1/kbs/{KB}/files",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert chunked.status_code == 413
    assert client.get(f"/v1/kbs/{KB}/files").json()["data"][0]["doc"] != "b.txt"


def test_upload_errors(client: httpx.Client) -> None:
    missing = client.post("/v1/kbs/nowhere/files", files=[("files", ("a.txt", b"x", "text/plain"))])
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "kb_not_found"
    nothing = client.post(f"/v1/kbs/{KB}/files", data={"other": "1"})
    assert nothing.status_code == 400 and nothing.json()["error"]["param"] == "files"
    job = client.get("/v1/jobs/0123")
    assert job.status_code == 404 and job.json()["error"]["code"] == "job_not_found"
