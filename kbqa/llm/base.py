"""The contract every LLM backend fulfils. The chain and the UI only ever see a `ChatBackend`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 0.9
    stop: tuple[str, ...] = field(default_factory=tuple)


class ChatBackend(ABC):
    """A loaded chat model. Implementations live beside this file, chosen in `registry.py`."""

    #: the model's name as the user gave it (registry name, hub name or path)
    model_name: str
    #: the model's context window in tokens (prompt + history + answer must fit)
    context_length: int

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in this model's tokenizer."""

    @abstractmethod
    def count_message_tokens(self, messages: list[Message]) -> int:
        """Tokens the formatted chat prompt for `messages` takes, generation prompt included."""

    @abstractmethod
    def stream(self, messages: list[Message], config: GenerationConfig) -> Iterator[str]:
        """Yield the reply as text pieces (whole UTF-8 characters, never split bytes)."""

    def generate(self, messages: list[Message], config: GenerationConfig) -> str:
        return "".join(self.stream(messages, config))
