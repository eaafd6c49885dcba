"""Does the passage support the question? A near miss on a concept, not a name.

The names check (relevance.py) refuses "What does Black's --unstable flag turn on?" when no
document has "--unstable". A near miss that hinges on an ordinary word ("Will Black sort
imports for me as well?", "What does Debian Policy say about telemetry in packages?") passes
it: its passages are on the topic, and their cosines are as high as an answerable question's.
What they lack is the asked-for thing, and a language model reading them can tell: a passage
that answers makes the question's words more likely, one that is only on the topic does not.

`question_support` is that measure: the pointwise mutual information of the question's tokens
with the best passages (UPR's prompt, Sachan et al. 2022), log P(token | passage) − log
P(token | no passage), the best of the first `PASSAGES` for each token, averaged over the
question. It needs a backend that scores text (`ChatBackend.continuation_logprobs`: the
transformers backend). The chain reads it for English questions that open a conversation
(a later turn may lean on the earlier ones): on eval/real `tune` with SmolLM2-135M it
separates English near misses from answerable questions (AUC 0.875 among those the names check
lets through) but not Chinese ones (0.63), which that model barely reads.
`ChainSettings.min_support` is the cut-off (docs/benchmarks.md, "Seventeenth session").
"""

from __future__ import annotations

from kbqa.llm.base import ChatBackend
from kbqa.types import Hit

PROMPT = "\nPlease write a question based on this passage.\nQuestion:"
PASSAGES = 3  # the best hits read: the answer is in one of them when it is anywhere
PASSAGE_TOKENS = 200  # of each passage, so one call costs about a prompt's prefill


def question_support(llm: ChatBackend, question: str, hits: list[Hit]) -> float | None:
    """Mean PMI per token of `question` with the best of `hits[:PASSAGES]`; None where the
    backend cannot score text or there is nothing to read."""
    passages = [f"Passage: {hit.heading or ''}\n{hit.text}" for hit in hits[:PASSAGES]]
    if not passages or not question.strip():
        return None
    scored = llm.continuation_logprobs(
        [*passages, "Passage:\n"], " " + question.strip(), PASSAGE_TOKENS, PROMPT
    )
    if not scored or not scored[0]:
        return None
    *with_passage, alone = scored
    best = [max(column) for column in zip(*with_passage, strict=True)]
    return sum(b - a for b, a in zip(best, alone, strict=True)) / len(alone)
