"""Fit the prompt into the model: chunks and history within `context_length - max_new_tokens`.

Two limits apply. The hard one is the model's window: prompt + answer must fit, measured with the
model's own `count_message_tokens`. The soft one is a budget for the context block sized to the
model: a 135M model on a CPU answers better and sooner from a few hundred tokens of focused text
than from thousands, while a 6B model can use whole chunks (which one a backend is, it declares:
`ChatBackend.trusts_free_generation`). History is trimmed oldest turn first,
then chunks from the least relevant, then the last chunk's text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kbqa.chain.context import (
    FOCUS_RATIO,
    ContextItem,
    focus,
    format_context,
    scoring_text,
    sentence_scores,
    table_row_of,
    table_rows,
)
from kbqa.chain.prompts import Template
from kbqa.llm.base import ChatBackend, Message
from kbqa.types import TABLE, Hit


def is_small_model(llm: ChatBackend) -> bool:
    """Whether the chain keeps this model on a short leash (a short, focused context, a token cap,
    a paragraph stop, the reply checks, no model-written rewrites): the backend's declared
    `trusts_free_generation`, which comes from the parameter count of its weights, never its name."""
    return not llm.trusts_free_generation


@dataclass(frozen=True)
class Budget:
    """Token limits for one prompt."""

    window: int  # prompt tokens allowed: context_length - max_new_tokens
    context: int  # soft cap for the context block
    history: int  # soft cap for the history messages
    focus: bool  # cut chunks down to their relevant sentences even when they fit whole

    @classmethod
    def for_model(cls, llm: ChatBackend, max_new_tokens: int) -> Budget:
        window = max(llm.context_length - max_new_tokens, 64)
        if is_small_model(llm):
            # Measured on the dev set: SmolLM2-135M copies the right phrase more often from
            # ~300 tokens of focused sentences than from whole chunks, and prefill stays ~1-2 s.
            return cls(
                window, context=min(320, window // 2), history=min(192, window // 4), focus=True
            )
        return cls(window, context=min(3072, window // 2), history=window // 4, focus=False)


@dataclass
class Prompt:
    messages: list[Message]
    items: list[ContextItem]  # the chunks offered to the model, [1] first
    history: list[Message] = field(default_factory=list)  # the history actually included
    tokens: int = 0


def _history_within(llm: ChatBackend, history: list[Message], limit: int) -> list[Message]:
    """The most recent whole turns of `history` that fit `limit` tokens."""
    kept: list[Message] = []
    total = 0
    # Walk back in user+assistant pairs so a reply is never kept without its question.
    index = len(history)
    while index > 0:
        start = index - 1
        while start > 0 and history[start]["role"] != "user":
            start -= 1
        turn = history[start:index]
        cost = sum(llm.count_tokens(m["content"]) + 4 for m in turn)
        if total + cost > limit:
            break
        kept = turn + kept
        total += cost
        index = start
    return kept


def _focus_table(
    hit: Hit, scored: list[tuple[str, float]], floor: float, fits: Callable[[str], bool]
) -> str:
    """A table chunk cut down to its matching rows, under its header (a row without the header
    would leave the model guessing which value is which)."""
    header = "\n".join(hit.text.strip().split("\n")[:2])
    rows = table_rows(hit)
    best: dict[str, float] = {}
    for sentence, score in scored:
        found = table_row_of(rows, sentence)
        if found is not None:
            best[found[0]] = max(best.get(found[0], 0.0), score)
    scored_rows = [(line, best.get(line, 0.0)) for line, _ in rows]
    kept = focus(scored_rows, floor, lambda t: fits(f"{header}\n{t}"), join="\n")
    return f"{header}\n{kept}" if kept else ""


def build_prompt(
    llm: ChatBackend,
    template: Template,
    question: str,
    query: str,
    hits: list[Hit],
    history: list[Message],
    budget: Budget,
    max_chunks: int | None = None,
    subject: str = "",
) -> Prompt:
    """Messages for the model: history that fits, then the template filled with the context."""
    hits = hits[:max_chunks] if max_chunks else list(hits)
    texts = [scoring_text(h) for h in hits]
    scored = sentence_scores(query, texts, [h.heading for h in hits], subject)
    top = max((score for rows in scored for _, score in rows), default=0.0)
    floor = FOCUS_RATIO * top if budget.focus else 0.0

    def fits(text: str, remaining: int) -> bool:
        return llm.count_tokens(text) + 4 <= remaining

    items: list[ContextItem] = []
    used = 0
    for rank, (hit, rows) in enumerate(zip(hits, scored, strict=True)):
        remaining = budget.context - used
        relevance = max((score for _, score in rows), default=0.0)
        whole = hit.text.strip()
        if not budget.focus and llm.count_tokens(whole) + 4 <= remaining:
            text = whole
        elif hit.kind == TABLE:
            text = _focus_table(hit, rows, floor, lambda t, r=remaining: fits(t, r))
        else:
            text = focus(rows, floor, lambda t, r=remaining: fits(t, r))
            if not text and rank == 0 and not budget.focus:
                text = whole[: max(remaining, 16)]  # an unmatched best chunk still goes in, cut
        if not text:
            continue  # nothing of this chunk matches the query well enough, or nothing fits
        items.append(ContextItem(len(items) + 1, hit, text, relevance))
        used += llm.count_tokens(text) + 4
    if not items and hits:
        # No sentence shares a word with the query (a paraphrase): offer the best chunk's start.
        items.append(ContextItem(1, hits[0], hits[0].text.strip()[: budget.context], 0.0))
    kept_history = _history_within(llm, history, budget.history)

    def render(items: list[ContextItem], past: list[Message]) -> list[Message]:
        messages = template.render(context=format_context(items), question=question)
        # The template's system message (if any) stays first; history goes just before the question.
        head = messages[:-1]
        return [*head, *past, messages[-1]]

    messages = render(items, kept_history)
    tokens = llm.count_message_tokens(messages)
    while tokens > budget.window:
        if kept_history:
            kept_history = _history_within(llm, kept_history[2:], budget.history)
        elif len(items) > 1:
            items = items[:-1]
        elif items and len(items[0].text) > 16:
            item = items[0]
            cut = max(16, int(len(item.text) * budget.window / tokens) - 8)
            items = [ContextItem(item.number, item.hit, item.text[:cut], item.relevance)]
        else:
            break  # the template and question alone exceed the window: let the backend report it
        messages = render(items, kept_history)
        tokens = llm.count_message_tokens(messages)
    return Prompt(messages=messages, items=items, history=kept_history, tokens=tokens)
