"""The ChatGLM remote-code path, on a tiny checkpoint whose modelling code this test writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kbqa.errors import ModelError
from kbqa.llm.base import GenerationConfig, Message
from kbqa.llm.hf import TransformersBackend
from kbqa.llm.registry import infer_backend, load_llm
from kbqa.settings import LLMSettings
from tests.llm import tiny

HISTORY: list[Message] = [
    {"role": "user", "content": "你好"},
    {"role": "assistant", "content": "你好！"},
    {"role": "user", "content": "仓库有多少托盘？"},
]


def test_chatglm_checkpoint_loads_with_its_own_code(tiny_chatglm: Path) -> None:
    settings = LLMSettings(model=str(tiny_chatglm), trust_remote_code=True)
    assert infer_backend(settings) == "chatglm"  # from config.json's auto_map
    llm = load_llm(settings)
    assert isinstance(llm, TransformersBackend)
    assert type(llm.model).__name__ == "ChatGLMForConditionalGeneration"
    assert llm.context_length == 2048  # max_sequence_length of ChatGLM-6B's config
    # ChatGLM-6B's format: detected from its config (2D positions), rounds counted from 0
    assert (
        llm.format(HISTORY)
        == "[Round 0]\n问：你好\n答：你好！\n[Round 1]\n问：仓库有多少托盘？\n答："
    )
    assert llm.info is not None and "generation: chatglm" in llm.info.notes
    text = llm.generate(HISTORY, GenerationConfig(max_new_tokens=10))
    assert 0 < len(text) <= 10


def test_chatglm_quantize_uses_the_checkpoints_own_method(tiny_chatglm: Path) -> None:
    plain = load_llm(LLMSettings(model=str(tiny_chatglm), trust_remote_code=True))
    llm = load_llm(LLMSettings(model=str(tiny_chatglm), quantize="int4", trust_remote_code=True))
    assert llm.info is not None and llm.info.quantize == "int4"
    assert any("model.quantize(4)" in note for note in llm.info.notes)
    layers = [type(m).__name__ for m in llm.model.modules()]  # type: ignore[attr-defined]
    assert "QuantizedLinear" in layers
    assert llm.model.config.quantization_bit == 4  # type: ignore[attr-defined]
    assert plain.info is not None and llm.info.weights_bytes < plain.info.weights_bytes
    assert llm.generate(HISTORY, GenerationConfig(max_new_tokens=5))


def test_chatglm_without_quantize_falls_back_to_bitsandbytes(tmp_path: Path) -> None:
    folder = tiny.save_tiny_chatglm(tmp_path / "chatglm-noquant", with_quantize=False)
    llm = load_llm(LLMSettings(model=str(folder), quantize="int8", trust_remote_code=True))
    assert llm.info is not None and any("bitsandbytes" in note for note in llm.info.notes)
    assert "Linear8bitLt" in {type(m).__name__ for m in llm.model.modules()}  # type: ignore[attr-defined]


def test_prequantised_checkpoint(tmp_path: Path) -> None:
    folder = tiny.save_tiny_chatglm(tmp_path / "chatglm-6b-int4", quantization_bit=4)
    llm = load_llm(LLMSettings(model=str(folder), trust_remote_code=True))
    assert llm.info is not None and llm.info.quantize == "int4"
    with pytest.raises(ModelError, match="already quantised to int4"):
        load_llm(LLMSettings(model=str(folder), quantize="int8", trust_remote_code=True))


def test_chatglm2_format_when_config_says_so(tmp_path: Path) -> None:
    folder = tiny.save_tiny_chatglm(tmp_path / "chatglm2-6b-tiny")
    data = json.loads((folder / "config.json").read_text())
    del data["position_encoding_2d"], data["max_sequence_length"]
    data["seq_length"] = 4096
    (folder / "config.json").write_text(json.dumps(data))
    llm = load_llm(LLMSettings(model=str(folder), trust_remote_code=True))
    assert llm.context_length == 4096
    assert llm.format(HISTORY).startswith("[Round 1]\n\n问：你好\n\n答：你好！\n\n[Round 2]")  # type: ignore[attr-defined]


def test_chatglm3_uses_its_tokenizers_build_chat_input(tmp_path: Path) -> None:
    folder = tiny.save_tiny_chatglm3(tmp_path / "chatglm3-6b-tiny")
    llm = load_llm(LLMSettings(model=str(folder), trust_remote_code=True))
    assert isinstance(llm, TransformersBackend)
    assert llm.chat_format == "checkpoint" and llm.context_length == 8192
    assert llm.info is not None and "generation: chatglm3" in llm.info.notes
    expected = (
        "[gMASK]sop<|user|>\n你好<|assistant|>\n你好！<|user|>\n仓库有多少托盘？<|assistant|>"
    )
    assert llm.encode_messages(HISTORY) == llm.tokenizer.encode(expected, add_special_tokens=False)
    # generation stops at ChatGLM3's role tokens, which end its turns
    assert llm.tokenizer.convert_tokens_to_ids("<|user|>") in llm.eos_ids
    assert 0 < len(llm.generate(HISTORY, GenerationConfig(max_new_tokens=6))) <= 6


def _marked(folder: Path, marker: Path) -> Path:
    """The folder's remote code writes `marker` whenever it is imported (configuration, model)."""
    for name in ("configuration_chatglm.py", "modeling_chatglm.py"):
        code = folder / name
        stamp = f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n"
        code.write_text(stamp + code.read_text())
    return folder


def test_remote_code_runs_only_with_the_operators_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kbqa.cli import main

    marker = tmp_path / "remote-code-ran"
    folder = _marked(tiny.save_tiny_chatglm(tmp_path / "chatglm-6b"), marker)
    # Neither the folder's auto_map nor "chatglm" in its name implies trust.
    assert infer_backend(LLMSettings(model=str(folder))) == "chatglm"
    with pytest.raises(ModelError, match="llm.trust_remote_code"):
        load_llm(LLMSettings(model=str(folder)))
    with pytest.raises(ModelError):  # a forced native backend does not run it either
        load_llm(LLMSettings(model=str(folder), backend="llama"))
    home = tmp_path / "home"
    assert main(["--home", str(home), "models", "--load", str(folder)]) != 0
    assert "--trust-remote-code" in capsys.readouterr().err
    assert not marker.exists()
    # With the setting (here the CLI flag) the same folder loads, and its code did run.
    assert main(["--home", str(home), "models", "--load", str(folder), "--trust-remote-code"]) == 0
    assert "configuration_chatglm.py" in marker.read_text()
