"""Checks on the model's reply, for models small enough to invent things.

- Repetition: small models loop ("共有 28 层。共有 28 层。..."); generation stops at the first
  sentence that repeats an earlier one.
- Grounding: a number in the reply that is in neither the quoted context nor the question was made
  up (SmolLM2-135M does this). Wrong language, an empty reply, or one sharing no words with the
  context are failures too. The reply already streamed stays as it is (the reader saw it), and a
  note follows that names the problem and quotes the source sentence that best answers the question,
  with its citation. Nothing is hidden, and the user gets the document's own words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from kbqa.chain.context import ContextItem, sentence_scores
from kbqa.chain.language import Language, detect_language
from kbqa.chain.terms import char_ngrams, numbers

_SENTENCE_DONE = re.compile(r"[。！？!?\n]|\.(?=\s)")


def stop_on_repeat(pieces: Iterable[str], min_chars: int = 8) -> Iterator[str]:
    """Pass pieces through until a finished sentence repeats an earlier one."""
    seen: set[str] = set()
    current = ""
    for piece in pieces:
        yield piece
        current += piece
        parts = _SENTENCE_DONE.split(current)
        for sentence in parts[:-1]:
            key = re.sub(r"\W+", "", sentence.lower())
            if len(key) >= min_chars:
                if key in seen:
                    return
                seen.add(key)
        current = parts[-1]


@dataclass
class Check:
    unsupported_numbers: list[str] = field(default_factory=list)
    wrong_language: bool = False
    empty: bool = False
    off_context: bool = False

    @property
    def ok(self) -> bool:
        return not (
            self.unsupported_numbers or self.wrong_language or self.empty or self.off_context
        )


def check_reply(reply: str, question: str, items: list[ContextItem], language: Language) -> Check:
    context = " ".join(item.text for item in items) + " " + " ".join(i.hit.text for i in items)
    known = set(numbers(context)) | set(numbers(question))
    # Citation markers are numbers too, but not claims.
    claims = numbers(re.sub(r"\[\d{1,3}\]", " ", reply))
    check = Check()
    check.unsupported_numbers = sorted({n for n in claims if n not in known}, key=claims.index)
    stripped = reply.strip()
    check.empty = not stripped
    if stripped:
        check.wrong_language = detect_language(stripped) != language
        grams = char_ngrams(stripped)
        check.off_context = bool(grams) and not (grams & char_ngrams(context))
    return check


def best_sentence(query: str, items: list[ContextItem]) -> tuple[str, int] | None:
    """The context sentence that best matches the query, with its chunk's number."""
    if not items:
        return None
    scored = sentence_scores(query, [item.text for item in items])
    best: tuple[float, int, str] | None = None
    for rank, sentences in enumerate(scored):
        for text, score in sentences:
            # Ties go to the better-ranked chunk.
            if best is None or score > best[0] or (score == best[0] and rank < best[1]):
                best = (score, rank, text)
    if best is None:
        return None
    return best[2].strip(), items[best[1]].number


def guard_note(check: Check, query: str, items: list[ContextItem], language: Language) -> str:
    """The note appended to a reply that failed `check` ("" when it passed)."""
    if check.ok:
        return ""
    quote = best_sentence(query, items)
    if quote is None:
        return ""
    sentence, number = quote
    if language == "zh":
        if check.unsupported_numbers:
            head = f"（注意：回答中的 {'、'.join(check.unsupported_numbers)} 在资料中找不到。"
        else:
            head = "（"
        return f"\n\n{head}资料原文：“{sentence}” [{number}]）"
    if check.unsupported_numbers:
        head = f"(Note: {', '.join(check.unsupported_numbers)} does not appear in the sources. "
    else:
        head = "("
    return f'\n\n{head}The source says: "{sentence}" [{number}])'
