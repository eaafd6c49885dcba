"""One load sequence for every transformers checkpoint: llama, bloom and glm folders or hub names,
ChatGLM's remote-code checkpoints, and GGUF files converted to safetensors folders.

`load_checkpoint` runs the steps every kind shares (where the weights come from, the configuration,
device and dtype, how quantisation is done, the tokenizer, the chat format, the backend and its
`LoadInfo`); a `Family` says only what differs: which model type it accepts, its model class,
whether the checkpoint brings its own quantisation, and how its prompts are formatted.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import LoadInfo, Message
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.chat_format import FileTemplate, guess_format, load_template
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
# model_type values each native transformers backend accepts.
MODEL_TYPES: dict[str, set[str]] = {
    "llama": {"llama"},
    "bloom": {"bloom"},
    "glm": {"glm", "glm4"},
}


@dataclass
class ChatSetup:
    """How a checkpoint's prompts are built: a file template, its own encoder, or the tokenizer's
    chat template (both None)."""

    template: FileTemplate | None = None
    encode: Callable[[list[Message]], list[int]] | None = None
    notes: list[str] = field(default_factory=list)


class Family:
    """A native transformers family (llama, bloom, glm, or "gguf" for a converted GGUF file)."""

    runtime = "transformers"
    remote_code = False  # the checkpoint's own Python (ChatGLM): needs llm.trust_remote_code
    own_quantisation = False  # its code may offer quantize(bits) (see quantise_itself)

    def __init__(self, backend: str):
        self.backend = backend

    def check(self, config: Any, source: Source) -> None:
        model_type = getattr(config, "model_type", "?")
        expected = MODEL_TYPES.get(self.backend)
        if expected is not None and model_type not in expected:
            raise ModelError(
                f"{source.ref} is a '{model_type}' checkpoint, not {self.backend} "
                f"({', '.join(sorted(expected))}); leave llm.backend unset to detect it"
            )

    def model_class(self, config: Any) -> Any:
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM

    def loaded(self, network: Any) -> None:
        """Adjust the model right after from_pretrained (nothing for native families)."""

    def checkpoint_bits(self, config: Any) -> int:
        """Bits the checkpoint was published quantised to by its own code (0: none)."""
        return 0

    def quantise_itself(self, network: Any, bits: int) -> tuple[Any, str] | None:
        """The checkpoint's own quantisation, (model, note), or None when it has none."""
        return None

    def chat(self, config: Any, tokenizer: Any, model: str, spec: ModelSpec | None) -> ChatSetup:
        if _has_chat_template(tokenizer):
            return ChatSetup()
        name = spec.chat_format if spec is not None else guess_format(model, self.backend)
        return ChatSetup(template=load_template(name))


@dataclass
class _Weights:
    network: Any
    parameters: int
    method: str  # the LoadInfo.quantize value
    notes: list[str]


def count_parameters(network: Any) -> int:
    """Parameters of the model as published (transformers counts bitsandbytes' 4-bit halves)."""
    counter = getattr(network, "num_parameters", None)
    if callable(counter):
        return int(counter())
    return sum(p.numel() for p in network.parameters())


def load_checkpoint(
    model: str,
    family: Family,
    *,
    spec: ModelSpec | None = None,
    quantize: str = "none",
    context_length: int | None = None,
    threads: int | None = None,
    dtype: str | None = None,
    source: Source | None = None,
    prequantized: str | None = None,
    trust_remote_code: bool = False,
) -> TransformersBackend:
    """Load a checkpoint (folder or hub name) into a TransformersBackend.

    `prequantized` ("int4"/"int8") marks a folder saved already quantised by bitsandbytes (its
    config.json carries the quantisation): it loads packed, without quantising again.
    `trust_remote_code` is the operator's setting; a family that needs remote code is refused
    without it, before any of the checkpoint's files is read.
    """
    start = time.perf_counter()
    source = source or resolve_source(model, spec)
    if family.remote_code and not trust_remote_code:
        raise ModelError(
            f"{source.ref} runs Python code shipped with the checkpoint ({family.backend}); kbqa "
            "runs it only when the operator allows it: set llm.trust_remote_code = true in "
            "config.toml (or KBQA_LLM__TRUST_REMOTE_CODE=1, or --trust-remote-code)"
        )
    import torch
    from transformers import AutoConfig, AutoTokenizer

    quiet_transformers()
    if threads:
        torch.set_num_threads(threads)
    remote = {"trust_remote_code": True} if family.remote_code else {}
    try:
        config = AutoConfig.from_pretrained(source.ref, local_files_only=source.local, **remote)
    except Exception as error:
        raise _wrap_load_error("configuration", source.ref, error) from error
    family.check(config, source)
    device = pick_device()
    quantize = prequantized or quantize
    compute = pick_dtype(device, dtype, quantize)
    weights = _load_weights(
        family, config, source, quantize, prequantized, device, compute, remote=remote
    )
    network = weights.network
    if weights.method == "none" and device != "cpu":
        network = network.to(device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source.ref, local_files_only=source.local, **remote
        )
    except Exception as error:
        raise _wrap_load_error("tokenizer", source.ref, error) from error
    chat = family.chat(config, tokenizer, model, spec)
    backend = TransformersBackend(
        network,
        tokenizer,
        model_name=model,
        context_length=context_length or context_from_config(config, spec),
        template=chat.template,
        encode_chat=chat.encode,
        threads=threads,
        parameters=weights.parameters,
    )
    backend.info = LoadInfo(
        backend=family.backend,
        source=source.ref,
        runtime=family.runtime,
        device=device,
        dtype=dtype_name(compute),
        quantize=weights.method,
        weights_bytes=weights_bytes(network),
        load_seconds=time.perf_counter() - start,
        chat_format=backend.chat_format,
        notes=[*chat.notes, *weights.notes],
    )
    log.info("loaded %s: %s", model, backend.info.summary())
    return backend


def _load_weights(
    family: Family,
    config: Any,
    source: Source,
    quantize: str,
    prequantized: str | None,
    device: str,
    compute: Any,
    *,
    remote: dict[str, Any],
) -> _Weights:
    """The weights, quantised the one way that applies (checked in this order): as the checkpoint
    was published, as kbqa saved them (bitsandbytes), by the checkpoint's own code, by torch's
    packed int4 (CPU), by bitsandbytes."""
    cls = family.model_class(config)
    base: dict[str, Any] = {"dtype": compute, "local_files_only": source.local, **remote}

    def load(**extra: Any) -> Any:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                network = cls.from_pretrained(source.ref, **{**base, **extra})
        except Exception as error:
            raise _wrap_load_error("weights", source.ref, error) from error
        family.loaded(network)
        return network

    def bitsandbytes(saved: bool) -> _Weights:
        check_quantization(quantize, device)
        _quiet_bitsandbytes()
        extra: dict[str, Any] = {"device_map": {"": device}}
        if not saved:
            extra["quantization_config"] = quantization_config(quantize, compute)
        network = load(**extra)
        notes = [quantize_note(quantize, packed=False)] if BITS[quantize] == 4 else []
        return _Weights(network, count_parameters(network), quantize, notes)

    bits = BITS.get(quantize, 0)
    published = family.checkpoint_bits(config)
    if published:
        if bits and bits != published:
            raise ModelError(
                f"{source.ref} is already quantised to int{published} by its publisher; use "
                f"--quantize none (or int{published})"
            )
        network = load()
        notes = [f"pre-quantised to int{published} by the checkpoint"]
        return _Weights(network, count_parameters(network), f"int{published}", notes)
    if prequantized:
        return bitsandbytes(saved=True)
    packed = quantize == "int4" and int4_kernel(device) == "torch"
    if bits and quantize != "nf4" and family.own_quantisation:
        network = load()
        parameters = count_parameters(network)  # before its own code packs the weights
        own = family.quantise_itself(network, bits)
        if own is not None:
            return _Weights(own[0], parameters, quantize, [own[1]])
        if packed:  # no quantize() in its code: torch's packed int4 over its nn.Linear layers
            from kbqa.llm.packed_int4 import pack_model

            pack_model(network, compute)
            return _Weights(network, parameters, quantize, [quantize_note(quantize, True)])
        weights = bitsandbytes(saved=False)
        weights.notes.append("bitsandbytes: the checkpoint has no quantize()")
        return weights
    if packed:
        # Quantise from the weights as stored (a GGUF's dequantised fp32 gives back its own
        # 4-bit grid); what stays unquantised is cast to the compute dtype after packing.
        from kbqa.llm.packed_int4 import pack_model

        network = load(dtype="auto")
        parameters = count_parameters(network)
        pack_model(network, compute)
        return _Weights(network.to(compute), parameters, quantize, [quantize_note(quantize, True)])
    if quantize != "none":
        return bitsandbytes(saved=False)
    network = load()
    return _Weights(network, count_parameters(network), "none", [])
