"""The one place an LLM backend is chosen: `load_llm(settings) -> ChatBackend`.

Backends are registered by name (chatglm, llama, bloom, glm, gguf, openai, llamacpp). When
`settings.backend` is None the backend is inferred: a `base_url` means openai; a catalogue name
(`kbqa models`) says its own; a .gguf file is gguf; a folder's config.json tells its model_type (or
auto_map, for ChatGLM's remote code); a hub name is matched on its family's name. Choosing the
chatglm backend never trusts its code: that is `llm.trust_remote_code`, the operator's setting.

A backend is a loader in `BACKENDS` returning a `ChatBackend` that declares the contract in base.py.

Loaded models are cached per settings (the UI loads on demand and switches models), keeping the
two most recently used. Importing this module is cheap: backends import torch when they load.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import ChatBackend
from kbqa.llm.catalog import CATALOG, ModelSpec, get_spec
from kbqa.settings import LLMSettings, Settings, default_home

log = logging.getLogger(__name__)

Loader = Callable[[LLMSettings, ModelSpec | None, dict[str, Any]], ChatBackend]


def _load_hf(backend: str) -> Loader:
    def load(settings: LLMSettings, spec: ModelSpec | None, options: dict[str, Any]) -> ChatBackend:
        from kbqa.llm.checkpoint import Family, load_checkpoint

        return load_checkpoint(
            settings.model,
            Family(backend),
            spec=spec,
            quantize=settings.quantize,
            context_length=settings.context_length,
            threads=settings.threads,
            dtype=options.get("dtype"),
        )

    return load


def _load_chatglm(
    settings: LLMSettings, spec: ModelSpec | None, options: dict[str, Any]
) -> ChatBackend:
    from kbqa.llm.chatglm import load_chatglm

    return load_chatglm(
        settings.model,
        spec=spec,
        quantize=settings.quantize,
        context_length=settings.context_length,
        threads=settings.threads,
        dtype=options.get("dtype"),
        trust_remote_code=settings.trust_remote_code,
    )


def _gguf_ref(settings: LLMSettings, spec: ModelSpec | None) -> str:
    if spec is not None:
        if not spec.gguf:
            raise ModelError(
                f"{spec.name} has no GGUF file kbqa knows of; pass a .gguf path as the model"
            )
        return spec.gguf
    return settings.model


def _load_gguf(
    settings: LLMSettings, spec: ModelSpec | None, options: dict[str, Any]
) -> ChatBackend:
    from kbqa.llm.gguf import load_gguf

    return load_gguf(
        _gguf_ref(settings, spec),
        model_name=settings.model,
        spec=spec,
        quantize=settings.quantize,
        context_length=settings.context_length,
        threads=settings.threads,
        dtype=options.get("dtype"),
        runtime=options.get("runtime"),
        requantize=options.get("requantize", True),
        data_dir=options.get("data_dir"),
    )


def _load_llamacpp(
    settings: LLMSettings, spec: ModelSpec | None, options: dict[str, Any]
) -> ChatBackend:
    # The gguf loader with its runtime forced (dtype and requantize do not apply to llama.cpp).
    return _load_gguf(settings, spec, {**options, "runtime": "llamacpp"})


def _load_openai(
    settings: LLMSettings, spec: ModelSpec | None, options: dict[str, Any]
) -> ChatBackend:
    from kbqa.llm.openai_compat import load_openai

    if settings.quantize != "none":
        raise ModelError(
            "--quantize does not apply to the openai backend: the server decides its precision"
        )
    return load_openai(
        settings.model,
        settings.base_url,
        api_key=settings.api_key,
        context_length=settings.context_length,
    )


BACKENDS: dict[str, Loader] = {
    "chatglm": _load_chatglm,
    "llama": _load_hf("llama"),
    "bloom": _load_hf("bloom"),
    "glm": _load_hf("glm"),
    "gguf": _load_gguf,
    "openai": _load_openai,
    "llamacpp": _load_llamacpp,
}

# Hub-name fragments -> backend, for names that are neither in the catalogue nor on disk.
_NAME_HINTS = (
    ("chatglm", "chatglm"),
    ("glm-4", "glm"),
    ("glm4", "glm"),
    ("bloom", "bloom"),
    ("belle-7b", "bloom"),
    ("phoenix", "bloom"),
    ("llama", "llama"),
    ("alpaca", "llama"),
    ("vicuna", "llama"),
    ("belle", "llama"),
)
_MODEL_TYPES = {
    "llama": "llama",
    "bloom": "bloom",
    "glm": "glm",
    "glm4": "glm",
    "chatglm": "chatglm",
}


def infer_backend(settings: LLMSettings) -> str:
    """The backend for `settings`, by the rules in this module's docstring."""
    if settings.backend:
        if settings.backend not in BACKENDS:
            raise ModelError(
                f"unknown backend '{settings.backend}' (known: {', '.join(sorted(BACKENDS))})"
            )
        return settings.backend
    if settings.base_url:
        return "openai"
    spec = get_spec(settings.model)
    if spec is not None:
        return spec.backend
    model = settings.model
    path = Path(model).expanduser()
    if model.lower().endswith(".gguf") or (":" in model and model.lower().endswith(".gguf")):
        return "gguf"
    if path.is_dir():
        return _backend_from_folder(path)
    if path.is_file():
        raise ModelError(f"{path} is neither a .gguf file nor a model folder")
    from kbqa.llm.hf import looks_like_path

    if looks_like_path(model):
        raise ModelError(f"model not found: {path} does not exist")
    lowered = model.lower()
    for fragment, backend in _NAME_HINTS:
        if fragment in lowered:
            return backend
    known = ", ".join(s.name for s in CATALOG[:6])
    raise ModelError(
        f"unknown model family for '{model}': name a catalogue model ({known}, ... see `kbqa models`),"
        f" a model folder, a .gguf file, or set llm.backend ({', '.join(sorted(BACKENDS))})"
    )


def _backend_from_folder(path: Path) -> str:
    config_file = path / "config.json"
    if not config_file.is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            raise ModelError(f"{path} holds GGUF files; pass one of them: {ggufs[0]}")
        raise ModelError(f"{path} has no config.json: it is not a transformers model folder")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{config_file} cannot be read as JSON: {error}") from error
    model_type = str(config.get("model_type", ""))
    if model_type in _MODEL_TYPES:
        return _MODEL_TYPES[model_type]
    if config.get("auto_map") and "glm" in model_type:
        return "chatglm"
    raise ModelError(
        f"unknown model family '{model_type or '?'}' in {config_file}: kbqa runs llama, bloom, glm, "
        "glm4 and chatglm checkpoints (other families through GGUF or an OpenAI-compatible server)"
    )


# -- loading ----------------------------------------------------------------------------------------


def _request(
    settings: Settings | LLMSettings | None, data_dir: Path | None, options: dict[str, Any]
) -> tuple[LLMSettings, dict[str, Any]]:
    """The LLM settings and the loader options, the data directory among them."""
    if isinstance(settings, Settings):
        data_dir = data_dir or settings.home
        settings = settings.llm
    settings = settings or LLMSettings()
    home = Path(data_dir or default_home()).expanduser().resolve()
    return settings, {**options, "data_dir": home}


def _open(settings: LLMSettings, options: dict[str, Any]) -> ChatBackend:
    return BACKENDS[infer_backend(settings)](settings, get_spec(settings.model), options)


def load_llm(
    settings: Settings | LLMSettings | None = None,
    *,
    data_dir: Path | None = None,
    **options: Any,
) -> ChatBackend:
    """Load the chat model `settings` describe, anew each call (the one cache of loaded models is
    `kbqa.llm.cache.ModelCache`). Raises ModelError with a clear message.

    Given the whole `Settings`, converted models are cached under its `home` (so `--home` moves
    them); given only `LLMSettings`, under `data_dir`, else the default home (KBQA_HOME).
    `options` are for benchmarks and tests: `dtype` ("fp32", "bf16", "auto"), `runtime`
    ("transformers" or "llamacpp", for GGUF files) and `requantize` (False: run the embedded
    GGUF dequantised instead of its default NF4).
    """
    return _open(*_request(settings, data_dir, options))
