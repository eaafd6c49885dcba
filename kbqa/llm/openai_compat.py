"""A backend for any OpenAI-compatible server (vLLM, TGI, FastChat, Xinference, `transformers serve`).

For users whose model runs elsewhere. It speaks plain HTTP through httpx (no openai package, no
tiktoken: tiktoken downloads its encodings on first use, which fails offline), so token counts are
estimates unless the model's tokenizer is available locally.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from kbqa.errors import ModelError
from kbqa.llm.base import ChatBackend, GenerationConfig, LoadInfo, Message
from kbqa.llm.chat_format import normalise
from kbqa.llm.context import fit_messages
from kbqa.llm.special import safe_messages, tokenizer_specials
from kbqa.llm.streaming import StopFilter
from kbqa.text.cjk import CJK_SYMBOLS, FULLWIDTH, HAN

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = 4096
_CJK = re.compile(f"[{CJK_SYMBOLS}{HAN}{FULLWIDTH}]")  # one token each, roughly


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: one token per CJK character, one per ~4 other characters."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def api_base(url: str) -> str:
    """`http://host:port` and `http://host:port/v1` both mean the server's /v1 API."""
    url = url.rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ModelError(f"llm.base_url must be an http(s) URL, got '{url}'")
    return url if parsed.path not in ("", "/") else url + "/v1"


class OpenAIBackend(ChatBackend):
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        context_length: int | None = None,
        timeout: float = 600.0,
        tokenizer: Any = None,
    ):
        import httpx

        self.base = api_base(base_url)
        self.model_name = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Long read timeout: a CPU-bound server can take minutes for a long answer.
        self.client = httpx.Client(headers=headers, timeout=httpx.Timeout(timeout, connect=10.0))
        self.tokenizer = tokenizer
        # Strings its tokenizer (when kbqa has it) reads as special tokens, found once (special.py).
        self.specials = tokenizer_specials(tokenizer) if tokenizer is not None else ()
        self.served = self._models()
        self.model_id = self._pick_model(model)
        self.context_length = context_length or self._served_context() or DEFAULT_CONTEXT

    @property
    def chat_format(self) -> str:
        return "server"  # the server applies its model's own chat template

    @property
    def trusts_free_generation(self) -> bool:
        # Its size is the server's business (parameters stays None); an operator who points
        # kbqa at a served model chose a capable one, and the chain lets it write freely.
        return True

    # -- server discovery ------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.client.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as error:
            raise ModelError(f"cannot reach the model server at {self.base}: {error}") from error
        if response.status_code >= 400:
            raise ModelError(
                f"the model server at {self.base} answered {response.status_code}: {_error_text(response.text)}"
            )
        return response

    def _models(self) -> list[dict[str, Any]]:
        try:
            data = self._request("GET", "/models").json()
        except ModelError:
            raise
        except ValueError as error:
            raise ModelError(
                f"{self.base}/models did not return JSON: is this an OpenAI-compatible server?"
            ) from error
        return [m for m in data.get("data", []) if isinstance(m, dict)]

    def _pick_model(self, wanted: str) -> str:
        ids = [str(m.get("id")) for m in self.served]
        if wanted in ids or not ids:
            return wanted
        from kbqa.settings import DEFAULT_LLM

        # The user pointed kbqa at a server without naming a model: use what it serves.
        if wanted == DEFAULT_LLM and len(ids) >= 1:
            return ids[0]
        return wanted  # servers such as `transformers serve` load models on demand

    def _served_context(self) -> int | None:
        for entry in self.served:
            if entry.get("id") == self.model_id:
                for key in (
                    "max_model_len",
                    "context_length",
                    "max_context_length",
                    "max_total_tokens",
                ):
                    if isinstance(entry.get(key), int):
                        return int(entry[key])
        return None

    # -- tokens ------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return estimate_tokens(text)

    def count_message_tokens(self, messages: list[Message]) -> int:
        # ~4 tokens of role markup per message, 3 for the reply's header (the usual chat formats).
        return sum(self.count_tokens(m["content"]) + 4 for m in messages) + 3

    # -- generation --------------------------------------------------------------------------------
    def safe(self, messages: list[Message]) -> list[Message]:
        """The server renders the prompt from strings: special-token strings in message text
        (its tokenizer's when kbqa has it, else the common chat formats' markers) are broken
        here so the server's tokenizer reads them as text (special.py)."""
        return safe_messages(messages, self.specials, generic=True)

    def stream(self, messages: list[Message], config: GenerationConfig) -> Iterator[str]:
        import httpx

        kept, budget = fit_messages(self, messages, config.max_new_tokens)
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": self.safe(normalise(kept)),
            "max_tokens": budget,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": True,
        }
        if config.stop:
            body["stop"] = list(config.stop)[:4]  # the OpenAI API accepts at most four
        stopper = StopFilter(config.stop)  # and kbqa applies all of them itself
        try:
            with self.client.stream("POST", self.base + "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ModelError(
                        f"the model server at {self.base} answered {response.status_code}: "
                        f"{_error_text(response.text)}"
                    )
                for line in response.iter_lines():
                    piece = _sse_content(line)
                    if piece is None:
                        break
                    text = stopper.push(piece)
                    if text:
                        yield text
                    if stopper.stopped:
                        break
        except httpx.HTTPError as error:
            raise ModelError(f"the model server at {self.base} failed: {error}") from error
        tail = stopper.flush()
        if tail:
            yield tail

    def close(self) -> None:
        self.client.close()


def _sse_content(line: str) -> str | None:
    """The text in one server-sent-events line; None at the end of the stream."""
    line = line.strip()
    if not line.startswith("data:"):
        return ""
    payload = line[5:].strip()
    if payload == "[DONE]":
        return None
    try:
        event = json.loads(payload)
    except ValueError:
        return ""
    if isinstance(event, dict) and event.get("error"):
        raise ModelError(
            f"the model server reported an error: {_error_text(json.dumps(event['error']))}"
        )
    choices = event.get("choices") or []
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return delta.get("content") or ""


def _error_text(text: str) -> str:
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            error = data.get("error", data.get("detail", data))
            if isinstance(error, dict):
                return str(error.get("message", error))
            return str(error)
    except ValueError:
        pass
    return text.strip()[:300]


def load_openai(
    model: str,
    base_url: str | None,
    *,
    api_key: str | None = None,
    context_length: int | None = None,
) -> OpenAIBackend:
    if not base_url:
        raise ModelError(
            "the openai backend needs llm.base_url (for example http://127.0.0.1:8000/v1)"
        )
    start = time.perf_counter()
    backend = OpenAIBackend(base_url, model, api_key=api_key, context_length=context_length)
    backend.info = LoadInfo(
        backend="openai",
        source=backend.base,
        runtime="http",
        device="remote",
        load_seconds=time.perf_counter() - start,
        chat_format="server",
    )
    return backend
