"""`kbqa bench ask`: time to the first answer token, cold and warm, on the sample knowledge base.

- cold: `kbqa ask QUESTION` in a fresh process, from process start to the first byte of the
  answer on its stdout (imports, opening the knowledge base, loading the model, retrieval,
  prefill, first token). The knowledge base and the model's converted weights exist already (a
  warm-up run makes sure); the page cache is warm, as on a machine that used kbqa before.
- warm: `kbqa chat` in one process; the second question's time from sending it to the first byte
  of its answer (model loaded, a follow-up that is rewritten and retrieved again).
- first use (reported once): `kbqa ask` on an empty KBQA_HOME, so the sample knowledge base is
  built and the GGUF is converted first.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

QUESTION = "ChatGLM-6B 有多少参数？"
FOLLOW_UP = "它有多少层？"
COLD_TARGET_S = 10.0
WARM_TARGET_S = 3.0
RUNS = int(os.environ.get("KBQA_BENCH_RUNS", "3"))


def _env(home: str | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
    if home:
        env["KBQA_HOME"] = home
    return env


def _read_until(process: subprocess.Popen, marker: bytes, timeout: float) -> tuple[bytes, float]:
    """Read stdout until `marker` appears; returns what was read and when the marker came."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.perf_counter() + timeout
    while marker not in data:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError(f"no {marker!r} within {timeout} s; got {data[-200:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"process ended early: {data[-300:]!r}")
            data += chunk
    return data, time.perf_counter()


def _first_output(process: subprocess.Popen, timeout: float) -> float:
    """Seconds until the process writes its first non-blank byte to stdout."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.perf_counter() + timeout
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("no answer token")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("process ended without output")
            if chunk.strip():
                return time.perf_counter()


def cold_once(home: str | None = None, timeout: float = 300) -> tuple[float, float]:
    """(seconds to the first answer byte, seconds to exit) of one `kbqa ask`."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "kbqa", "ask", QUESTION],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(home),
    )
    try:
        first = _first_output(process, timeout) - start
        process.communicate(timeout=timeout)
        return first, time.perf_counter() - start
    finally:
        if process.poll() is None:
            process.kill()


def warm_once(timeout: float = 300) -> float:
    """Seconds from sending the second question to `kbqa chat` to the first byte of its answer."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kbqa", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_env(),
    )
    assert process.stdin is not None
    try:
        _read_until(process, b"> ", timeout)
        process.stdin.write(QUESTION.encode() + b"\n")
        process.stdin.flush()
        _read_until(process, b"> ", timeout)  # the first answer, then the next prompt
        sent = time.perf_counter()
        process.stdin.write(FOLLOW_UP.encode() + b"\n")
        process.stdin.flush()
        first = _first_output(process, timeout) - sent
        _read_until(process, b"> ", timeout)
        process.stdin.write(b"/quit\n")
        process.stdin.flush()
        process.wait(timeout=30)
        return first
    finally:
        if process.poll() is None:
            process.kill()


def run(args: argparse.Namespace) -> int:
    print(f"kbqa bench ask: {os.cpu_count()} CPU(s), {RUNS} runs each (KBQA_BENCH_RUNS)")
    with tempfile.TemporaryDirectory(prefix="kbqa-bench-home-") as fresh:
        first_use, first_exit = cold_once(home=fresh)
    print(f"first use (empty KBQA_HOME: build sample KB, convert model): {first_use:.1f} s")
    cold_once()  # warm-up: the knowledge base and converted model exist, files are cached
    colds = [cold_once() for _ in range(RUNS)]
    cold = statistics.median(c[0] for c in colds)
    total = statistics.median(c[1] for c in colds)
    warms = [warm_once() for _ in range(RUNS)]
    warm = statistics.median(warms)
    print(f"{'measure':<42}{'median':>9}{'target':>9}{'ratio':>8}")
    print(
        f"{'cold: kbqa ask, start to first token':<42}{cold:>8.2f}s{COLD_TARGET_S:>8.1f}s"
        f"{cold / COLD_TARGET_S:>8.2f}"
    )
    print(
        f"{'warm: kbqa chat, 2nd question to 1st token':<42}{warm:>8.2f}s{WARM_TARGET_S:>8.1f}s"
        f"{warm / WARM_TARGET_S:>8.2f}"
    )
    print(
        f"cold runs: {', '.join(f'{c[0]:.2f}' for c in colds)} s "
        f"(whole command: {total:.1f} s); warm runs: {', '.join(f'{w:.2f}' for w in warms)} s"
    )
    return 0
