"""`ChatKBQA`: a LangChain `BaseChatModel` over any kbqa backend.

    from kbqa.llm.langchain import ChatKBQA
    llm = ChatKBQA()                                   # the embedded SmolLM2
    llm = ChatKBQA(model="/models/chatglm-6b", quantize="int4")
    llm = ChatKBQA(chat_backend=already_loaded_backend)

Models load lazily, leased from the process's one model cache (`kbqa.llm.cache.shared_models`), so
constructing one is cheap and instances of one model share it; a backend runs one generation at a
time.
Tool calling and structured output are not offered: the local models kbqa targets do not do them
reliably.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.llm.cache import backend_lock, shared_models
from kbqa.settings import DEFAULT_LLM, LLMSettings, Settings


def _text(content: Any) -> str:
    """Message content as plain text: strings pass, content blocks keep their text parts."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            parts.append(_text(block.get("content", "")))
    return "".join(parts)


def to_messages(messages: list[BaseMessage]) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        text = _text(message.content)
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": text})
        elif isinstance(message, AIMessage):
            out.append({"role": "assistant", "content": text})
        elif isinstance(message, ToolMessage):
            out.append({"role": "user", "content": f"Tool result: {text}"})
        elif isinstance(message, ChatMessage) and message.role in ("system", "assistant", "user"):
            out.append({"role": message.role, "content": text})  # type: ignore[typeddict-item]
        elif isinstance(message, HumanMessage | ChatMessage):
            out.append({"role": "user", "content": text})
        else:
            out.append({"role": "user", "content": text})
    return out


class ChatKBQA(BaseChatModel):
    """A kbqa chat backend (ChatGLM, LLaMA, BLOOM, GLM-4, GGUF, OpenAI-compatible) for LangChain."""

    model: str = DEFAULT_LLM
    backend: str | None = None
    quantize: Literal["none", "int8", "int4", "nf4"] = "none"
    base_url: str | None = None
    api_key: str | None = None
    context_length: int | None = None
    threads: int | None = None
    temperature: float = 0.0
    top_p: float = 0.9
    max_tokens: int = 256
    stop: list[str] | None = None
    streaming: bool = False
    # Accepted for compatibility with LangChain's standard parameters; a local model needs neither.
    timeout: float | None = None
    max_retries: int | None = None
    chat_backend: ChatBackend | None = Field(default=None, exclude=True)

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _lease: Any = PrivateAttr(default=None)  # kbqa.llm.cache.Lease, held for this object's life

    @property
    def _llm_type(self) -> str:
        return "kbqa"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.model, "backend": self.backend, "quantize": self.quantize}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "kbqa"
        params["ls_max_tokens"] = kwargs.get("max_tokens", self.max_tokens)
        return params

    def get_backend(self) -> ChatBackend:
        if self.chat_backend is not None:
            return self.chat_backend
        if self._lease is None:
            settings = LLMSettings(
                model=self.model,
                backend=self.backend,
                quantize=self.quantize,
                context_length=self.context_length,
                threads=self.threads,
                base_url=self.base_url,
                api_key=self.api_key,
            )
            self._lease = shared_models().lease(Settings(llm=settings))
        return self._lease.backend

    def _config(self, stop: list[str] | None, kwargs: dict[str, Any]) -> GenerationConfig:
        stops = stop if stop is not None else (self.stop or [])
        return GenerationConfig(
            max_new_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            temperature=float(kwargs.get("temperature", self.temperature)),
            top_p=float(kwargs.get("top_p", self.top_p)),
            stop=tuple(stops),
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        backend = self.get_backend()
        chat = to_messages(messages)
        config = self._config(stop, kwargs)
        pieces: list[str] = []
        with backend_lock(backend):
            for piece in backend.stream(chat, config):
                pieces.append(piece)
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        usage = self._usage(backend, chat, "".join(pieces))
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=usage,  # type: ignore[arg-type]
                response_metadata={"model_name": backend.model_name, "finish_reason": "stop"},
                chunk_position="last",
            )
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        backend = self.get_backend()
        chat = to_messages(messages)
        text = ""
        with backend_lock(backend):
            for piece in backend.stream(chat, self._config(stop, kwargs)):
                text += piece
                if run_manager:
                    run_manager.on_llm_new_token(piece)
        message = AIMessage(
            content=text,
            usage_metadata=self._usage(backend, chat, text),  # type: ignore[arg-type]
            response_metadata={"model_name": backend.model_name, "finish_reason": "stop"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _usage(backend: ChatBackend, chat: list[Message], text: str) -> dict[str, int]:
        prompt = backend.count_message_tokens(chat)
        output = backend.count_tokens(text) if text else 0
        return {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}
