"""The support check: a passage that answers makes the question's words more likely under the
loaded model, one that is only on the topic does not (kbqa/chain/support.py). Real SmolLM2-135M
and the real sample knowledge base."""

from __future__ import annotations

import pytest

from kbqa.chain.conversation import Conversation
from kbqa.chain.support import question_support
from kbqa.types import Hit

pytestmark = pytest.mark.slow

ANSWERS = Hit(
    text="LLaMA was trained on 1.4 trillion tokens of public data; the 7B model uses a context "
    "length of 2048 tokens.",
    source="llama.en.md",
    page=None,
    score=0.9,
    heading="LLaMA",
)
OTHER = Hit(
    text="Tickets for the campus shuttle are sold at the library desk on weekdays.",
    source="campus.en.md",
    page=None,
    score=0.9,
    heading="Shuttle",
)


def test_the_backend_scores_a_continuation(llm):
    question = " How many tokens was LLaMA trained on?"
    scored = llm.continuation_logprobs([ANSWERS.text, OTHER.text], question, 200, "\nQuestion:")
    assert scored is not None and len(scored) == 2
    assert len(scored[0]) == llm.count_tokens(question) == len(scored[1])
    assert all(value <= 0 for row in scored for value in row)
    # the passage that holds the question's words makes them likelier than an unrelated one
    assert sum(scored[0]) > sum(scored[1])


def test_an_answering_passage_supports_the_question_more_than_an_unrelated_one(llm):
    question = "How many tokens was LLaMA trained on?"
    answering = question_support(llm, question, [ANSWERS])
    unrelated = question_support(llm, question, [OTHER])
    assert answering is not None and unrelated is not None
    assert answering > unrelated + 0.5
    assert question_support(llm, question, []) is None


def _conversation(sample_kb, llm, chain_settings, min_support: float) -> Conversation:
    chain = chain_settings.chain.model_copy(update={"min_support": min_support})
    return Conversation(sample_kb, llm, chain_settings.model_copy(update={"chain": chain}))


def test_an_unsupported_english_question_is_refused(sample_kb, llm, chain_settings):
    """The cut-off decides for an English question asked without a conversation; Chinese
    questions and later turns are not read (the model barely reads Chinese; a later turn may
    lean on the earlier ones)."""
    strict = _conversation(sample_kb, llm, chain_settings, 1000.0)
    refused = strict.ask("How many parameters does LLaMA have?")
    assert refused.refused and "do not support the question" in refused.refusal_reason
    assert refused.model_text == ""  # refused before the model wrote anything
    assert not strict.ask("ChatGLM-6B 有多少参数？").refused
    off = _conversation(sample_kb, llm, chain_settings, 0.0)
    assert not off.ask("How many parameters does LLaMA have?").refused
    # in a conversation a question may lean on the earlier turns without a pronoun
    later = _conversation(sample_kb, llm, chain_settings, 1000.0)
    later.turns.append(strict.turns[-1])  # the Chinese turn, answered
    for question in ("What is its context length?", "How many parameters does LLaMA have?"):
        answer = later.ask(question)
        assert not answer.refused or "do not support" not in answer.refusal_reason, question


def test_the_default_cut_off_keeps_an_answerable_question(sample_kb, llm, chain_settings):
    answer = Conversation(sample_kb, llm, chain_settings).ask(
        "How many parameters does LLaMA have?"
    )
    assert not answer.refused
