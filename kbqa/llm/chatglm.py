"""THUDM ChatGLM-6B, ChatGLM2-6B and ChatGLM3-6B through the modelling code in their checkpoints.

transformers has no ChatGLM classes: each checkpoint ships `modeling_chatglm.py` and friends, loaded
with `trust_remote_code`. kbqa runs the checkpoint's model through `generate()` like any other (so
streaming, stop strings and the context guard are shared) and formats prompts the way each
generation expects: ChatGLM-6B's "[Round N]\\n问：...\\n答：", ChatGLM2's blank-line variant, and
ChatGLM3's role tokens (through its tokenizer's `build_chat_input` when it has one).

Quantisation: THUDM's pre-quantised int4/int8 checkpoints load as they are; `--quantize` calls the
checkpoint's own `model.quantize(bits)` where its code offers one, else bitsandbytes.
GLM-4 checkpoints converted for transformers (model_type glm/glm4) go to the native `glm` backend.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import LoadInfo, Message
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.chat_format import load_template, normalise
from kbqa.llm.hf import (
    Source,
    TransformersBackend,
    _has_chat_template,
    _quiet_bitsandbytes,
    _wrap_load_error,
    check_quantization,
    context_from_config,
    dtype_name,
    int4_kernel,
    pick_device,
    pick_dtype,
    quantization_config,
    quantize_note,
    quiet_transformers,
    resolve_source,
    weights_bytes,
)

log = logging.getLogger(__name__)

BITS = {"int8": 8, "int4": 4, "nf4": 4}


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


def load_chatglm(
    model: str,
    *,
    spec: ModelSpec | None = None,
    quantize: str = "none",
    context_length: int | None = None,
    threads: int | None = None,
    dtype: str | None = None,
) -> TransformersBackend:
    start = time.perf_counter()
    source = resolve_source(model, spec)
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    if threads:
        torch.set_num_threads(threads)
    try:
        config = AutoConfig.from_pretrained(
            source.ref, trust_remote_code=True, local_files_only=source.local
        )
    except Exception as error:
        raise _wrap_load_error("configuration", source.ref, error) from error
    model_type = getattr(config, "model_type", "")
    auto_map = dict(getattr(config, "auto_map", None) or {})
    if not auto_map and model_type in ("glm", "glm4"):
        from kbqa.llm.hf import (
            load_transformers,
        )  # GLM-4 converted for transformers: native classes

        return load_transformers(
            model,
            "glm",
            spec=spec,
            quantize=quantize,
            context_length=context_length,
            threads=threads,
            dtype=dtype,
            source=source,
        )
    if not auto_map:
        raise ModelError(
            f"{source.ref} is not a ChatGLM checkpoint: its config.json has no auto_map pointing to "
            f"THUDM's modelling code (model_type '{model_type}')"
        )
    device = pick_device()
    compute = pick_dtype(device, dtype)
    prequantised = int(getattr(config, "quantization_bit", 0) or 0)
    bits = BITS.get(quantize)
    notes: list[str] = []
    kwargs: dict[str, Any] = {
        "trust_remote_code": True,
        "local_files_only": source.local,
        "dtype": compute,
    }
    if bits and prequantised and bits != prequantised:
        raise ModelError(
            f"{source.ref} is already quantised to int{prequantised} by THUDM; use --quantize none "
            f"(or int{prequantised})"
        )
    cls = AutoModelForCausalLM if "AutoModelForCausalLM" in auto_map else AutoModel
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            network = cls.from_pretrained(source.ref, **kwargs)
    except Exception as error:
        raise _wrap_load_error("ChatGLM weights", source.ref, error) from error
    _compat_config(network.config)
    method = "none"
    if prequantised:
        method = f"int{prequantised}"
        notes.append(f"pre-quantised to int{prequantised} by the checkpoint")
    elif bits and quantize != "nf4" and callable(getattr(network, "quantize", None)):
        try:
            quantised = network.quantize(bits)
        except Exception as error:
            raise ModelError(
                f"the checkpoint's own int{bits} quantisation failed: {error}. THUDM's CPU kernels "
                "compile with gcc and OpenMP; on CPU, --quantize int8 or a GPU may work instead"
            ) from error
        network = quantised if quantised is not None else network
        method = quantize
        notes.append(f"quantised with the checkpoint's model.quantize({bits})")
    elif quantize == "int4" and int4_kernel(device) == "torch":
        # No quantize() in this checkpoint's code: torch's packed int4 over its nn.Linear layers.
        from kbqa.llm.packed_int4 import pack_model

        pack_model(network, compute)
        method = quantize
        notes.append(quantize_note(quantize, packed=True))
    elif bits:
        # No quantize() in this checkpoint's code (or NF4 asked): bitsandbytes over its Linears.
        check_quantization(quantize, device)
        _quiet_bitsandbytes()
        kwargs.update(
            quantization_config=quantization_config(quantize, compute), device_map={"": device}
        )
        try:
            network = cls.from_pretrained(source.ref, **kwargs)
        except Exception as error:
            raise _wrap_load_error("ChatGLM weights (bitsandbytes)", source.ref, error) from error
        method = quantize
        notes.append("quantised with bitsandbytes (the checkpoint has no quantize())")
    if method == "none" and device != "cpu":
        network = network.to(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.ref, trust_remote_code=True, local_files_only=source.local
        )
    except Exception as error:
        raise _wrap_load_error("ChatGLM tokenizer", source.ref, error) from error
    generation = detect_generation(config, tokenizer, spec.name if spec else model)
    encode = None
    template = None
    if not _has_chat_template(tokenizer):
        if generation == "chatglm3" and hasattr(tokenizer, "build_chat_input"):
            encode = _chatglm3_encoder(tokenizer)
        else:
            template = load_template(generation)
    backend = TransformersBackend(
        network,
        tokenizer,
        model_name=model,
        context_length=context_length or context_from_config(config, spec),
        template=template,
        encode_chat=encode,
        threads=threads,
    )
    backend.info = LoadInfo(
        backend="chatglm",
        source=source.ref,
        runtime="transformers (remote code)",
        device=device,
        dtype=dtype_name(compute),
        quantize=method,
        weights_bytes=weights_bytes(network),
        load_seconds=time.perf_counter() - start,
        chat_format=backend.chat_format,
        notes=[f"generation: {generation}", *notes],
    )
    log.info("loaded %s: %s", model, backend.info.summary())
    return backend


__all__ = ["Source", "detect_generation", "load_chatglm"]
