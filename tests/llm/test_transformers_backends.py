"""Tiny random Llama, Bloom, Glm and Glm4 checkpoints, loaded through the code a user's goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.errors import ModelError
from kbqa.llm.base import GenerationConfig, Message
from kbqa.llm.hf import TransformersBackend
from kbqa.llm.registry import infer_backend, load_llm
from kbqa.settings import LLMSettings

QUESTION: list[Message] = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "What does the warehouse hold?"},
]


@pytest.mark.parametrize(
    ("kind", "backend"), [("llama", "llama"), ("bloom", "bloom"), ("glm", "glm"), ("glm4", "glm")]
)
def test_tiny_checkpoint_loads_and_streams(
    tiny_models: dict[str, Path], kind: str, backend: str
) -> None:
    settings = LLMSettings(model=str(tiny_models[kind]))
    assert infer_backend(settings) == backend
    llm = load_llm(settings)
    assert isinstance(llm, TransformersBackend)
    assert llm.info is not None and llm.info.backend == backend
    assert llm.info.weights_bytes and llm.info.weights_bytes > 0
    config = GenerationConfig(max_new_tokens=12)
    pieces = list(llm.stream(QUESTION, config))
    text = "".join(pieces)
    assert text == llm.generate(QUESTION, config)  # greedy: streaming and generate agree
    assert 0 < llm.count_tokens(text) <= 12  # max_new_tokens honoured (1 byte = 1 token here)
    assert llm.count_message_tokens(QUESTION) > llm.count_tokens(QUESTION[1]["content"])


def test_context_length_comes_from_the_config(tiny_models: dict[str, Path]) -> None:
    assert load_llm(LLMSettings(model=str(tiny_models["llama"]))).context_length == 512
    # BLOOM (ALiBi) has no position table: the family's published 2048
    assert load_llm(LLMSettings(model=str(tiny_models["bloom"]))).context_length == 2048
    assert (
        load_llm(LLMSettings(model=str(tiny_models["llama"]), context_length=256)).context_length
        == 256
    )


def test_the_model_cache_keeps_one_backend_per_model(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    from kbqa.llm.cache import ModelCache
    from kbqa.settings import Settings

    model = str(tiny_models["llama"])
    plain = Settings(home=tmp_path, llm=LLMSettings(model=model))
    generation = Settings(
        home=tmp_path, llm=LLMSettings(model=model, temperature=0.7, max_new_tokens=9)
    )
    with ModelCache() as cache, cache.lease(plain) as first, cache.lease(generation) as again:
        assert first is again  # generation settings do not reload the model
    assert load_llm(LLMSettings(model=model)) is not first  # load_llm itself never caches


def test_file_template_used_when_tokenizer_has_none(tiny_models: dict[str, Path]) -> None:
    llm = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    assert isinstance(llm, TransformersBackend)
    assert llm.chat_format == "plain"
    assert (
        llm.format(QUESTION) == "Answer briefly.\n\nUser: What does the warehouse hold?\nAssistant:"
    )


def test_stop_strings_are_not_emitted(tiny_models: dict[str, Path]) -> None:
    llm = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    full = llm.generate(QUESTION, GenerationConfig(max_new_tokens=24))
    assert len(full) > 6
    stop = full[3:6]
    cut = llm.generate(QUESTION, GenerationConfig(max_new_tokens=24, stop=(stop,)))
    assert cut == full[: full.index(stop)]
    assert stop not in cut


def test_sampling_with_temperature_and_top_p(tiny_models: dict[str, Path]) -> None:
    llm = load_llm(LLMSettings(model=str(tiny_models["glm4"])))
    text = llm.generate(QUESTION, GenerationConfig(max_new_tokens=8, temperature=1.0, top_p=0.9))
    assert 0 < len(text) <= 8


def test_early_close_stops_generation(tiny_models: dict[str, Path]) -> None:
    llm = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    stream = llm.stream(QUESTION, GenerationConfig(max_new_tokens=200))
    first = next(stream)
    stream.close()  # the UI's stop button: the worker thread must end
    assert first


@pytest.mark.parametrize(
    ("quantize", "layer"),
    [("int8", "Linear8bitLt"), ("nf4", "Linear4bit"), ("int4", "PackedInt4Linear")],
)
def test_quantisation_on_cpu(tiny_models: dict[str, Path], quantize: str, layer: str) -> None:
    plain = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    llm = load_llm(LLMSettings(model=str(tiny_models["llama"]), quantize=quantize))
    assert llm is not plain
    assert llm.info is not None and llm.info.quantize == quantize
    assert plain.info is not None and llm.info.weights_bytes < plain.info.weights_bytes
    kinds = {type(m).__name__ for m in llm.model.modules()}  # type: ignore[attr-defined]
    assert layer in kinds
    assert llm.generate(QUESTION, GenerationConfig(max_new_tokens=6))


def test_int4_on_cpu_stays_close_to_the_full_model(tiny_models: dict[str, Path]) -> None:
    """torch's packed int4 (kbqa's int4 on CPU): next-token distributions near the bf16 model's."""
    import torch

    plain = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    packed = load_llm(LLMSettings(model=str(tiny_models["llama"]), quantize="int4"))
    ids = torch.tensor([plain.encode_messages([{"role": "user", "content": QUESTION}])])  # type: ignore[attr-defined]
    with torch.inference_mode():
        # 20+ tokens: the prefill path (weights unpacked to bf16); 1 token: the int4 kernel.
        for batch in (ids, ids[:, :1]):
            want = plain.model(batch).logits.float()  # type: ignore[attr-defined]
            got = packed.model(batch).logits.float()  # type: ignore[attr-defined]
            cosine = torch.nn.functional.cosine_similarity(want, got, dim=-1)
            assert batch.shape[1] == 1 or batch.shape[1] > 16
            assert cosine.min() > 0.98, cosine.min()


def test_backend_mismatch_is_explained(tiny_models: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="is a 'llama' checkpoint, not bloom"):
        load_llm(LLMSettings(model=str(tiny_models["llama"]), backend="bloom"))


def test_models_load_reports_weights_memory(
    tiny_models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from kbqa.cli import main

    assert (
        main(["models", "--load", str(tiny_models["bloom"]), "--quantize", "int8", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["backend"] == "bloom" and data["quantize"] == "int8"
    assert data["weights_bytes"] > 0 and data["peak_rss_mb"] > 0 and data["context_length"] == 2048


def test_small_models_decode_on_one_thread_then_restore(
    tiny_models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decoding a small model runs on 1 thread; threads started afterwards get the full count."""
    import threading

    import torch

    from kbqa.llm import hf

    llm = load_llm(LLMSettings(model=str(tiny_models["llama"]), threads=2))
    assert llm.decode_threads == 1  # type: ignore[attr-defined]
    seen: list[int] = []  # threads before the first switch (the prefill), then at each step
    switch = hf._DecodeThreads.__call__

    def spy(self: hf._DecodeThreads, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if not seen:
            seen.append(torch.get_num_threads())
        result = switch(self, input_ids, scores)
        seen.append(torch.get_num_threads())
        return result

    monkeypatch.setattr(hf._DecodeThreads, "__call__", spy)
    assert llm.generate(QUESTION, GenerationConfig(max_new_tokens=4))
    assert seen[0] == 2 and set(seen[1:]) == {1}
    later: list[int] = []
    thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert later == [2]
