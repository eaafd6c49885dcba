"""Fixtures for the LLM tests: tiny checkpoints built once per session, SmolLM2 loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.llm.base import ChatBackend
from tests.llm import tiny


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
    """The safetensors folder kbqa converted the SmolLM2 GGUF into (a saved transformers model)."""
    folders = [
        p
        for p in (llm_home / "cache" / "llm").iterdir()
        if (p / "kbqa-source.json").is_file() and "-nf4-" not in p.name
    ]
    assert len(folders) == 1
    return folders[0]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: tiny.save_tiny(kind, root / kind) for kind in ("llama", "bloom", "glm", "glm4")}


@pytest.fixture(scope="session")
def tiny_chatglm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.save_tiny_chatglm(tmp_path_factory.mktemp("chatglm") / "chatglm-6b-tiny")


@pytest.fixture(scope="session")
def smollm2_nf4_folder(smollm2_folder: Path) -> Path:
    """kbqa's NF4 copy of the converted SmolLM2 (what the default path loads)."""
    folders = sorted(smollm2_folder.parent.glob(smollm2_folder.name + "-nf4-*"))
    assert len(folders) == 1, folders
    return folders[0]
