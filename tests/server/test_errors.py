"""Bad requests get a 4xx with an OpenAI-style JSON error, never a traceback or a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import KB

USER = [{"role": "user", "content": "Who designed the Zephyr-7 pump?"}]

BAD_CHATS = [
    ({}, "model"),
    ({"model": "kb:docs"}, "messages"),
    ({"model": "kb:docs", "messages": []}, "messages"),
    ({"model": "kb:docs", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"model": "kb:docs", "messages": [{"role": "assistant", "content": "x"}]}, "messages"),
    ({"model": "kb:docs", "messages": [{"role": "user", "content": "   "}]}, "messages"),
    ({"model": "kb:", "messages": USER}, "model"),
    ({"model": "kb:docs", "messages": USER, "temperature": 9}, "temperature"),
    ({"model": "kb:docs", "messages": USER, "max_tokens": 0}, "max_tokens"),
    ({"model": "kb:docs", "messages": USER, "n": 3}, "n"),
    ({"model": "kb:docs", "messages": USER, "stream": "often"}, "stream"),
    ({"model": "kb:docs", "messages": [{"role": "user", "content": "x" * 40_000}]}, "messages"),
]


@pytest.mark.parametrize(("body", "param"), BAD_CHATS)
def test_bad_chat_requests(client: httpx.Client, body: dict, param: str) -> None:
    answer = client.post("/v1/chat/completions", json=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/v1/chat/completions", {"content": b"{not json"}, 400),
        (
            "POST",
            "/v1/chat/completions",
            {"content": b"\xff\xfe", "headers": {"Content-Type": "application/json"}},
            400,
        ),
        ("POST", "/v1/embeddings", {"json": {"model": "x", "input": []}}, 400),
        ("POST", "/v1/embeddings", {"json": {"model": "x", "input": [""]}}, 400),
        ("POST", "/v1/embeddings", {"json": {"model": "x", "input": [[1, 2, 3]]}}, 400),
        ("POST", "/v1/embeddings", {"json": {"model": "kb:none", "input": "a"}}, 404),
        ("POST", f"/v1/kbs/{KB}/search", {"json": {"query": ""}}, 400),
        ("POST", f"/v1/kbs/{KB}/search", {"json": {"query": "x", "mode": "psychic"}}, 400),
        ("POST", "/v1/kbs/none/search", {"json": {"query": "x"}}, 404),
        ("GET", "/v1/kbs/none", {}, 404),
        ("GET", "/v1/kbs/bad..name/files", {}, 400),
        ("GET", "/v1/no-such-route", {}, 404),
        ("DELETE", "/v1/models", {}, 405),
    ],
)
def test_bad_requests_elsewhere(
    client: httpx.Client, method: str, path: str, kwargs: dict, status: int
) -> None:
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    error = answer.json()["error"]
    assert error["message"] and error["code"] and error["type"]
    assert "Traceback" not in answer.text
