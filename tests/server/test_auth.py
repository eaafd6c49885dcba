"""Bearer-token auth on the running server, and the refusal to listen beyond loopback without a
token (exit 2, a clear message, before anything loads)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from tests.server.conftest import Server, server_env


@pytest.mark.parametrize("path", ["/v1/models", "/v1/kbs", "/v1/jobs"])
def test_no_or_wrong_token_is_a_401(server: Server, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.token}):
        answer = httpx.get(server.url + path, headers=headers, timeout=10)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
        error = answer.json()["error"]
        assert error["code"] == "invalid_api_key" and error["type"] == "authentication_error"
    assert httpx.get(server.url + path, headers=server.auth, timeout=10).status_code == 200


def test_chat_needs_the_token(server: Server) -> None:
    body = {"model": "kb:docs", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=10)
    assert answer.status_code == 401


def test_spec_and_health_are_public(server: Server) -> None:
    assert httpx.get(server.url + "/health", timeout=10).json()["status"] == "ok"
    assert (
        "/v1/chat/completions"
        in httpx.get(server.url + "/openapi.json", timeout=10).json()["paths"]
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_refuses_to_listen_beyond_loopback_without_a_token(tmp_path, host: str) -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "kbqa", "serve", "--host", host, "--port", "1"],
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to listen" in done.stderr and "KBQA_SERVE__TOKEN" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 20
    assert not (tmp_path / "kb").exists()  # nothing was opened


def test_empty_token_is_refused(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kbqa", "serve", "--token", " ", "--port", "1"],
        env=server_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "must not be empty" in done.stderr
