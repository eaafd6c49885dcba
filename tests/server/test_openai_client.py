"""The OpenAI-compatible routes through the official `openai` client against the running server:
an answer with its sources, streamed and not; a follow-up whose pronoun refers to the turn before
(the conversation carried by `messages`); the models; embeddings in both encodings."""

from __future__ import annotations

import base64

import numpy as np
import openai
import pytest

from tests.server.conftest import KB, Server


@pytest.fixture(scope="module")
def oai(server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=server.token, max_retries=0)


def test_answer_with_sources(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model=f"kb:{KB}",
        messages=[{"role": "user", "content": "Who designed the Zephyr-7 pump?"}],
    )
    text = completion.choices[0].message.content
    assert "Mara Lindqvist" in text
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra
    assert extra["kbqa"]["refused"] is False and extra["kbqa"]["kb"] == KB
    sources = extra["sources"]
    assert sources and sources[0]["file"] == "pump.txt"
    first = sources[0]
    assert {"file", "page", "passage", "score", "relevance"} <= set(first)
    assert "Mara Lindqvist" in first["passage"] and 0 <= first["score"] <= 1


def test_streamed_answer_ends_with_sources(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="any-name",
        extra_body={"kb": KB},  # the extra field names the knowledge base instead of the model
        messages=[{"role": "user", "content": "Who manages the Aurora greenhouse?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Ole Hansen" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["sources"][0]["file"] == "greenhouse.txt"
    assert last.usage is not None and last.usage.prompt_tokens > 0


def test_follow_up_resolves_the_pronoun(oai: openai.OpenAI) -> None:
    messages = [
        {"role": "user", "content": "Who designed the Zephyr-7 pump?"},
        {"role": "assistant", "content": "Mara Lindqvist designed the Zephyr-7 pump in 2019."},
        {"role": "user", "content": "How much does it weigh?"},
    ]
    completion = oai.chat.completions.create(model=f"kb:{KB}", messages=messages)
    assert "42 kilograms" in completion.choices[0].message.content
    extra = completion.model_extra
    assert "Zephyr" in extra["kbqa"]["query"]  # the pronoun was resolved from the history
    assert extra["sources"][0]["file"] == "pump.txt"


def test_models_list_each_knowledge_base(oai: openai.OpenAI) -> None:
    ids = [model.id for model in oai.models.list()]
    assert f"kb:{KB}" in ids
    assert oai.models.retrieve(f"kb:{KB}").id == f"kb:{KB}"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("kb:no-such-base")


def test_embeddings_float_and_base64(oai: openai.OpenAI, server: Server) -> None:
    texts = ["Zephyr-7 pump", "greenhouse tomatoes"]
    # The client asks for base64 unless told otherwise, and decodes it.
    decoded = oai.embeddings.create(model=f"kb:{KB}", input=texts)
    floats = oai.embeddings.create(model=f"kb:{KB}", input=texts, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    a = np.array(decoded.data[0].embedding)
    b = np.array(floats.data[0].embedding)
    assert a.shape == b.shape and a.shape[0] >= 64
    assert np.allclose(a, b, atol=1e-6)
    assert abs(np.linalg.norm(b) - 1) < 1e-3
    assert floats.usage.prompt_tokens > 0
    import httpx

    raw = httpx.post(
        server.url + "/v1/embeddings",
        json={"model": "x", "input": "hello", "encoding_format": "base64"},
        headers=server.auth,
        timeout=60,
    ).json()
    vector = np.frombuffer(base64.b64decode(raw["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == a.shape


def test_unknown_knowledge_base_is_a_404(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(
            model="kb:missing", messages=[{"role": "user", "content": "hello?"}]
        )
    assert caught.value.body["code"] == "kb_not_found"


def test_raw_stream_is_server_sent_events(server: Server) -> None:
    """The wire format itself, on a question the base cannot answer (refused without the model)."""
    import json

    import httpx

    body = {
        "model": f"kb:{KB}",
        "stream": True,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
    }
    with (
        httpx.Client(base_url=server.url, headers=server.auth, timeout=60) as client,
        client.stream("POST", "/v1/chat/completions", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "stop" and last["kbqa"]["refused"] is True
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text and not text.endswith("\n")
