"""THUDM ChatGLM-6B, ChatGLM2-6B and ChatGLM3-6B through the modelling code in their checkpoints.

transformers has no ChatGLM classes: each checkpoint ships `modeling_chatglm.py` and friends, loaded
with `trust_remote_code` — only when the operator set `llm.trust_remote_code` (never implied by a
name or a folder's auto_map; without it the folder is refused before its code is read). kbqa runs the checkpoint's model through `generate()` like any other (so
streaming, stop strings and the context guard are shared) and formats prompts the way each
generation expects: ChatGLM-6B's "[Round N]\\n问：...\\n答：", ChatGLM2's blank-line variant, and
ChatGLM3's role tokens (through its tokenizer's `build_chat_input` when it has one).

Quantisation: THUDM's pre-quantised int4/int8 checkpoints load as they are; `--quantize` calls the
checkpoint's own `model.quantize(bits)` where its code offers one, else bitsandbytes.
GLM-4 checkpoints converted for transformers (model_type glm/glm4) go to the native `glm` backend.
"""

from __future__ import annotations

import logging
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import Message
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.chat_format import load_template, normalise
from kbqa.llm.checkpoint import ChatSetup, Family, load_checkpoint
from kbqa.llm.hf import (
    Source,
    TransformersBackend,
    _has_chat_template,
    _wrap_load_error,
    resolve_source,
)

log = logging.getLogger(__name__)


def detect_generation(config: Any, tokenizer: Any, name: str = "") -> str:
    """Which ChatGLM prompt format a checkpoint wants: chatglm, chatglm2 or chatglm3."""
    lowered = name.lower()
    if "chatglm3" in lowered:
        return "chatglm3"
    if "chatglm2" in lowered:
        return "chatglm2"
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    if "<|user|>" in vocab or hasattr(tokenizer, "build_chat_input"):
        return "chatglm3"
    # ChatGLM-6B's configuration has 2D positions and max_sequence_length; v2/v3 have seq_length.
    if getattr(config, "position_encoding_2d", None) is not None or hasattr(
        config, "max_sequence_length"
    ):
        return "chatglm"
    return "chatglm2"


def _chatglm3_encoder(tokenizer: Any) -> Any:
    """ChatGLM3's own prompt builder: `build_chat_input(query, history, role)` -> input ids."""

    def encode(messages: list[Message]) -> list[int]:
        normal = normalise(messages)
        *history, last = normal if normal else [{"role": "user", "content": ""}]
        if last["role"] != "user":
            history, last = [*history, last], {"role": "user", "content": ""}
        built = tokenizer.build_chat_input(last["content"], history=history, role="user")
        ids = built["input_ids"]
        return [int(i) for i in (ids[0] if hasattr(ids[0], "__len__") else ids)]

    return encode


def _compat_config(config: Any) -> None:
    """Aliases generate() in transformers 5 reads and THUDM's configs name differently."""
    for wanted, theirs in (
        ("num_hidden_layers", "num_layers"),
        ("num_attention_heads", "num_attention_heads"),
        ("max_position_embeddings", "max_sequence_length"),
    ):
        if getattr(config, wanted, None) is None and getattr(config, theirs, None) is not None:
            setattr(config, wanted, getattr(config, theirs))


class ChatGLM(Family):
    """THUDM's checkpoints: modelling code from the folder (auto_map), their own quantize()."""

    runtime = "transformers (remote code)"
    remote_code = True
    own_quantisation = True

    def __init__(self, auto_map: dict[str, Any], name: str):
        super().__init__("chatglm")
        self.auto_map = auto_map
        self.name = name  # the spec's or the user's name: ChatGLM2/3 say which in it

    def check(self, config: Any, source: Source) -> None:
        pass  # auto_map was checked before the code was trusted

    def model_class(self, config: Any) -> Any:
        from transformers import AutoModel, AutoModelForCausalLM

        return AutoModelForCausalLM if "AutoModelForCausalLM" in self.auto_map else AutoModel

    def loaded(self, network: Any) -> None:
        _compat_config(network.config)

    def checkpoint_bits(self, config: Any) -> int:
        return int(getattr(config, "quantization_bit", 0) or 0)

    def quantise_itself(self, network: Any, bits: int) -> tuple[Any, str] | None:
        if not callable(getattr(network, "quantize", None)):
            return None
        try:
            quantised = network.quantize(bits)
        except Exception as error:
            raise ModelError(
                f"the checkpoint's own int{bits} quantisation failed: {error}. THUDM's CPU kernels "
                "compile with gcc and OpenMP; on CPU, --quantize int8 or a GPU may work instead"
            ) from error
        network = quantised if quantised is not None else network
        return network, f"quantised with the checkpoint's model.quantize({bits})"

    def chat(self, config: Any, tokenizer: Any, model: str, spec: ModelSpec | None) -> ChatSetup:
        generation = detect_generation(config, tokenizer, self.name)
        notes = [f"generation: {generation}"]
        if _has_chat_template(tokenizer):
            return ChatSetup(notes=notes)
        if generation == "chatglm3" and hasattr(tokenizer, "build_chat_input"):
            return ChatSetup(encode=_chatglm3_encoder(tokenizer), notes=notes)
        return ChatSetup(template=load_template(generation), notes=notes)


def _raw_config(source: Source) -> dict[str, Any]:
    """config.json as data: read without running any of the checkpoint's code."""
    from transformers import PretrainedConfig

    try:
        data, _ = PretrainedConfig.get_config_dict(source.ref, local_files_only=source.local)
    except Exception as error:
        raise _wrap_load_error("configuration", source.ref, error) from error
    return data


def load_chatglm(
    model: str,
    *,
    spec: ModelSpec | None = None,
    quantize: str = "none",
    context_length: int | None = None,
    threads: int | None = None,
    dtype: str | None = None,
    trust_remote_code: bool = False,
) -> TransformersBackend:
    """A ChatGLM checkpoint through its own code (only with `trust_remote_code`), or a GLM-4
    checkpoint converted for transformers through the native classes."""
    source = resolve_source(model, spec)
    data = _raw_config(source)
    model_type = str(data.get("model_type", ""))
    auto_map = dict(data.get("auto_map") or {})
    options: dict[str, Any] = {
        "spec": spec,
        "quantize": quantize,
        "context_length": context_length,
        "threads": threads,
        "dtype": dtype,
        "source": source,
    }
    if not auto_map and model_type in ("glm", "glm4"):
        return load_checkpoint(model, Family("glm"), **options)
    if not auto_map:
        raise ModelError(
            f"{source.ref} is not a ChatGLM checkpoint: its config.json has no auto_map pointing to "
            f"THUDM's modelling code (model_type '{model_type}')"
        )
    family = ChatGLM(auto_map, spec.name if spec else model)
    return load_checkpoint(model, family, trust_remote_code=trust_remote_code, **options)


__all__ = ["ChatGLM", "detect_generation", "load_chatglm"]
