"""The context guard: prompt, history and answer must fit the model's context window.

History goes first, oldest turn first; the system message and the latest user message (which holds
the retrieved sources) are never cut. If they alone leave too little room for an answer the user
gets a clear message instead of a model that silently forgets the start of its prompt.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kbqa.errors import ModelError
from kbqa.llm.base import Message

if TYPE_CHECKING:
    from kbqa.llm.base import ChatBackend

log = logging.getLogger(__name__)

# The answer may be shortened to fit, but never below this many tokens (or max_new_tokens).
MIN_ANSWER_TOKENS = 64


def fit_messages(
    backend: ChatBackend, messages: list[Message], max_new_tokens: int
) -> tuple[list[Message], int]:
    """(messages that fit, answer budget in tokens); raises ModelError when nothing fits."""
    if not messages:
        raise ModelError("nothing to answer: the conversation has no messages")
    context = backend.context_length
    kept = list(messages)
    used = backend.count_message_tokens(kept)
    dropped = 0
    while used + max_new_tokens > context:
        last_user = max(
            (i for i, m in enumerate(kept) if m["role"] == "user"), default=len(kept) - 1
        )
        oldest = next((i for i, m in enumerate(kept[:last_user]) if m["role"] != "system"), None)
        if oldest is None:
            break
        # Drop a whole turn: the user message and the reply that follows it.
        end = oldest + 1
        while end < last_user and kept[end]["role"] == "assistant":
            end += 1
        dropped += end - oldest
        del kept[oldest:end]
        used = backend.count_message_tokens(kept)
    budget = min(max_new_tokens, context - used)
    if budget < min(max_new_tokens, MIN_ANSWER_TOKENS):
        raise ModelError(
            f"the prompt takes {used} tokens, which leaves {max(budget, 0)} of the model's "
            f"{context}-token context for the answer ({max_new_tokens} wanted). Ask a shorter "
            "question, retrieve fewer or smaller chunks, or lower llm.max_new_tokens."
        )
    if dropped:
        log.info(
            "context guard: dropped %d oldest history message(s) to fit %d tokens", dropped, context
        )
    if budget < max_new_tokens:
        log.info("context guard: answer limited to %d tokens (context %d)", budget, context)
    return kept, budget
