"""Checks on the model's reply, for models small enough to invent things: those whose backend
does not trust their free generation (`ChatBackend.trusts_free_generation`, from their weights).

- Repetition: small models loop ("共有 28 层。共有 28 层。..."); generation stops at the first
  sentence that repeats an earlier one, and also after the first sentence that fails the checks
  below (what follows a wrong sentence from a 135M model is rarely better, and costs seconds).
- Grounding: a number in the reply that is in neither the quoted context nor the question was made
  up (SmolLM2-135M does this). Wrong language, an empty reply, or one sharing no words with the
  context are failures too. Such a model's reply opens with the passage that answers
  (extract.py); its own words follow only when they pass these checks (conversation.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from kbqa.chain.context import ContextItem
from kbqa.chain.terms import char_ngrams, numbers
from kbqa.text.language import Language, detect_language

# A run of 1-8 characters repeated at least 4 more times at the end of the text.
_LOOP = re.compile(r"(.{1,24}?)\1{2,}$", re.DOTALL)


def is_looping(text: str) -> bool:
    """Whether `text` ends in a run repeated over and over: a run of 2-24 characters three times
    or more ("，我们可以使用上述文章来看" x3), or one character eight times ("；；；；；；；；").
    Digits never count ("1000000" is a number)."""
    match = _LOOP.search(text[-96:])
    if not match:
        return False
    unit = match.group(1)
    if unit.isdigit() or unit.strip(".,0123456789") == "":
        return False
    repeats = len(match.group(0)) // len(unit)
    if len(unit) == 1:
        return repeats >= 8
    if len(unit) <= 3:
        return repeats >= 5  # "ha ha ha" is allowed up to a point
    return True


def _key(text: str) -> str:
    return re.sub(r"\W+", "", text.lower())


def stop_on_repeat(
    pieces: Iterable[str],
    min_chars: int = 5,
    keep_going: Callable[[str], bool] | None = None,
) -> Iterator[str]:
    """Pass the text through until a sentence repeats an earlier one; the repeat is not shown.

    Text that could be the start of a repeat (it matches the beginning of an earlier sentence) is
    held back until it either diverges (then it is released) or completes the repeat (then
    generation stops and it is dropped). `keep_going(text_so_far)`, if given, is asked after each
    sentence: False stops generation there (a reply that already went wrong need not go on).
    """
    done: set[str] = set()
    current = ""  # the unfinished sentence
    held = ""  # the part of it not yet released
    shown: list[str] = []
    checked = 0  # length of the text when keep_going last ran
    for piece in pieces:
        out: list[str] = []
        stop = False
        for char in piece:
            current += char
            key = _key(current)
            # An English "." ends a sentence at the space after it (so "6.7" is not cut).
            ends = char in "。！？!?\n" or (char.isspace() and current[-2:-1] == ".")
            if ends:
                if len(key) >= min_chars and key in done:
                    stop = True
                    break
                if key:
                    done.add(key)
                out.append(held + char)
                held = current = ""
                checked = len("".join(shown + out))
                if keep_going is not None and not keep_going("".join(shown + out)):
                    stop = True
                    break
            elif (
                char in "，,；;"
                and keep_going is not None
                and len("".join(shown + out)) - checked >= 20
            ):
                # Long run-on replies are checked at clause ends too, not only sentence ends.
                out.append(held + char)
                held = ""
                checked = len("".join(shown + out))
                if not keep_going("".join(shown + out)):
                    stop = True
                    break
            elif is_looping(current):
                # A short run repeated over and over within one sentence ("猿猫猿猫猿猫..."): stop.
                stop = True
                break
            elif key and any(d.startswith(key) for d in done):
                held += char
            else:
                out.append(held + char)
                held = ""
        text = "".join(out)
        if text:
            shown.append(text)
            yield text
        if stop:
            return
    if held and _key(current) not in done:
        yield held


@dataclass
class Check:
    unsupported_numbers: list[str] = field(default_factory=list)
    # Numbers that are in the sources, but none of them in the sentence that answers the
    # question: "10 GB" (INT8's figure) for the FP16 question, the A line's 14 minutes for the B
    # line. SmolLM2 picks the wrong sentence's number often (8 of 63 dev-set replies).
    mismatched_numbers: list[str] = field(default_factory=list)
    wrong_language: bool = False
    empty: bool = False  # nothing, or only the question repeated back
    off_context: bool = False  # most of what it adds to the question is not in the context

    def summary(self) -> str:
        """What failed, in a few words ("" when nothing did)."""
        failed = []
        if self.unsupported_numbers:
            failed.append(f"numbers not in the sources: {', '.join(self.unsupported_numbers)}")
        if self.mismatched_numbers:
            failed.append(
                f"numbers not in the quoted passage: {', '.join(self.mismatched_numbers)}"
            )
        if self.wrong_language:
            failed.append("wrong language")
        if self.empty:
            failed.append("empty or the question repeated")
        if self.off_context:
            failed.append("mostly words not in the sources")
        return "; ".join(failed)

    @property
    def ok(self) -> bool:
        return not (
            self.unsupported_numbers
            or self.mismatched_numbers
            or self.wrong_language
            or self.empty
            or self.off_context
        )


def overlap_units(text: str) -> set[str]:
    """Chinese character bigrams and Latin words: what "saying the same thing" is measured in."""
    return {g for g in char_ngrams(text) if len(g) > 1 or g.isdigit()}


# The share of a reply's own words (those not in the question) that must come from the context.
MIN_SUPPORT = 0.6


def check_reply(reply: str, question: str, items: list[ContextItem], language: Language) -> Check:
    context = " ".join(item.text for item in items) + " " + " ".join(i.hit.text for i in items)
    known = set(numbers(context)) | set(numbers(question))
    body = re.sub(r"\[\d{1,3}\]", " ", reply)  # citation markers are numbers, but not claims
    claims = numbers(body)
    check = Check()
    check.unsupported_numbers = sorted({n for n in claims if n not in known}, key=claims.index)
    added = overlap_units(body) - overlap_units(question)
    check.empty = not added
    if body.strip():
        check.wrong_language = detect_language(body) != language
    if added:
        support = len(added & overlap_units(context)) / len(added)
        check.off_context = support < MIN_SUPPORT
    return check


def mismatched_numbers(reply: str, question: str, evidence: str) -> list[str]:
    """The reply's numbers (beyond the question's) when the evidence sentence has numbers and the
    reply shares none of them with it; [] otherwise."""
    wanted = set(numbers(evidence))
    asked = set(numbers(question))
    claims = [n for n in numbers(re.sub(r"\[\d{1,3}\]", " ", reply)) if n not in asked]
    if not wanted or not claims or wanted & set(claims):
        return []
    return list(dict.fromkeys(claims))
