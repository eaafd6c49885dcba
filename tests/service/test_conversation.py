"""Conversations through the service: each with its own settings (k, mode, threshold, model), no
proxy; the shared model cache; a streamed reply that ends its line. The sample knowledge base,
the bundled embedder and SmolLM2."""

from __future__ import annotations

import threading

import pytest

pytestmark = pytest.mark.slow


def _with(settings, **retrieval):
    return settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update=retrieval)}
    )


def _ids(hits) -> list[str]:
    return [hit.chunk_id for hit in hits]


def test_each_conversation_retrieves_with_its_own_settings(service, service_settings) -> None:
    question = "What is the maximum sequence length of ChatGLM-6B?"
    two = service.conversation("default", _with(service_settings, k=2, mode="bm25"))
    answer = two.ask(question)
    assert len(answer.hits) == 2
    assert _ids(answer.hits) == _ids(
        service.search(answer.query, kb="default", settings=two.settings)
    )
    dense = service.conversation("default", _with(service_settings, k=4, mode="dense"))
    assert _ids(dense.ask(question).hits) == _ids(
        service.search(question, kb="default", settings=dense.settings)
    )
    # The knowledge base itself is shared and keeps its own defaults.
    assert service.kbs.open("default").settings.retrieval.k == service_settings.retrieval.k


def test_threshold_per_conversation_and_changed_between_turns(service, service_settings) -> None:
    conversation = service.conversation("default", _with(service_settings, threshold=0.99))
    strict = conversation.ask("ChatGLM-6B 有多少参数？")
    assert strict.hits == [] and strict.refused  # nothing passes 0.99: refused, no model
    conversation.settings = service_settings
    loose = conversation.ask("ChatGLM-6B 有多少参数？")
    assert loose.hits and not loose.refused and "62" in loose.text
    assert len(conversation.history) == 4  # the history stayed across the change


def test_stream_ends_with_one_newline(service, service_settings) -> None:
    conversation = service.conversation("default", service_settings)
    for question in ("BLOOM 的词表大小是多少？", "What is the capital of France?"):
        events = list(conversation.stream(question))
        printed = "".join(e.text for e in events if e.kind == "token")
        answer = events[-1].answer
        assert printed.endswith("\n") and not printed.endswith("\n\n")
        assert printed == answer.text + "\n"
        assert not answer.text.endswith("\n")


def test_stateless_request_with_messages(service, service_settings) -> None:
    messages = [
        {"role": "user", "content": "Tell me about the LLaMA-7B model."},
        {"role": "assistant", "content": "LLaMA-7B is a model from Meta AI."},
    ]
    answer = service.ask(
        "How many layers does it have?", kb="default", history=messages, settings=service_settings
    )
    assert "LLaMA-7B" in answer.query
    assert any("32 transformer layers" in hit.text for hit in answer.hits[:5])


def test_two_sessions_at_once_share_one_model(service, service_settings) -> None:
    questions = ["ChatGLM-6B 有多少参数？", "How many layers does LLaMA-7B have?"]
    answers: dict[str, object] = {}
    errors: list[BaseException] = []

    def session(question: str) -> None:
        try:
            answers[question] = service.conversation("default", service_settings).ask(question)
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=session, args=(q,)) for q in questions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors
    assert "62" in answers[questions[0]].text
    assert any("32 transformer layers" in hit.text for hit in answers[questions[1]].hits[:5])
    assert not any(answer.refused for answer in answers.values())
    assert [s.model for s in service.models.status()] == [service_settings.llm.model]
