"""The RAG chain and the multi-turn `Conversation` built on it.

question (+ history) → standalone query (rewrite.py) → hybrid retrieval (retrieve.py) → refusal
cut-off → chunks and history fitted to the model (budget.py) → prompt from a template
(prompts.py) → streamed answer with [n] markers kept honest (citations.py) → checks for small
models (guard.py) → `Answer` with citations to file and page.

    conv = Conversation(kb)
    answer = conv.ask("ChatGLM-6B 有多少参数？")
    for event in conv.stream("它有多少层？"):
        if event.kind == "token":
            print(event.text, end="")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.chain.budget import Budget, build_prompt, is_small_model
from kbqa.chain.citations import attribute, cited_numbers, iter_with_markers, make_citations
from kbqa.chain.guard import (
    best_sentence,
    check_reply,
    guard_note,
    mismatched_numbers,
    stop_on_repeat,
)
from kbqa.chain.prompts import PromptSet
from kbqa.chain.relevance import judge
from kbqa.chain.retrieve import retrieve
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.chain.types import Answer, AnswerEvent
from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.text.language import detect_language

if TYPE_CHECKING:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings

# Small models ramble past the answer; their replies are capped (the settings' value still applies
# when lower). 160 tokens is about 3 English sentences or 80-100 Chinese characters.
SMALL_MODEL_MAX_NEW_TOKENS = 160

_llm_cache: dict[str, ChatBackend] = {}
_llm_pending: dict[str, _Preload] = {}
_llm_lock = threading.Lock()


def _key(settings: Settings) -> str:
    return settings.llm.model_dump_json()


def shared_llm(settings: Settings) -> ChatBackend:
    """One loaded model per LLM configuration per process (loading takes seconds)."""
    key = _key(settings)
    with _llm_lock:
        pending = _llm_pending.get(key)
    if pending is not None:
        return pending.get()
    with _llm_lock:
        if key not in _llm_cache:
            from kbqa.llm.registry import load_llm

            _llm_cache[key] = load_llm(settings.llm)
        return _llm_cache[key]


def preload_llm(settings: Settings) -> None:
    """Start loading the model in a background thread, so the caller can open the knowledge
    base and retrieve meanwhile (on 2 cores this hides most of the load time)."""
    key = _key(settings)
    with _llm_lock:
        if key not in _llm_cache and key not in _llm_pending:
            _llm_pending[key] = _Preload(settings)


def loading_in_background() -> bool:
    """Whether a model is still loading in a preload thread (a refusal does not wait for it)."""
    with _llm_lock:
        return any(pending.alive for pending in _llm_pending.values())


class _Preload:
    def __init__(self, settings: Settings):
        self._settings = settings
        self._result: ChatBackend | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="kbqa-llm-preload", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            from kbqa.llm.registry import load_llm

            self._result = load_llm(self._settings.llm)
        except BaseException as error:  # re-raised in the caller's thread by get()
            self._error = error

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def get(self) -> ChatBackend:
        self._thread.join()
        key = _key(self._settings)
        with _llm_lock:
            _llm_pending.pop(key, None)
            if self._result is not None:
                _llm_cache.setdefault(key, self._result)
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class Conversation:
    """A multi-turn chat over one knowledge base: history kept here, trimmed to the model."""

    def __init__(
        self,
        kb: KnowledgeBase,
        llm: ChatBackend | None = None,
        settings: Settings | None = None,
        *,
        qa_template: str | Path | None = None,
        preload: bool = True,
    ) -> None:
        self.kb = kb
        self.settings = settings or kb.settings
        self.prompts = PromptSet(self.settings.chain.prompt_dir, qa_template)
        self._llm = llm
        if llm is None and preload:
            preload_llm(self.settings)
        self.turns: list[Turn] = []
        self.answers: list[Answer] = []

    # -- state ------------------------------------------------------------------------------------

    @property
    def llm(self) -> ChatBackend:
        if self._llm is None:
            self._llm = shared_llm(self.settings)
        return self._llm

    @property
    def history(self) -> list[Message]:
        """The kept turns as chat messages, oldest first."""
        messages: list[Message] = []
        for turn in self.turns:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.answer})
        return messages

    def reset(self) -> None:
        """Forget the history (the model and the knowledge base stay loaded)."""
        self.turns.clear()
        self.answers.clear()

    def add_turn(self, question: str, answer: str, query: str | None = None) -> None:
        """Add an earlier exchange (from a saved chat or another interface) to the history."""
        language = detect_language(question)
        rewritten = rewrite(
            question,
            self.turns,
            language,
            mode="history",
            llm=None,
            template=None,
            llm_capable=False,
        )
        query = query or rewritten.query
        resolved = rewritten.question
        self.turns.append(Turn(question=question, query=query, answer=answer, resolved=resolved))
        self._trim()

    def _trim(self) -> None:
        keep = self.settings.chain.max_history_turns
        if len(self.turns) > keep:
            del self.turns[: len(self.turns) - keep]
        del self.answers[: max(0, len(self.answers) - max(keep, 1))]

    # -- asking -----------------------------------------------------------------------------------

    def ask(self, question: str) -> Answer:
        """Answer `question` in the context of this conversation."""
        answer = None
        for event in self.stream(question):
            if event.kind == "done":
                answer = event.answer
        assert answer is not None
        return answer

    def stream(self, question: str) -> Iterator[AnswerEvent]:
        """`retrieved` (with the hits), `token`s of the reply, then `done` with the `Answer`."""
        started = time.perf_counter()
        question = question.strip()
        settings = self.settings
        language = detect_language(question)
        mode = settings.chain.rewrite
        llm_for_rewrite = None
        capable = False
        if mode in {"auto", "llm"} and self.turns:
            # Only wait for the model when it will be asked to rewrite.
            llm_for_rewrite = self.llm
            capable = not is_small_model(llm_for_rewrite)
        rewritten = rewrite(
            question,
            self.turns,
            language,
            mode=mode,
            llm=llm_for_rewrite,
            template=self.prompts.rewrite(language),
            llm_capable=capable,
        )
        boost = self.turns[-1].sources if rewritten.follow_up and self.turns else ()
        hits = retrieve(self.kb, rewritten.query, settings.retrieval.k, boost=boost)
        timings = {"retrieve": time.perf_counter() - started}
        answer = Answer(
            question=question,
            query=rewritten.query,
            text="",
            hits=hits,
            language=language,
            rewrite=rewritten.method,
            resolved=rewritten.question,
        )
        yield AnswerEvent("retrieved", answer=answer)

        relevance = judge(rewritten.question, hits, settings.chain.min_similarity)
        answer.refusal_reason = relevance.reason
        if not relevance.relevant:
            # Nothing relevant enough: say so in the question's language, without the model.
            answer.refused = True
            answer.text = self.prompts.refusal(language).strip()
            yield AnswerEvent("token", text=answer.text)
            timings["first_token"] = timings["total"] = time.perf_counter() - started
            answer.timings = timings
            self._remember(answer)
            yield AnswerEvent("done", answer=answer)
            return

        llm = self.llm
        small = is_small_model(llm)
        max_new = settings.llm.max_new_tokens
        if small:
            max_new = min(max_new, SMALL_MODEL_MAX_NEW_TOKENS)
        budget = Budget.for_model(llm, max_new)
        past = self.history if settings.chain.max_history_turns else []
        if small and (not rewritten.follow_up or rewritten.question != question):
            # The question stands alone (or was made to): a small model answers it better without
            # the earlier turns, which it tends to repeat; they would also cost prefill time.
            past = []
        # Sentences are picked by the resolved question; the query's carried-over terms from the
        # earlier turn help retrieval but would pick the earlier turn's sentences here.
        focus_on = rewritten.query if rewritten.question == question else rewritten.question
        prompt = build_prompt(
            llm,
            self.prompts.qa(language),
            rewritten.question,
            focus_on,
            hits,
            past,
            budget,
            subject=rewritten.subject,
        )
        answer.citations = make_citations(item.hit for item in prompt.items)
        answer.prompt_tokens = prompt.tokens
        answer.messages = [dict(m) for m in prompt.messages]
        config = GenerationConfig(
            max_new_tokens=max_new,
            temperature=settings.llm.temperature,
            top_p=settings.llm.top_p,
            # A small model's first paragraph is its answer; what follows is drift.
            stop=("\n\n",) if small else (),
        )
        count = len(prompt.items)
        generated = llm.stream(prompt.messages, config)
        pieces: Iterator[str] = generated
        if small:

            def keep_going(text: str) -> bool:
                # A reply may open by restating the question: only what is wrong stops it early.
                check = check_reply(text, rewritten.question, prompt.items, language)
                return not (check.unsupported_numbers or check.off_context or check.wrong_language)

            pieces = stop_on_repeat(pieces, keep_going=keep_going)
        reply: list[str] = []
        try:
            for text in iter_with_markers(pieces, count):
                if not reply:
                    timings["first_token"] = time.perf_counter() - started
                reply.append(text)
                yield AnswerEvent("token", text=text)
        finally:
            # Stops the backend's generation thread when a check ended the reply early, or when
            # the caller stopped reading.
            close = getattr(generated, "close", None)
            if close:
                close()
        model_text = "".join(reply)
        tail = ""
        if small:
            check = check_reply(model_text, rewritten.question, prompt.items, language)
            quote = best_sentence(focus_on, prompt.items, rewritten.subject)
            if quote is not None:
                check.mismatched_numbers = mismatched_numbers(
                    model_text, rewritten.question, quote[0]
                )
            tail = guard_note(check, quote, language)
            answer.note = tail
        if not tail and not cited_numbers(model_text, count):
            # The model cited nothing: cite the chunk its words come from, if that is clear.
            number = attribute(model_text, [item.text for item in prompt.items])
            if number:
                tail = f" [{number}]"
        if tail:
            yield AnswerEvent("token", text=tail)
        answer.model_text = model_text
        answer.text = (model_text + tail).strip()
        answer.cited = cited_numbers(answer.text, count)
        timings.setdefault("first_token", time.perf_counter() - started)
        timings["total"] = time.perf_counter() - started
        answer.timings = timings
        self._remember(answer)
        yield AnswerEvent("done", answer=answer)

    def _remember(self, answer: Answer) -> None:
        sources = tuple(dict.fromkeys((c.source, c.page) for c in answer.sources))
        self.turns.append(
            Turn(
                question=answer.question,
                query=answer.query,
                answer=answer.text,
                sources=sources,
                resolved=answer.resolved,
            )
        )
        self.answers.append(answer)
        self._trim()


def ask(
    kb: KnowledgeBase,
    question: str,
    history: Sequence[Any] | None = None,
    *,
    llm: ChatBackend | None = None,
    settings: Settings | None = None,
    qa_template: str | Path | None = None,
) -> Answer:
    """One answer with earlier turns given as chat messages or (question, answer) pairs."""
    conversation = Conversation(kb, llm, settings, qa_template=qa_template, preload=False)
    for question_before, answer_before in _pairs(history or []):
        conversation.add_turn(question_before, answer_before)
    return conversation.ask(question)


def _pairs(history: Sequence[Any]) -> list[tuple[str, str]]:
    """(question, answer) pairs from messages ({"role", "content"}) or from pairs."""
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for item in history:
        if isinstance(item, dict):
            role, content = item.get("role"), str(item.get("content", ""))
            if role == "user":
                if pending is not None:
                    pairs.append((pending, ""))
                pending = content
            elif role == "assistant" and pending is not None:
                pairs.append((pending, content))
                pending = None
        else:
            question_before, answer_before = item
            pairs.append((str(question_before), str(answer_before)))
    if pending is not None:
        pairs.append((pending, ""))
    return pairs
