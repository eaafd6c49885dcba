"""The contract every LLM backend fulfils. The chain and the UI only ever see a `ChatBackend`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 means greedy decoding
    top_p: float = 0.9
    stop: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class LoadInfo:
    """How a backend was loaded: shown by `kbqa models --load` and the benchmarks, logged on load."""

    backend: str  # registry key: chatglm, llama, bloom, glm, gguf, openai, llamacpp
    source: str  # the folder, file, hub name or URL the weights came from
    runtime: str = ""  # "transformers", "llama.cpp", "http"
    device: str = "cpu"
    dtype: str = ""  # compute dtype of the weights that are not quantised
    quantize: str = "none"  # none, int8, int4 (bitsandbytes or the checkpoint's own code)
    weights_bytes: int | None = None  # memory the weights take after load
    load_seconds: float = 0.0
    chat_format: str = ""  # "tokenizer" or the prompts/chat/ template name
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        weights = f", weights {self.weights_bytes / 2**20:.0f} MiB" if self.weights_bytes else ""
        quant = f" {self.quantize}" if self.quantize != "none" else ""
        return (
            f"{self.backend} via {self.runtime or self.backend} on {self.device}"
            f" ({self.dtype or '?'}{quant}){weights}, loaded in {self.load_seconds:.1f} s"
        )

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


#: Parameters from which a model's free generation is trusted: it may rewrite follow-up questions,
#: answer at full length and without the reply checks. Below it (SmolLM2-135M) the chain keeps the
#: model on a short leash: a focused context, a token cap, a paragraph stop and the guard.
TRUSTED_PARAMETERS = 1_000_000_000


class ChatBackend(ABC):
    """A loaded chat model. Implementations live beside this file, chosen in `registry.py`.

    The contract the chain reads (and nothing else: never the model's name):
    - `context_length`: the window in tokens (prompt + history + answer must fit);
    - `parameters`: the parameter count the backend knows from its weights or architecture
      (None when it cannot know, as for a remote server);
    - `chat_format`: how prompts are formatted ("tokenizer", "checkpoint", "gguf", "server" or a
      prompts/chat/ template name);
    - `trusts_free_generation`: whether the chain may let the model write freely.
    """

    #: the model's name as the user gave it (registry name, hub name or path): for display only
    model_name: str
    #: the model's context window in tokens (prompt + history + answer must fit)
    context_length: int
    #: parameter count from the loaded weights or the file's tensor table (not from the name)
    parameters: int | None = None
    #: how it was loaded (backend, device, precision, weights' memory); set by the loaders
    info: LoadInfo | None = None

    @property
    def chat_format(self) -> str:
        """How prompts are formatted; backends with a choice override this."""
        return self.info.chat_format if self.info is not None else ""

    @property
    def trusts_free_generation(self) -> bool:
        """Whether free generation can be trusted: from the declared parameter count, so a model
        of unknown size is not trusted. A backend that knows better (a served model) overrides it."""
        return self.parameters is not None and self.parameters >= TRUSTED_PARAMETERS

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

    def continuation_logprobs(
        self, prefixes: list[str], continuation: str, max_prefix_tokens: int, suffix: str = ""
    ) -> list[list[float]] | None:
        """The log-probability of each token of `continuation` after each prefix (cut to its
        first `max_prefix_tokens` tokens, then `suffix`), one list per prefix; None where the
        backend cannot score text (a remote server, llama.cpp)."""
        return None
