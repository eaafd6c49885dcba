"""Browser-test harness: a real `kbqa ui` server on 127.0.0.1 and Debian's Chromium via Playwright.

The server runs as a subprocess (the installed `kbqa ui` command, exactly as users start it)
with a temporary KBQA_HOME; answers come from the real default model, kept short by
KBQA_LLM__MAX_NEW_TOKENS. Screenshots and the server log go to test-artifacts/ui/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "ui"
CHROMIUM = Path("/usr/bin/chromium")
# Flags for a headless, offline, throw-away browser (docs: shared/reference/stack-facts.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MAX_NEW_TOKENS = "48"  # short answers: the test is about the UI, not the prose


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    log: Path
    process: subprocess.Popen

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_server(
    home: Path,
    name: str,
    *extra: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start `kbqa ui` on a free loopback port, in `cwd` (default: `home`), and wait until it
    answers."""
    import httpx

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = ARTIFACTS / f"{name}-server.log"
    environ = {
        **os.environ,
        "KBQA_HOME": str(home),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "TOKENIZERS_PARALLELISM": "false",
        "KBQA_LLM__MAX_NEW_TOKENS": MAX_NEW_TOKENS,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kbqa", "ui", "--port", str(port), *extra],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=environ,
        cwd=cwd or home,
    )
    server = Server(f"http://127.0.0.1:{port}", home, log, process)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kbqa ui exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(server.url + "/", timeout=2).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    stop_server(server)
    raise RuntimeError(f"kbqa ui did not answer within 120 s:\n{server.log_tail()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("kbqa-ui-home")
    server = start_server(home, "app")  # language follows each browser's locale
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: run scripts/setup.sh --test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh temporary profile (user-data dir).
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


def copy_screenshot(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
