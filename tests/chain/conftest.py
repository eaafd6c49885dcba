"""Fixtures for the chain tests: the real sample knowledge base and the embedded SmolLM2, built
once per test session in a private KBQA_HOME (never ~/.kbqa)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="session")
def chain_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """KBQA_HOME for the session's model and knowledge base (the model's conversion cache lives
    under it, so it must be set while the model loads)."""
    home = tmp_path_factory.mktemp("chain-home")
    previous = os.environ.get("KBQA_HOME")
    os.environ["KBQA_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("KBQA_HOME", None)
    else:
        os.environ["KBQA_HOME"] = previous


@pytest.fixture(scope="session")
def chain_settings(chain_home: Path):
    from kbqa.settings import Settings

    return Settings.load(overrides={"home": str(chain_home)})


@pytest.fixture(scope="session")
def sample_kb(chain_settings):
    """knowledge/ ingested into the KB "default" with the bundled embedder, as on first use."""
    from kbqa.sample import ensure_sample_kb

    kb = ensure_sample_kb(chain_settings, "default", quiet=True)
    yield kb
    kb.close()


@pytest.fixture(scope="session")
def llm(chain_settings):
    """The embedded default model (SmolLM2-135M-Instruct), loaded once."""
    from kbqa.llm.registry import load_llm

    return load_llm(chain_settings.llm, data_dir=chain_settings.home)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
