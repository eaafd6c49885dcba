"""The chain end to end: the sample knowledge base, the bundled embedder and SmolLM2-135M."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.chain.conversation import Conversation, ask
from kbqa.chain.prompts import PromptSet
from kbqa.eval.metrics import is_refusal

pytestmark = pytest.mark.slow


@pytest.fixture
def conversation(sample_kb, llm, chain_settings) -> Conversation:
    return Conversation(sample_kb, llm, chain_settings)


def test_grounded_answer_cites_the_right_file(conversation):
    answer = conversation.ask("ChatGLM-6B 有多少参数？")
    assert not answer.refused and answer.language == "zh"
    assert "62" in answer.text
    # The passage holding the fact is offered and cited, with its file.
    cited = answer.sources
    assert any(c.source == "chatglm-6b.zh.md" and "62 亿参数" in c.text for c in cited)
    assert answer.cited, "the reply carries a [n] marker"
    assert not is_refusal(answer.text, "zh")


def test_grounded_answer_cites_the_right_pdf_page(conversation):
    answer = conversation.ask("What is the maximum sequence length of ChatGLM-6B?")
    assert not answer.refused and answer.language == "en"
    assert "2048" in answer.text
    pages = {(c.source, c.page) for c in answer.sources}
    assert ("llm-families.pdf", 3) in pages or any(c.source.endswith(".md") for c in answer.sources)
    pdf = [c for c in answer.citations if c.source == "llm-families.pdf"]
    assert all(c.page is not None for c in pdf), "PDF citations carry their page"


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("GPT-4 有多少参数？", "zh"),
        ("How many parameters does GPT-4 have?", "en"),
        ("今天天气怎么样？", "zh"),
        ("What is the capital of France?", "en"),
    ],
)
def test_out_of_scope_question_is_refused_without_the_model(conversation, question, language):
    answer = conversation.ask(question)
    assert answer.refused and answer.language == language
    assert answer.text == PromptSet().refusal(language)
    assert answer.messages == [] and answer.model_text == ""  # the model was not called
    assert answer.citations == []
    assert is_refusal(answer.text, language)


def test_follow_up_retrieves_the_subjects_passages(conversation):
    first = conversation.ask("ChatGLM-6B 是哪个团队发布的？")
    assert not first.refused
    follow = conversation.ask("它的词表有多大？")
    assert follow.rewrite in {"history", "llm"}
    assert "ChatGLM-6B" in follow.query
    assert any("130528" in hit.text for hit in follow.hits[:5])
    assert not follow.refused
    assert len(conversation.history) == 4
    conversation.reset()
    assert conversation.history == []


def test_stream_events_and_whole_characters(conversation):
    events = list(conversation.stream("BLOOM 的词表大小是多少？"))
    assert events[0].kind == "retrieved" and events[0].answer.hits
    assert events[-1].kind == "done" and [e.kind for e in events].count("done") == 1
    tokens = [e.text for e in events if e.kind == "token"]
    answer = events[-1].answer
    assert "".join(tokens).strip() == answer.text
    assert all("\ufffd" not in t for t in tokens), "no UTF-8 character split across pieces"
    assert answer.timings["first_token"] <= answer.timings["total"]


def test_custom_template_file_is_used(sample_kb, llm, chain_settings, tmp_path: Path):
    template = tmp_path / "mine.txt"
    template.write_text("NOTES\n{context}\nQUESTION {question}\nReply briefly.\n", encoding="utf-8")
    conversation = Conversation(sample_kb, llm, chain_settings, qa_template=template)
    answer = conversation.ask("How many layers does LLaMA-7B have?")
    assert not answer.refused
    assert answer.messages[-1]["content"].startswith("NOTES\n[")
    assert "QUESTION How many layers does LLaMA-7B have?" in answer.messages[-1]["content"]
    assert all(m["role"] != "system" for m in answer.messages)


def test_ask_with_history_pairs(sample_kb, llm, chain_settings):
    answer = ask(
        sample_kb,
        "How many layers does it have?",
        history=[("Tell me about the LLaMA-7B model.", "LLaMA-7B is a model from Meta AI.")],
        llm=llm,
        settings=chain_settings,
    )
    assert "LLaMA-7B" in answer.query
    assert any("32 transformer layers" in hit.text for hit in answer.hits[:5])


def test_small_model_reply_opens_with_the_cited_source_passage(conversation):
    """SmolLM2-135M is declared too small for free generation: its reply opens with the passage
    that answers, cited, and the citation says which passage of the chunk that is."""
    assert not conversation_llm_trusted(conversation)
    answer = conversation.ask("ChatGLM-6B 有多少参数？")
    first_sentence = answer.text.split("。")[0]
    assert answer.text.startswith("据资料 [") and "62" in first_sentence
    first = next(c for c in answer.citations if answer.text.startswith(f"据资料 [{c.number}]"))
    assert "62" in first.quote
    start, end = first.span
    assert "62" in first.text[start:end]
    # The second passage (chain.quotes = 2): another chunk of the same document, on its own
    # line, cited and marked in its chunk too.
    (second,) = [c for c in answer.citations if c.quote and c.number != first.number]
    assert second.source == first.source and second.text != first.text
    assert f"\n另见资料 [{second.number}]：“" in answer.text.split("\n\n")[0]
    assert second.quote in answer.text and second.text[slice(*second.span)]
    # The model's own words come after the quote only if they passed the checks; else the
    # reason is kept in the note and nothing follows the quote.
    assert answer.model_text
    if "\n\n" in answer.text:
        assert not answer.note
    else:
        assert answer.note


def conversation_llm_trusted(conversation) -> bool:
    return conversation._llm.trusts_free_generation
