"""The openai backend against a real `transformers serve` on 127.0.0.1 (an OpenAI-compatible server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kbqa.llm.base import GenerationConfig, Message
from kbqa.llm.langchain import ChatKBQA
from kbqa.llm.openai_compat import OpenAIBackend, estimate_tokens
from kbqa.llm.registry import load_llm
from kbqa.settings import LLMSettings
from tests.processes import free_port, stop_process, wait_until_answering

HELLO: list[Message] = [{"role": "user", "content": "Say hello to the warehouse team."}]


@pytest.fixture(scope="module")
def served_folder(smollm2_nf4_folder: Path) -> Path:
    # The NF4 copy kbqa saved of the converted SmolLM2: a plain transformers folder, 4-bit weights.
    assert (smollm2_nf4_folder / "config.json").is_file()
    return smollm2_nf4_folder


@pytest.fixture(scope="module")
def server(served_folder: Path) -> Iterator[str]:
    port = free_port()
    cli = Path(sys.executable).parent / "transformers"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    process = subprocess.Popen(
        [
            str(cli),
            "serve",
            str(served_folder),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(
            process,
            url + "/health",
            answers=lambda status: status == 200,
            what="transformers serve",
            log_tail=lambda: process.stderr.read()[-2000:] if process.stderr else "",
            timeout=180,
        )
        yield url
    finally:
        stop_process(process)


def test_streams_from_the_server(server: str, served_folder: Path) -> None:
    settings = LLMSettings(model=str(served_folder), base_url=server + "/v1")
    llm = load_llm(settings)
    assert isinstance(llm, OpenAIBackend)
    assert llm.info is not None and llm.info.backend == "openai"
    # The contract: the server's model is trusted to write freely, its size is not counted here.
    assert llm.trusts_free_generation and llm.parameters is None and llm.chat_format == "server"
    config = GenerationConfig(max_new_tokens=8)
    pieces = list(llm.stream(HELLO, config))
    text = "".join(pieces)
    assert text.strip() and all(isinstance(p, str) and "\ufffd" not in p for p in pieces)
    # stop strings: the server gets them, and kbqa never passes one through either way
    stop = text[2:5]
    cut = llm.generate(HELLO, GenerationConfig(max_new_tokens=8, stop=(stop,)))
    assert stop not in cut and text.startswith(cut)


def test_server_model_is_picked_when_none_is_named(server: str, served_folder: Path) -> None:
    llm = load_llm(LLMSettings(base_url=server))  # default model name, bare host URL
    assert isinstance(llm, OpenAIBackend)
    assert llm.model_id == str(served_folder)
    assert llm.base.endswith("/v1")
    assert llm.context_length == 4096  # transformers serve does not say: kbqa's default
    assert llm.count_tokens("里昂仓库") == 4 and estimate_tokens("abcdefgh") == 2


def test_langchain_model_over_the_server(server: str, served_folder: Path) -> None:
    chat = ChatKBQA(model=str(served_folder), base_url=server, max_tokens=6)
    reply = chat.invoke("Hello")
    assert reply.text and reply.usage_metadata and reply.usage_metadata["input_tokens"] > 0
