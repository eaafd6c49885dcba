"""`kbqa bench serve`: concurrent chat requests against `kbqa serve` with the default model.

For 1, 4 and 16 concurrent clients (`--clients`), each client sends `--per-client` streamed
`POST /v1/chat/completions` requests one after another (questions on the sample knowledge base,
in turn). Per level: requests/s over the level's wall time, p50/p95 time to the first content
chunk and to `data: [DONE]`, and errors (a non-200 answer, an error event, a stream without
`[DONE]` or without content).

Without `--url` a server is started (`python -m kbqa serve` on a free loopback port, a fresh
KBQA_HOME unless `--home`; KBQA_MODEL_CACHE is passed on) and stopped at the end; one warm-up
request first builds the sample knowledge base and loads the model, and is not counted.

One server process answers one request at a time per loaded model (the service's model lock):
the figures show how requests queue, not parallel decoding. More throughput is more replicas
(docs/deploy.md).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kbqa.bench.common import machine, percentile

QUESTIONS = [
    "ChatGLM-6B 有多少参数？",
    "How many layers does LLaMA-7B have?",
    "BLOOM 的词表大小是多少？",
    "What is the maximum sequence length of ChatGLM-6B?",
]


@dataclass
class Result:
    ok: bool
    first_token: float | None = None
    total: float = 0.0
    error: str = ""


@dataclass
class Level:
    clients: int
    results: list[Result] = field(default_factory=list)
    wall: float = 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, token: str | None, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "KBQA_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    if token:
        env["KBQA_SERVE__TOKEN"] = token
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kbqa", "serve", "--port", str(port)],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"kbqa serve exited with {process.returncode}; see {log}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    process.terminate()
    raise RuntimeError(f"kbqa serve did not answer within 300 s; see {log}")


def ask(client, body: dict) -> Result:
    """One streamed request: time to the first content chunk and to [DONE]."""
    started = time.perf_counter()
    first = None
    done = False
    try:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            if response.status_code != 200:
                response.read()
                return Result(False, error=f"HTTP {response.status_code}: {response.text[:200]}")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return Result(False, error=chunk["error"].get("message", "error event"))
                choices = chunk.get("choices") or [{}]
                if first is None and (choices[0].get("delta") or {}).get("content"):
                    first = time.perf_counter() - started
    except Exception as error:  # the bench reports it as an error and goes on
        return Result(False, error=f"{type(error).__name__}: {error}")
    total = time.perf_counter() - started
    if not done:
        return Result(False, first, total, "stream ended without [DONE]")
    if first is None:
        return Result(False, None, total, "no content")
    return Result(True, first, total)


def run_level(url: str, headers: dict, clients: int, per_client: int, body: dict) -> Level:
    import httpx

    level = Level(clients)
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            for turn in range(per_client):
                question = QUESTIONS[(index + turn) % len(QUESTIONS)]
                result = ask(client, {**body, "messages": [{"role": "user", "content": question}]})
                with lock:
                    level.results.append(result)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    level.wall = time.perf_counter() - started
    return level


def _ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.0f}" if values else "-"


def report(levels: list[Level]) -> str:
    lines = [
        "| clients | requests | errors | requests/s | first token p50 / p95 (ms) "
        "| total p50 / p95 (ms) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for level in levels:
        ok = [r for r in level.results if r.ok]
        firsts = [r.first_token for r in ok if r.first_token is not None]
        totals = [r.total for r in ok]
        rate = len(ok) / level.wall if level.wall else 0.0
        lines.append(
            f"| {level.clients} | {len(level.results)} | {len(level.results) - len(ok)} "
            f"| {rate:.2f} | {_ms(firsts, 50)} / {_ms(firsts, 95)} "
            f"| {_ms(totals, 50)} / {_ms(totals, 95)} |"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import httpx

    clients = [int(part) for part in args.clients.split(",") if part.strip()]
    token = args.token or os.environ.get("KBQA_SERVE__TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body: dict = {"model": f"kb:{args.kb}", "stream": True}
    if args.max_tokens:
        body["max_tokens"] = args.max_tokens
    process = None
    url = args.url
    temp = None
    if not url:
        if args.home:
            home = Path(args.home)
        else:
            temp = tempfile.TemporaryDirectory(prefix="kbqa-bench-serve-")
            home = Path(temp.name)
        log = Path(tempfile.gettempdir()) / "kbqa-bench-serve.log"
        process, url = start_server(home, token, log)
        print(f"started kbqa serve at {url} (home {home}, log {log})", file=sys.stderr)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=900) as client:
            warm = time.perf_counter()
            first = ask(client, {**body, "messages": [{"role": "user", "content": QUESTIONS[0]}]})
            if not first.ok:
                print(f"warm-up request failed: {first.error}", file=sys.stderr)
                return 1
            print(f"warm-up (sample base, model load): {time.perf_counter() - warm:.1f} s")
        levels = []
        for count in clients:
            level = run_level(url, headers, count, args.per_client, body)
            levels.append(level)
            errors = [r.error for r in level.results if not r.ok]
            print(
                f"{count} client(s): {len(level.results)} requests in {level.wall:.1f} s"
                + (f", errors: {errors[:3]}" if errors else ""),
                file=sys.stderr,
            )
        print(f"kbqa bench serve: {machine()}")
        print(
            f"knowledge base {args.kb!r}, streamed chat, max_tokens {args.max_tokens or 'default'}, "
            f"{args.per_client} request(s) per client"
        )
        print(report(levels))
        return 0 if all(r.ok for level in levels for r in level.results) else 1
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if temp is not None:
            temp.cleanup()
