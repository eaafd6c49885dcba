"""The RAG chain and the multi-turn `Conversation` built on it.

question (+ history) → standalone query (rewrite.py) → hybrid retrieval (retrieve.py) → refusal
cut-off → chunks and history fitted to the model (budget.py) → prompt from a template
(prompts.py) → streamed answer with [n] markers kept honest (citations.py) → `Answer` with
citations to file and page. A model its backend declares too small for free generation
(`ChatBackend.trusts_free_generation`) answers source-first: the passage that answers, with its
option name or heading, cited (extract.py, prompts/quote.*.txt), then its own words only when
they pass the grounding checks (guard.py).

    conv = Conversation(kb)  # loads its own model; kbqa.service shares one cache instead
    answer = conv.ask("ChatGLM-6B 有多少参数？")
    for event in conv.stream("它有多少层？"):
        if event.kind == "token":
            print(event.text, end="")  # the last token is a newline
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kbqa.chain.budget import Budget, Prompt, build_prompt, is_small_model
from kbqa.chain.citations import (
    attribute,
    cited_numbers,
    clean_markers,
    iter_with_markers,
    make_citations,
)
from kbqa.chain.context import ContextItem
from kbqa.chain.extract import Passage, answer_passages
from kbqa.chain.guard import (
    check_reply,
    is_looping,
    mismatched_numbers,
    overlap_units,
    stop_on_repeat,
)
from kbqa.chain.prompts import PromptSet
from kbqa.chain.relevance import judge
from kbqa.chain.retrieve import retrieve
from kbqa.chain.rewrite import Turn, rewrite
from kbqa.chain.support import question_support
from kbqa.chain.types import Answer, AnswerEvent
from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.llm.cache import backend_lock, shared_models
from kbqa.text.language import Language, detect_language

if TYPE_CHECKING:
    from kbqa.settings import Settings
    from kbqa.types import Hit

# Small models ramble past the answer; their replies are capped (the settings' value still applies
# when lower). 160 tokens is about 3 English sentences or 80-100 Chinese characters.
SMALL_MODEL_MAX_NEW_TOKENS = 160
# A quote longer than this is cut (a PDF paragraph that the sentence splitter could not cut).
MAX_QUOTE_CHARS = 500
# The stream's last token: a printed reply ends its line (Answer.text has no trailing newline).
END_OF_REPLY = "\n"


class SearchableKB(Protocol):
    """What the chain needs of a knowledge base (`kbqa.KnowledgeBase` is the one in kbqa)."""

    name: str
    settings: Settings

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        threshold: float | None = None,
        mode: str | None = None,
        expand: int | None = None,
    ) -> list[Hit]: ...

    def sentence_cosines(self, query: str, texts: list[str]) -> list[float]:
        """Each text's cosine to the query, by the base's embedder."""
        ...

    def mentions(self, name: str) -> bool:
        """Whether the name occurs in the documents, spelt as given (the refusal asks)."""
        ...


class ModelSource(Protocol):
    """Where a conversation gets its model: `kbqa.service.ModelCache` is the one in kbqa."""

    def use(self, settings: Settings) -> AbstractContextManager[ChatBackend]:
        """The backend for `settings.llm` (its converted files under `settings.home`), held
        for this caller alone until the block ends."""
        ...


class Conversation:
    """A multi-turn chat over one knowledge base: history kept here, trimmed to the model."""

    def __init__(
        self,
        kb: SearchableKB,
        llm: ChatBackend | None = None,
        settings: Settings | None = None,
        *,
        models: ModelSource | None = None,
        qa_template: str | Path | None = None,
        preload: bool = False,
    ) -> None:
        """`settings` (default: the knowledge base's) decide every turn: k, retrieval mode and
        threshold, refusal cut-off, prompts and the model. Assign `conversation.settings` to
        change them between turns; the history stays.

        The model is `llm` when given; else `models.use(settings)` at each turn: the service's
        cache, or the process's `kbqa.llm.cache.shared_models()` when none is given. `preload`
        is ignored: background loading is the cache's (`ModelCache.preload`)."""
        self.kb = kb
        self._qa_template = qa_template
        self.settings = settings or kb.settings
        self._llm = llm
        self._models = models
        self.turns: list[Turn] = []
        self.answers: list[Answer] = []

    # -- state ------------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, settings: Settings) -> None:
        self._settings = settings
        self.prompts = PromptSet(settings.chain.prompt_dir, self._qa_template)

    @contextmanager
    def _using(self) -> Iterator[ChatBackend]:
        """This turn's model, locked for this conversation until the block ends."""
        if self._llm is not None:
            with backend_lock(self._llm):
                yield self._llm
            return
        with (self._models or shared_models()).use(self.settings) as backend:
            yield backend

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
        """`retrieved` (with the hits), `token`s of the reply, then `done` with the `Answer`.

        The last token is END_OF_REPLY ("\\n"), so printing the tokens as they come
        (`print(event.text, end="")`) ends the line; `Answer.text` has no trailing newline.
        The model is held (see `_using`) from its first use to the end of the stream."""
        with ExitStack() as stack:
            held: list[ChatBackend] = []

            def model() -> ChatBackend:
                if not held:
                    held.append(stack.enter_context(self._using()))
                return held[0]

            yield from self._stream(question, model)

    def _stream(self, question: str, model: Callable[[], ChatBackend]) -> Iterator[AnswerEvent]:
        started = time.perf_counter()
        question = question.strip()
        settings = self.settings
        language = detect_language(question)
        mode = settings.chain.rewrite
        llm_for_rewrite = None
        capable = False
        if mode in {"auto", "llm"} and self.turns:
            # Only wait for the model when it will be asked to rewrite.
            llm_for_rewrite = model()
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
        retrieval = settings.retrieval
        hits = retrieve(
            self.kb,
            rewritten.query,
            retrieval.k,
            boost=boost,
            mode=retrieval.mode,
            threshold=retrieval.threshold,
            expand=retrieval.expand,
        )
        timings = {"retrieve": time.perf_counter() - started}
        answer = Answer(
            question=question,
            query=rewritten.query,
            text="",
            hits=hits,
            language=language,
            rewrite=rewritten.method,
            resolved=rewritten.question,
            timings=timings,
        )
        yield AnswerEvent("retrieved", answer=answer)

        relevance = judge(
            rewritten.question,
            hits,
            settings.chain.min_similarity,
            settings.chain.min_relevance,
            mentions=self.kb.mentions,
        )
        answer.refusal_reason = relevance.reason
        if not relevance.relevant:
            # Nothing relevant enough: say so in the question's language, without the model.
            yield from self._refuse(answer, language, started)
            return

        llm = model()
        small = is_small_model(llm)
        # Measured on questions asked without a conversation: a follow-up's resolved wording is
        # the rewriter's, and a later turn may lean on the earlier ones without a pronoun ("What
        # does the service include?" after a question on the pump's servicing).
        standalone = not rewritten.follow_up and not self.turns
        if small and standalone and language == "en" and settings.chain.min_support > 0:
            support = question_support(llm, rewritten.question, hits)
            if support is not None and support < settings.chain.min_support:
                answer.refusal_reason = (
                    f"the passages do not support the question (PMI {support:.2f} below the"
                    f" cut-off {settings.chain.min_support:g})"
                )
                yield from self._refuse(answer, language, started)
                return
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
        if small:
            passages = self._quotes(focus_on, prompt.items, hits, rewritten.subject, answer)
            if passages:
                yield from self._source_first(answer, passages, llm, prompt, config, started)
                return
        count = len(prompt.items)
        reply: list[str] = []
        for text in self._generate(llm, prompt, config, rewritten.question, small, language):
            if not reply:
                timings["first_token"] = time.perf_counter() - started
            reply.append(text)
            yield AnswerEvent("token", text=text)
        model_text = "".join(reply)
        tail = ""
        if not cited_numbers(model_text, count):
            # The model cited nothing: cite the chunk its words come from, if that is clear.
            number = attribute(model_text, [item.text for item in prompt.items])
            if number:
                tail = f" [{number}]"
        if tail:
            yield AnswerEvent("token", text=tail)
        answer.model_text = model_text
        answer.text = (model_text + tail).strip()
        yield from self._finish(answer, started)

    def _quotes(
        self,
        query: str,
        items: list[ContextItem],
        hits: list[Hit],
        subject: str,
        answer: Answer,
    ) -> list[Passage]:
        """The passages the reply opens with, from all the retrieved chunks: the prompt keeps
        only chunks whose words match the query, and a paraphrase's answer may be in another.
        A chunk the prompt left out is cited after the prompt's."""
        offered = {id(item.hit): item for item in items}
        candidates: list[ContextItem] = []
        extra = len(items)
        for hit in hits:
            item = offered.get(id(hit))
            if item is None:
                extra += 1
                item = ContextItem(extra, hit, hit.text)
            candidates.append(item)
        passages = answer_passages(
            query, candidates, subject, self.kb.sentence_cosines, self.settings.chain.quotes
        )
        by_number = {c.number: c.hit for c in candidates}
        cited = [item.hit for item in items]
        renumbered = []
        for passage in passages:
            if passage.number > len(items):
                cited.append(by_number[passage.number])
                passage = replace(passage, number=len(cited))
            renumbered.append(passage)
        if len(cited) > len(items):
            answer.citations = make_citations(cited)
        return renumbered

    def _refuse(self, answer: Answer, language: Language, started: float) -> Iterator[AnswerEvent]:
        answer.refused = True
        answer.text = self.prompts.refusal(language).strip()
        yield AnswerEvent("token", text=answer.text)
        yield from self._finish(answer, started)

    def _finish(self, answer: Answer, started: float) -> Iterator[AnswerEvent]:
        """The end of every reply, however it was made: the closing newline, the [n] numbers
        its text uses, the timings, the turn kept in the history, then `done`."""
        yield AnswerEvent("token", text=END_OF_REPLY)
        answer.cited = cited_numbers(answer.text, len(answer.citations))
        elapsed = time.perf_counter() - started
        answer.timings.setdefault("first_token", elapsed)
        answer.timings["total"] = elapsed
        self._remember(answer)
        yield AnswerEvent("done", answer=answer)

    def _generate(
        self,
        llm: ChatBackend,
        prompt: Prompt,
        config: GenerationConfig,
        question: str,
        small: bool,
        language: Language,
    ) -> Iterator[str]:
        """The model's reply as it streams, citation markers kept honest; a small model's is
        cut at its first repeated or failing sentence."""
        generated = llm.stream(prompt.messages, config)
        pieces: Iterator[str] = generated
        if small:

            def keep_going(text: str) -> bool:
                # A reply may open by restating the question: only what is wrong stops it early.
                check = check_reply(text, question, prompt.items, language)
                return not (check.unsupported_numbers or check.off_context or check.wrong_language)

            pieces = stop_on_repeat(pieces, keep_going=keep_going)
        try:
            yield from iter_with_markers(pieces, len(prompt.items))
        finally:
            # Stops the backend's generation thread when a check ended the reply early, or when
            # the caller stopped reading.
            close = getattr(generated, "close", None)
            if close:
                close()

    def _source_first(
        self,
        answer: Answer,
        passages: list[Passage],
        llm: ChatBackend,
        prompt: Prompt,
        config: GenerationConfig,
        started: float,
    ) -> Iterator[AnswerEvent]:
        """A small model's reply: the passages that answer, cited, first (the best opens it);
        then the model's own words only when they pass every grounding check against them
        (never streamed before they are checked, so no later note has to contradict them)."""
        language = answer.language
        quotes = [_shown(passage) for passage in passages]
        lines = [
            self.prompts.quote(language, quote, passage.number, also=i > 0)
            for i, (quote, passage) in enumerate(zip(quotes, passages, strict=True))
        ]
        opening = "\n".join(lines)
        answer.timings["first_token"] = time.perf_counter() - started
        yield AnswerEvent("token", text=lines[0])
        for line in lines[1:]:
            yield AnswerEvent("token", text=f"\n{line}")
        quoted = {passage.number: passage for passage in passages}
        answer.citations = [
            replace(c, quote=quoted[c.number].text, span=quoted[c.number].span)
            if c.number in quoted
            else c
            for c in answer.citations
        ]
        question = answer.resolved or answer.question
        model_text = "".join(self._generate(llm, prompt, config, question, True, language))
        answer.model_text = model_text
        check = check_reply(model_text, question, prompt.items, language)
        said = " ".join(passage.text for passage in passages)
        check.mismatched_numbers = mismatched_numbers(model_text, question, said)
        words = clean_markers(model_text, len(prompt.items)).strip()
        adds = bool(
            overlap_units(words) - overlap_units(" ".join(quotes)) - overlap_units(question)
        )
        extra = f"\n\n{words}" if check.ok and adds and not is_looping(words) else ""
        if extra:
            yield AnswerEvent("token", text=extra)
        else:
            answer.note = check.summary() or "the model's words add nothing to the quote"
        answer.text = (opening + extra).strip()
        yield from self._finish(answer, started)

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


def _shown(passage: Passage) -> str:
    """A passage as a reply quotes it: its label first, cut at MAX_QUOTE_CHARS."""
    quote = passage.text if not passage.label else f"{passage.label} — {passage.text}"
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[: MAX_QUOTE_CHARS - 1].rstrip() + "…"
    return quote


def ask(
    kb: SearchableKB,
    question: str,
    history: Sequence[Any] | None = None,
    *,
    llm: ChatBackend | None = None,
    settings: Settings | None = None,
    models: ModelSource | None = None,
    qa_template: str | Path | None = None,
) -> Answer:
    """One answer with earlier turns given as chat messages or (question, answer) pairs."""
    conversation = Conversation(kb, llm, settings, models=models, qa_template=qa_template)
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
