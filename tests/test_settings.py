from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kbqa.settings import Settings


def test_layers_defaults_file_environment_overrides(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('kb = "manuals"\n[retrieval]\nk = 8\nmode = "bm25"\n', encoding="utf-8")
    environ = {
        "KBQA_HOME": str(tmp_path),
        "KBQA_RETRIEVAL__K": "12",
        "KBQA_LLM__QUANTIZE": "int4",
        "KBQA_SAMPLE_DIR": "/elsewhere",  # not a setting: ignored, not an error
        "KBQA_CONFIG": str(config),
    }
    settings = Settings.load(environ=environ, overrides={"retrieval.threshold": 0.3, "kb": None})
    assert settings.home == tmp_path and settings.kb == "manuals"
    assert settings.retrieval.k == 12 and settings.retrieval.mode == "bm25"
    assert settings.retrieval.threshold == 0.3 and settings.llm.quantize == "int4"
    assert settings.kb_root == tmp_path / "kb"


def test_bad_values_and_missing_config_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="threshold"):
        Settings.load(environ={"KBQA_HOME": str(tmp_path), "KBQA_RETRIEVAL__THRESHOLD": "2"})
    with pytest.raises(FileNotFoundError, match="config file not found"):
        Settings.load(config_file=tmp_path / "nope.toml", environ={})
