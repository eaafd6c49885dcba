"""Starting and stopping the real servers the tests run (`kbqa ui`, `kbqa serve`, `transformers
serve`) as subprocesses on loopback: a free port, waiting until one answers, stopping it."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_answering(
    process: subprocess.Popen,
    url: str,
    *,
    answers: Callable[[int], bool],
    what: str,
    log_tail: Callable[[], str],
    timeout: float = 120,
) -> None:
    """Poll `url` until its status code `answers`; if the process exits or `timeout` passes,
    stop it and raise with the end of its log."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{log_tail()}")
        try:
            if answers(httpx.get(url, timeout=2).status_code):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process(process)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s:\n{log_tail()}")
