"""Turn retrieved chunks into the quoted context block of the prompt.

Small models copy well from a short context but lose the answer in a long one and latch onto what
they read last, and on a CPU every context token costs prefill time. So for them ("focus" mode)
each chunk is cut down to the sentences that share the most (rare) words with the query, chunks
with no such sentence are left out, and the block lists the best chunk last, nearest the question.
Larger models get whole chunks, best last too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from kbqa.chain.terms import key_terms, sentences
from kbqa.types import Hit

# A sentence is kept in focus mode when it scores at least this share of the best sentence's score.
FOCUS_RATIO = 0.6
# Headings and other fragments without sentence punctuation carry no answer on their own.
_FRAGMENT = re.compile(r"^[^。！？.!?:：，,；;]{0,30}$")


@dataclass(frozen=True)
class ContextItem:
    number: int  # the [n] the model sees
    hit: Hit
    text: str  # what the model sees (the chunk, or its most relevant sentences)
    relevance: float = 0.0  # the best sentence's score, for ordering


def _quote(text: str) -> str:
    # Retrieved text is data, not instructions: it goes inside quotes, and quote marks that would
    # close the quotation early are neutralised.
    return '"' + text.replace('"', "'").strip() + '"'


def format_context(items: list[ContextItem]) -> str:
    """The context block: `[n] "text"` lines, most relevant last (nearest the question)."""
    ordered = sorted(items, key=lambda item: (item.relevance, -item.number))
    return "\n".join(f"[{item.number}] {_quote(item.text)}" for item in ordered)


def sentence_scores(query: str, texts: list[str]) -> list[list[tuple[str, float]]]:
    """For each text, its sentences with a relevance score (idf-weighted query-term matches)."""
    terms = key_terms(query)
    split = [sentences(text) or [text] for text in texts]
    flat = [s.lower() for group in split for s in group]
    total = max(len(flat), 1)
    weight = {}
    for term in terms:
        df = sum(1 for s in flat if term in s)
        # Terms found in every sentence ("ChatGLM-6B" on its own page) say little; rare ones a lot.
        weight[term] = math.log(1 + total / df) if df else 0.0
    scored = []
    for group in split:
        rows = []
        for sentence in group:
            score = sum(w for t, w in weight.items() if t in sentence.lower())
            if _FRAGMENT.match(sentence.strip()):
                score *= 0.5  # a heading names the topic but holds no answer
            rows.append((sentence, score))
        scored.append(rows)
    return scored


def focus(
    scored: list[tuple[str, float]],
    floor: float,
    fits: Callable[[str], bool],
    join: str = " ",
) -> str:
    """The sentences of one chunk scoring at least `floor`, best first while `fits`, in text order."""
    order = sorted(range(len(scored)), key=lambda i: -scored[i][1])
    keep: list[int] = []
    for i in order:
        if scored[i][1] < floor or scored[i][1] <= 0:
            break
        trial = sorted([*keep, i])
        if fits(join.join(scored[j][0] for j in trial)):
            keep = trial
    return join.join(scored[j][0] for j in keep)
