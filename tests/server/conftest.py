"""One real `kbqa serve` for the server tests: a subprocess on a free loopback port, a fresh
KBQA_HOME, a bearer token from KBQA_SERVE__TOKEN, and a knowledge base "docs" of two short text
files uploaded through the API. Answers come from the default SmolLM2, kept short; the converted
model is shared through KBQA_MODEL_CACHE when the test command sets it (scripts/test.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import free_port, stop_process, wait_until_answering

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "server"
TOKEN = "kbqa-test-token-7f3a"
KB = "docs"
PUMP = (
    "The Zephyr-7 pump was designed by Mara Lindqvist in 2019. "
    "The Zephyr-7 pump weighs 42 kilograms and runs on 230 volts.\n"
)
GREENHOUSE = (
    "The Aurora greenhouse in Tromso grows tomatoes all winter under LED lamps. "
    "Its manager is Ole Hansen.\n"
)
MAX_UPLOAD_MB = 1


@dataclass
class Server:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.auth, timeout=120, **kwargs)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def server_env(home: Path, **extra: str) -> dict[str, str]:
    environ = {
        **os.environ,
        "KBQA_HOME": str(home),
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONUNBUFFERED": "1",
        # Short answers: the tests are about the API, not the prose.
        "KBQA_LLM__MAX_NEW_TOKENS": "4",
        "KBQA_UI__MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        **extra,
    }
    environ.pop("KBQA_SERVE__TOKEN", None)
    environ.update(extra)
    return environ


def start_server(home: Path, name: str, token: str | None) -> Server:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = ARTIFACTS / f"{name}.log"
    env = server_env(home, **({"KBQA_SERVE__TOKEN": token} if token else {}))
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kbqa", "serve", "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=home,
    )
    server = Server(f"http://127.0.0.1:{port}", home, log, process, token or "")
    wait_until_answering(
        process,
        server.url + "/health",
        answers=lambda status: status == 200,
        what="kbqa serve",
        log_tail=server.log_tail,
    )
    return server


def stop_server(server: Server) -> None:
    stop_process(server.process)


def wait_until_ready(server: Server, timeout: float = 120) -> None:
    """Until the preloaded model is ready (the first answer then does not wait for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = httpx.get(server.url + "/health", timeout=5).json()["models"]
        if models and all(m["state"] == "ready" for m in models):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the model did not load within {timeout} s:\n{server.log_tail()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server, with knowledge base "docs" holding pump.txt and greenhouse.txt."""
    home = tmp_path_factory.mktemp("kbqa-serve-home")
    server = start_server(home, "serve", TOKEN)
    try:
        with server.client() as client:
            assert client.post("/v1/kbs", json={"name": KB}).status_code == 201
            files = [
                ("files", ("pump.txt", PUMP.encode(), "text/plain")),
                ("files", ("greenhouse.txt", GREENHOUSE.encode(), "text/plain")),
            ]
            job = client.post(f"/v1/kbs/{KB}/files", files=files, params={"wait": "true"})
            assert job.status_code == 200, job.text
            assert [r["status"] for r in job.json()["results"]] == ["added", "added"]
        wait_until_ready(server)
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
