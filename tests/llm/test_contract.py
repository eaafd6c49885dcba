"""The backend contract the chain reads: context length, parameter count, chat format, and whether
free generation is trusted: declared by each backend from its weights, never read from its name.
A served model (openai backend) is trusted: tests/llm/test_openai.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kbqa.chain.budget import Budget, is_small_model
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.llm.base import TRUSTED_PARAMETERS, ChatBackend, GenerationConfig, Message
from kbqa.llm.registry import load_llm
from kbqa.settings import LLMSettings


def test_a_big_name_on_tiny_weights_is_declared_small(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    folder = tmp_path / "llama-70b"  # what the name says is not what the weights are
    shutil.copytree(tiny_models["llama"], folder)
    llm = load_llm(LLMSettings(model=str(folder)))
    weights = sum(p.numel() for p in llm.model.parameters())  # type: ignore[attr-defined]
    assert llm.parameters == weights and weights < 1_000_000
    assert not llm.trusts_free_generation
    assert is_small_model(llm)
    assert Budget.for_model(llm, 64).focus  # the short, focused context of a small model
    assert llm.chat_format == llm.info.chat_format != ""  # type: ignore[union-attr]
    assert llm.context_length == 512


def test_int4_keeps_the_parameter_count_of_the_published_weights(
    tiny_models: dict[str, Path],
) -> None:
    plain = load_llm(LLMSettings(model=str(tiny_models["llama"])))
    for quantize in ("int4", "nf4"):
        packed = load_llm(LLMSettings(model=str(tiny_models["llama"]), quantize=quantize))
        assert packed.parameters == plain.parameters, quantize


def test_the_default_model_declares_its_size_from_the_file(smollm2: ChatBackend) -> None:
    # SmolLM2-135M: 134.5M parameters in the GGUF's tensor table (tied embeddings counted once).
    assert smollm2.parameters is not None
    assert 130e6 < smollm2.parameters < 140e6
    assert not smollm2.trusts_free_generation and is_small_model(smollm2)


class Declared(ChatBackend):
    """SmolLM2's tokenizer and generation under another declaration (the contract's input)."""

    def __init__(self, inner: ChatBackend, parameters: int, name: str):
        self.inner = inner
        self.model_name = name
        self.context_length = inner.context_length
        self.parameters = parameters
        self.asked: list[list[Message]] = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_message_tokens(self, messages: list[Message]) -> int:
        return self.inner.count_message_tokens(messages)

    def stream(self, messages: list[Message], config: GenerationConfig):
        self.asked.append(messages)
        return self.inner.stream(messages, config)


def test_budget_and_rewrite_follow_the_declared_size(smollm2: ChatBackend) -> None:
    from kbqa.chain.prompts import PromptSet

    big = Declared(smollm2, 7 * TRUSTED_PARAMETERS, name="smollm2-135m-instruct")
    small = Declared(smollm2, 135_000_000, name="llama-70b")
    assert big.trusts_free_generation and not is_small_model(big)
    assert is_small_model(small)
    assert not Budget.for_model(big, 256).focus and Budget.for_model(small, 256).focus
    assert Budget.for_model(big, 256).context > Budget.for_model(small, 256).context
    history = [
        Turn(question="ChatGLM-6B 有多少层？", query="ChatGLM-6B 有多少层？", answer="28 层。")
    ]
    template = PromptSet().rewrite("zh")
    for llm, asked in ((big, True), (small, False)):
        rewrite("它的词表有多大？", history, "zh", mode="auto", llm=llm, template=template)
        assert bool(llm.asked) is asked  # "auto" asks only a model trusted to write freely


@pytest.mark.parametrize("parameters", [None, TRUSTED_PARAMETERS - 1])
def test_unknown_or_small_counts_are_not_trusted(smollm2: ChatBackend, parameters) -> None:
    llm = Declared(smollm2, 0, name="some-13b")
    llm.parameters = parameters
    assert is_small_model(llm)
