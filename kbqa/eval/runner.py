"""Run a question set through kbqa: retrieval only, or full answers (multi-turn as conversations).

Predictions are yielded one by one so the CLI can write each line as it comes (a long run that is
interrupted keeps what it has).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kbqa.chain.retrieve import retrieve
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.eval.dataset import Prediction, Question
from kbqa.text.language import detect_language

if TYPE_CHECKING:
    from kbqa.chain.conversation import ModelSource
    from kbqa.chain.types import Answer
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.llm.base import ChatBackend
    from kbqa.settings import Settings

MIN_RETRIEVED = 5  # the prediction format asks for at least 5 chunks


@dataclass(frozen=True)
class Progress:
    index: int  # 1-based
    total: int
    question: Question
    prediction: Prediction
    seconds: float
    answer: Answer | None = None  # full runs only


def run_retrieval(
    kb: KnowledgeBase,
    questions: Sequence[Question],
    *,
    k: int = 10,
    mode: str | None = None,
    rewrite_mode: str = "history",
    on_item: Callable[[Progress], None] | None = None,
) -> Iterator[Prediction]:
    """Retrieved chunks for each question, no model. Multi-turn items go through the chain's
    history-aware rewriting (it needs no model), unless `rewrite_mode` is "off" (the peers' way:
    the raw last turn)."""
    k = max(k, MIN_RETRIEVED)
    for index, question in enumerate(questions, start=1):
        started = time.perf_counter()
        turns: list[Turn] = []
        hits = []
        for text in question.conversation:
            language = detect_language(text)
            rewritten = rewrite(
                text,
                turns,
                language,
                mode="off" if rewrite_mode == "off" else "history",
                llm=None,
                template=None,
                llm_capable=False,
            )
            boost = turns[-1].sources if rewritten.follow_up and turns else ()
            hits = retrieve(kb, rewritten.query, k, boost=boost, mode=mode)
            # No answer in this mode: the earlier turn's sources are what it retrieved best.
            sources = tuple(dict.fromkeys((h.source, h.page) for h in hits[:1]))
            turns.append(
                Turn(
                    question=text,
                    query=rewritten.query,
                    answer="",
                    sources=sources,
                    resolved=rewritten.question,
                )
            )
        prediction = Prediction.from_hits(question.id, hits)
        if on_item:
            on_item(
                Progress(index, len(questions), question, prediction, time.perf_counter() - started)
            )
        yield prediction


def run_answers(
    kb: KnowledgeBase,
    questions: Sequence[Question],
    *,
    settings: Settings | None = None,
    llm: ChatBackend | None = None,
    models: ModelSource | None = None,
    on_item: Callable[[Progress], None] | None = None,
) -> Iterator[Prediction]:
    """Full answers: each item is a fresh conversation; every turn is asked, the last is scored.
    The model is `llm`, else `models`' (the service's cache), else the process's shared cache
    (`kbqa.llm.cache.shared_models`): loaded once for the run either way."""
    yield from _answers(kb, questions, settings or kb.settings, llm, models, on_item)


def _answers(
    kb: KnowledgeBase,
    questions: Sequence[Question],
    settings: Settings,
    llm: ChatBackend | None,
    models: ModelSource | None,
    on_item: Callable[[Progress], None] | None,
) -> Iterator[Prediction]:
    from kbqa.chain.conversation import Conversation

    for index, question in enumerate(questions, start=1):
        started = time.perf_counter()
        conversation = Conversation(kb, llm, settings, models=models)
        answer = None
        for text in question.conversation:
            answer = conversation.ask(text)
        assert answer is not None
        hits = answer.hits
        if len(hits) < MIN_RETRIEVED:
            # The chain retrieves settings.retrieval.k chunks; the format wants at least five.
            more = kb.search(answer.query, k=MIN_RETRIEVED)
            seen = {h.chunk_id for h in hits}
            hits = hits + [h for h in more if h.chunk_id not in seen]
        prediction = Prediction.from_hits(question.id, hits, answer.text)
        if on_item:
            on_item(
                Progress(
                    index,
                    len(questions),
                    question,
                    prediction,
                    time.perf_counter() - started,
                    answer,
                )
            )
        yield prediction
