"""llama-cpp-python backend for GGUF files: used when the optional `llamacpp` extra is installed.

It compiles from source (about 10 minutes), so it is never required: kbqa runs every GGUF that
transformers reads without it. When present it runs the file's own quantisation natively.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import ChatBackend, GenerationConfig, LoadInfo, Message
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.chat_format import FileTemplate, guess_format, load_template, normalise
from kbqa.llm.context import fit_messages
from kbqa.llm.gguf_file import GGUFInfo, read_gguf_info
from kbqa.llm.special import neutralise_with
from kbqa.llm.streaming import StopFilter

log = logging.getLogger(__name__)


def render_chat_template(source: str, messages: list[Message], bos: str, eos: str) -> str:
    """Render a GGUF's Jinja chat template the way transformers renders tokenizer templates."""
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.globals["raise_exception"] = raise_exception
    template = env.from_string(source)
    return template.render(
        messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos
    )


class LlamaCppBackend(ChatBackend):
    def __init__(
        self,
        llm: Any,
        *,
        model_name: str,
        context_length: int,
        chat_template: str | None,
        template: FileTemplate | None,
        info: LoadInfo | None = None,
    ):
        self.llm = llm
        self.parameters: int | None = None  # set by load_llamacpp from the file
        self.model_name = model_name
        self.context_length = context_length
        self.chat_template = chat_template
        self.template = None if chat_template else template
        self.info = info
        self.bos = self._token_text(llm.token_bos())
        self.eos = self._token_text(llm.token_eos())
        # One llama.cpp context serves one generation at a time (concurrent calls abort the
        # process): LangChain's batch() and two UI sessions queue here instead.
        self._lock = threading.Lock()

    def _token_text(self, token: int) -> str:
        try:
            return self.llm._model.token_get_text(token) if token >= 0 else ""
        except Exception:
            return ""

    def safe_text(self, text: str) -> str:
        """`text` with nothing llama.cpp would parse as a special token (special.py)."""
        return neutralise_with(
            text if isinstance(text, str) else str(text),
            lambda t, special: self.llm.tokenize(t.encode("utf-8"), add_bos=False, special=special),
            self._token_text,
        )

    def format(self, messages: list[Message]) -> str:
        """The prompt text; message text never holds a special token, only the template does."""
        normal: list[Message] = [
            {"role": m["role"], "content": self.safe_text(m["content"])}
            for m in normalise(messages)
        ]
        if self.chat_template:
            try:
                return render_chat_template(self.chat_template, normal, self.bos, self.eos)
            except Exception as error:
                raise ModelError(
                    f"the chat template of {self.model_name} failed: {error}"
                ) from error
        assert self.template is not None
        text = self.template.render(normal)
        return (self.bos + text) if self.template.special_tokens and self.bos else text

    def encode_messages(self, messages: list[Message]) -> list[int]:
        return self.llm.tokenize(self.format(messages).encode("utf-8"), add_bos=False, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_message_tokens(self, messages: list[Message]) -> int:
        return len(self.encode_messages(messages))

    def stream(self, messages: list[Message], config: GenerationConfig) -> Iterator[str]:
        kept, budget = fit_messages(self, messages, config.max_new_tokens)
        yield from self.stream_ids(self.encode_messages(kept), config, max_new_tokens=budget)

    def stream_ids(
        self,
        ids: list[int],
        config: GenerationConfig,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> Iterator[str]:
        stops = config.stop + (self.template.stop if self.template else ())
        stopper = StopFilter(stops)
        kwargs: dict[str, Any] = {
            "prompt": ids,
            "max_tokens": max_new_tokens or config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": True,
        }
        if min_new_tokens:  # benchmarks: decode a fixed number of tokens
            kwargs["logit_bias"] = {self.llm.token_eos(): -1e9}
        with self._lock:
            self.llm.reset()
            try:
                for part in self.llm.create_completion(**kwargs):
                    text = stopper.push(part["choices"][0].get("text") or "")
                    if text:
                        yield text
                    if stopper.stopped:
                        break
            except ModelError:
                raise
            except Exception as error:
                raise ModelError(f"{self.model_name} failed while generating: {error}") from error
        tail = stopper.flush()
        if tail:
            yield tail


def load_llamacpp(
    path: Path,
    *,
    model_name: str,
    spec: ModelSpec | None = None,
    context_length: int | None = None,
    threads: int | None = None,
    info: GGUFInfo | None = None,
) -> LlamaCppBackend:
    start = time.perf_counter()
    try:
        from llama_cpp import Llama
    except Exception as error:
        raise ModelError(
            "the llamacpp backend needs llama-cpp-python (pip install 'kbqa[llamacpp]'; it compiles"
            f" for about 10 minutes): {error}"
        ) from error
    if info is None:
        info = read_gguf_info(path)
    trained = int(info.context_length or 2048)
    n_ctx = context_length or trained
    n_threads = threads or max(1, (os.cpu_count() or 2))
    try:
        llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            verbose=False,
        )
    except Exception as error:
        raise ModelError(
            f"llama.cpp could not load {path} (a '{info.architecture}' model): {error}"
        ) from error
    template = None
    if not info.chat_template:
        template = load_template(spec.chat_format if spec else guess_format(model_name))
    backend = LlamaCppBackend(
        llm,
        model_name=model_name,
        context_length=n_ctx,
        chat_template=info.chat_template,
        template=template,
    )
    backend.parameters = info.parameters or None  # from the file's tensor table
    backend.info = LoadInfo(
        backend="gguf",
        source=str(path),
        runtime="llama.cpp",
        device="cpu",
        dtype=f"gguf file type {info.metadata.get('general.file_type', '?')}",
        quantize="none",
        weights_bytes=info.size,
        load_seconds=time.perf_counter() - start,
        chat_format="gguf" if info.chat_template else (template.name if template else ""),
    )
    return backend
