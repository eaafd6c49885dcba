"""Browser-test harness: a real `kbqa ui` server on 127.0.0.1 and Debian's Chromium via Playwright.

The server runs as a subprocess (the installed `kbqa ui` command, exactly as users start it)
with a temporary KBQA_HOME; answers come from the real default model, kept short by
KBQA_LLM__MAX_NEW_TOKENS. Screenshots and the server log go to test-artifacts/ui/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import free_port, stop_process, wait_until_answering

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
    wait_until_answering(
        process,
        server.url + "/",
        answers=lambda status: status < 500,
        what="kbqa ui",
        log_tail=server.log_tail,
    )
    return server


def stop_server(server: Server) -> None:
    stop_process(server.process)


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
