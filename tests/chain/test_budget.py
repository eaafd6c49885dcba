"""Fitting the prompt into the model's window, with SmolLM2's real tokenizer."""

from __future__ import annotations

import pytest

from kbqa.chain.budget import Budget, build_prompt, is_small_model
from kbqa.chain.prompts import PromptSet
from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.types import Hit

pytestmark = pytest.mark.slow


class SmallWindow(ChatBackend):
    """The real backend's tokenizer, with a smaller context window: what the budget is about."""

    def __init__(self, inner: ChatBackend, context_length: int):
        self.inner = inner
        self.model_name = inner.model_name
        self.context_length = context_length

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def count_message_tokens(self, messages: list[Message]) -> int:
        return self.inner.count_message_tokens(messages)

    def stream(self, messages: list[Message], config: GenerationConfig):
        return self.inner.stream(messages, config)


def _history(turns: int) -> list[Message]:
    history: list[Message] = []
    for i in range(turns):
        history.append({"role": "user", "content": f"Question {i}: tell me about LLaMA-{i}B. " * 4})
        history.append({"role": "assistant", "content": f"Answer {i}: it has {i} layers. " * 4})
    return history


HITS = [
    Hit(
        text="LLaMA-7B has 32 transformer layers. LLaMA-7B has a hidden size of 4096. " * 6,
        source="llama.en.md",
        page=None,
        score=0.9,
    ),
    Hit(text="BLOOM has 70 layers. " * 20, source="bloom.md", page=None, score=0.8),
]


def test_the_embedded_model_counts_as_small(llm):
    # Declared by the backend from the GGUF's tensor table: 134.5M (tied embeddings once).
    assert llm.parameters == pytest.approx(135e6, rel=0.01)
    assert is_small_model(llm)


@pytest.mark.parametrize("window", [512, 1024])
def test_history_is_trimmed_oldest_first_to_fit(llm, window):
    small = SmallWindow(llm, window)
    budget = Budget(window=window - 128, context=120, history=10_000, focus=False)
    history = _history(12)
    prompt = build_prompt(
        small, PromptSet().qa("en"), "How many layers?", "How many layers?", HITS, history, budget
    )
    assert prompt.tokens <= budget.window
    assert llm.count_message_tokens(prompt.messages) == prompt.tokens
    # What is kept is the most recent turns, whole (a question with its answer), in order.
    assert prompt.history and prompt.history == history[-len(prompt.history) :]
    assert len(prompt.history) % 2 == 0 and len(prompt.history) < len(history)
    assert prompt.items, "the retrieved context is kept before old history"
    assert prompt.messages[-1]["content"].endswith("How many layers?")


def test_context_alone_too_big_is_cut_to_fit(llm):
    small = SmallWindow(llm, 256)
    budget = Budget(window=256 - 64, context=4000, history=0, focus=False)
    prompt = build_prompt(small, PromptSet().qa("en"), "layers?", "layers?", HITS, [], budget)
    assert prompt.tokens <= budget.window
    assert len(prompt.items) >= 1


def test_focus_keeps_the_matching_sentences_best_last(llm):
    budget = Budget.for_model(llm, 160)
    assert budget.focus
    hits = [
        Hit(
            text="ChatGLM-6B 基于 GLM 架构。ChatGLM-6B 由清华大学发布。ChatGLM-6B 支持中英双语。"
            "ChatGLM-6B 具有 62 亿参数（6.2B）。ChatGLM-6B 有 28 层。",
            source="c.md",
            page=None,
            score=0.9,
        ),
        Hit(text="BLOOM 的词表大小为 250880。", source="b.md", page=None, score=0.8),
    ]
    prompt = build_prompt(
        llm,
        PromptSet().qa("zh"),
        "ChatGLM-6B 有多少参数？",
        "ChatGLM-6B 有多少参数？",
        hits,
        [],
        budget,
    )
    user = prompt.messages[-1]["content"]
    assert '[1] "ChatGLM-6B 具有 62 亿参数（6.2B）。"' in user
    assert "250880" not in user  # nothing of that chunk matches the question
    assert "基于 GLM 架构" not in user


def test_focus_keeps_a_tables_matching_rows_under_its_header(llm):
    budget = Budget.for_model(llm, 160)
    rows = [f"| cache.tier{n}.ttl | {15 * n} s | lifetime of tier {n} entries |" for n in range(12)]
    rows[7] = "| retry.backoff.max | 90 s | the longest wait between two retries |"
    table = "| Setting | Default | Meaning |\n| --- | --- | --- |\n" + "\n".join(rows)
    hit = Hit(text=table, source="s.pdf", page=2, score=0.9, kind="table", table="Table 1")
    question = "What is the default of retry.backoff.max?"
    prompt = build_prompt(llm, PromptSet().qa("en"), question, question, [hit], [], budget)
    user = prompt.messages[-1]["content"]
    assert (
        '[1] "| Setting | Default | Meaning |\n| --- | --- | --- |\n'
        '| retry.backoff.max | 90 s | the longest wait between two retries |"'
    ) in user
    assert "cache.tier3.ttl" not in user
