"""`ChatKBQA` passes LangChain's standard chat-model suites (tool calling off) over the default model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from langchain_tests.unit_tests import ChatModelUnitTests

from kbqa.llm.base import ChatBackend
from kbqa.llm.langchain import ChatKBQA

_BACKEND: dict[str, ChatBackend] = {}


@pytest.fixture(autouse=True)
def _loaded(smollm2: ChatBackend) -> None:
    """SmolLM2, loaded once for the session, handed to ChatKBQA as an already-loaded backend."""
    _BACKEND["smollm2"] = smollm2


class TestChatKBQAUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatKBQA]:
        return ChatKBQA

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "smollm2-135m-instruct", "chat_backend": _BACKEND["smollm2"]}

    @property
    def supports_model_override(self) -> bool:
        return False


class TestChatKBQAIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatKBQA]:
        return ChatKBQA

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "model": "smollm2-135m-instruct",
            "chat_backend": _BACKEND["smollm2"],
            "max_tokens": 16,
        }

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False


def test_tiny_checkpoint_through_langchain(tiny_models: dict[str, Any]) -> None:
    chat = ChatKBQA(model=str(tiny_models["bloom"]), max_tokens=5)
    chunks = list(chat.stream("Hello"))
    assert chunks[-1].chunk_position == "last"
    assert "".join(str(c.content) for c in chunks)
