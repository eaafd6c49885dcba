"""Follow-up questions → a standalone retrieval query.

The peers search with the raw last message, so "它的默认值是多少？" finds nothing about "it". Two
ways out, chosen by `settings.chain.rewrite`:

- "llm": the model rewrites the follow-up from the history (prompts/rewrite.*.txt). Good with a
  capable model; a 135M model mostly answers or paraphrases instead (measured: docs/bench/ask.md),
  so its output is checked and the history method is used when it fails the check.
- "history": no model call. The pronoun is replaced by the subject named in the previous turn
  ("它的默认值" → "ChatGLM-6B的默认值") and the previous standalone query's key terms are added, so
  retrieval sees the subject; the previous answer's sources are also boosted when results merge.
- "auto" (default): "llm" for models whose backend trusts their free generation
  (`ChatBackend.trusts_free_generation`: 1B parameters or more by their weights, or a served model),
  "history" for the others.

Every turn gets a standalone query (the previous one is the context for the next), so a chain of
follow-ups keeps its subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kbqa.chain.prompts import Template
from kbqa.chain.relevance import names
from kbqa.chain.terms import REFERRING, has_reference, key_terms, words
from kbqa.llm.base import ChatBackend, GenerationConfig, Message
from kbqa.store.tokenize import segmenter
from kbqa.text.cjk import has_han
from kbqa.text.language import Language
from kbqa.text.stopwords import QUESTION_STOPWORDS

Method = Literal["none", "llm", "history"]

_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9.\-_]*(?:\s+[A-Za-z0-9][A-Za-z0-9.\-_]*)*")
_PATH = re.compile(r"(?<![\w/])(?:~|\$\w+)?/[\w.\-]+(?:/[\w.\-]+)*/?")
_CAPITALISED_RUN = re.compile(r"[A-Z][A-Za-z0-9\-]*(?:\s+[A-Z][A-Za-z0-9\-]*)*")
_QUESTION_WORDS = frozenset(
    [
        "what",
        "how",
        "which",
        "who",
        "whom",
        "why",
        "when",
        "where",
        "is",
        "are",
        "does",
        "do",
        "did",
        "can",
        "tell",
    ]
)
_PROPER = frozenset({"nr", "nt", "nz", "ns"})
# "A 里的 B", "A 中的 B", "A 的 B": B is what the question is about, A where it lives
# ("journald.conf 里的 SplitMode", "CMake 里 ENABLE_APPEND_COLOPHON 参数").
_CONTAINER = r"\s*(?:里的|中的|里|中|的)\s*"
_ZH_PRONOUN = re.compile(r"(它们|它|该模型|这个模型|那个模型|这个|那个|其)")
_EN_PRONOUN = re.compile(r"\b(it|its|they|them|their|this model|that model|this|that)\b", re.I)
_EN_PLURAL_PRONOUN = re.compile(r"\b(they|them|their)\b", re.I)
# English words as they stand, with what sits next to them ("debian/rules" is one word).
_EN_WORD = re.compile(r"[A-Za-z][\w/.\-]*[\w]|[A-Za-z]")
# A plural noun: lower case, ends in "s" but not "ss", "us", "is" ("class", "status", "this").
_EN_PLURAL = re.compile(r"[a-z][a-z\-]{2,}(?<![sui])s")
# Follow-ups with no pronoun but an ellipsis: "BLOOM 呢？", "What about LLaMA-13B?", "And the 65B?".
_ELLIPSIS = re.compile(r"(呢[？?]?\s*$|^\s*(那|还有|另外)|^\s*(what|how) about\b|^\s*and\b)", re.I)


@dataclass(frozen=True)
class Turn:
    """What rewriting needs to remember of one finished turn."""

    question: str
    query: str  # its standalone query
    answer: str
    sources: tuple[tuple[str, int | None], ...] = ()  # (source, page) of the chunks it cited
    resolved: str = ""  # its standalone wording (pronoun resolved); "" = the question itself


@dataclass(frozen=True)
class Rewrite:
    query: str  # the standalone query used for retrieval
    question: str  # the question as the model should read it (pronoun resolved when possible)
    method: Method
    follow_up: bool
    subject: str = ""  # the earlier turn's subject put into the question, if any


def subjects(text: str) -> list[str]:
    """Names in `text` that a pronoun may point to, most specific first.

    Paths ("/var/cache/fonts") and identifiers ("LLaMA-7B", "webhooks.max_attempts", "B 线") come
    first, then runs of Latin words in Chinese text ("orreryctl node drain") or capitalised words
    in English ("Hollin Ridge Observatory"), then Chinese proper nouns found by jieba ("青岚大学").
    """
    # A path ("/var/cache/fonts") names one thing exactly, like an identifier.
    found: list[str] = [m.group(0).rstrip(".") for m in _PATH.finditer(text)]
    found += [n for n in names(text) if not any(n in path for path in found)]
    cjk = has_han(text)
    if cjk:
        found += [m.group(0).strip() for m in _LATIN_RUN.finditer(text)]
    found = _heads_first(found, text)
    if not cjk:
        for match in _CAPITALISED_RUN.finditer(text):
            words_ = match.group(0).split()
            if match.start() == 0 or text[: match.start()].rstrip().endswith((".", "?", "!")):
                words_ = words_[1:]  # the sentence's first word is capitalised anyway
            while words_ and words_[0].lower() in _QUESTION_WORDS:
                words_ = words_[1:]
            if words_:
                found.append(" ".join(words_))
    if cjk:
        import jieba.posseg as posseg

        segmenter()
        found += [p.word for p in posseg.cut(text) if p.flag in _PROPER and len(p.word) > 1]
    # Drop a candidate contained in an earlier, longer one ("BLOOM" after "BLOOM-176B").
    kept: list[str] = []
    for name in dict.fromkeys(n for n in found if n):
        if name.lower() in REFERRING or name.lower() in _QUESTION_WORDS:
            continue
        if not any(name in other for other in kept):
            kept.append(name)
    return kept


def _heads_first(found: list[str], text: str) -> list[str]:
    """`found` with each name that another one lives in ("journald.conf" in "journald.conf 里的
    SplitMode") moved after the names it holds."""
    containers = [
        a
        for a in found
        if any(b != a and re.search(re.escape(a) + _CONTAINER + re.escape(b), text) for b in found)
    ]
    return [n for n in found if n not in containers] + containers


def plural_antecedent(text: str) -> str | None:
    """The first plural noun of an English question with the lower-case words before it that
    modify it: what "they" in the next question most likely means ("Which two commands does the
    FHS say must sit together?" -> "two commands", not the singular name "FHS")."""
    found = _EN_WORD.findall(text)

    def content(word: str) -> bool:
        lower = word.lower()
        return lower not in QUESTION_STOPWORDS and lower not in _QUESTION_WORDS

    for index, word in enumerate(found):
        if not (_EN_PLURAL.fullmatch(word) and content(word)):
            continue
        start = index  # take up to two lower-case content words before it
        while start > 0 and index - start < 2:
            previous = found[start - 1]
            if not (previous.isalpha() and previous.islower() and content(previous)):
                break
            start -= 1
        return " ".join(found[start : index + 1])
    return None


def is_follow_up(question: str, history: list[Turn]) -> bool:
    """Whether the question leans on an earlier turn (pronoun, ellipsis, or no subject of its own)."""
    if not history:
        return False
    if has_reference(question) or _ELLIPSIS.search(question):
        return True
    # Too few content words to stand alone ("默认值是多少？", "Which option?").
    return len(key_terms(question)) <= 1 and not subjects(question)


def resolve_pronoun(question: str, subject: str, language: Language) -> str:
    """Put the subject in place of the first pronoun, or in front when there is none."""
    if language == "zh":
        # A space keeps jieba from gluing a Latin name to the next word ("ChatGLM-6B 的词表").
        spaced = f"{subject} " if subject[-1:].isascii() else subject
        resolved, count = _ZH_PRONOUN.subn(lambda _: spaced, question, count=1)
        resolved = re.sub(r" (?=[，。？！、：；,.?!])", "", resolved)
    else:

        def replace(match: re.Match[str]) -> str:
            word = match.group(1).lower()
            return f"{subject}'s" if word in {"its", "their"} else subject

        resolved, count = _EN_PRONOUN.subn(replace, question, count=1)
    if count:
        return resolved
    return f"{subject} {question}"


def history_rewrite(question: str, history: list[Turn], language: Language) -> Rewrite:
    """Standalone query without a model: resolve the pronoun, add the earlier turn's key terms."""
    if not is_follow_up(question, history):
        return Rewrite(query=question, question=question, method="none", follow_up=False)
    previous = history[-1]
    before = previous.resolved or previous.question
    own_subjects = subjects(question)
    own = {w.lower() for w in words(question)}
    subject = next((s for s in subjects(before) if s.lower() not in own), None)
    pronoun = _ZH_PRONOUN.search(question) or _EN_PRONOUN.search(question)
    if language == "en" and pronoun and _EN_PLURAL_PRONOUN.fullmatch(pronoun.group(0)):
        # "they" points at a plural, not at a singular name the earlier question also held.
        subject = plural_antecedent(before) or subject
    if own_subjects and subject and subject in before and not pronoun:
        # "BLOOM 呢？" after "ChatGLM-6B 有多少层？": the earlier question about the new subject.
        resolved = before.replace(subject, own_subjects[0])
    elif subject:
        resolved = resolve_pronoun(question, subject, language)
    else:
        resolved = question
    resolved_terms = {w.lower() for w in words(resolved)}
    carried = [t for t in key_terms(previous.query) if t not in resolved_terms]
    if own_subjects and subject:
        # The old subject is not what the user asks about now.
        carried = [t for t in carried if t not in {w.lower() for w in words(subject)}]
    query = " ".join([resolved, *carried]) if carried else resolved
    inserted = subject if subject and resolved != question and subject in resolved else ""
    if own_subjects and subject and subject in before and not pronoun:
        inserted = own_subjects[0]
    return Rewrite(
        query=query, question=resolved, method="history", follow_up=True, subject=inserted
    )


def format_history(history: list[Turn], language: Language, max_turns: int = 3) -> str:
    user, assistant = ("用户", "助手") if language == "zh" else ("User", "Assistant")
    lines = []
    for turn in history[-max_turns:]:
        lines.append(f"{user}: {turn.question}")
        # The answer's first line is enough to name the subject; whole answers waste the window.
        lines.append(
            f"{assistant}: {turn.answer.strip().splitlines()[0][:200] if turn.answer.strip() else ''}"
        )
    return "\n".join(lines)


def llm_rewrite(
    llm: ChatBackend, template: Template, question: str, history: list[Turn], language: Language
) -> str | None:
    """The model's standalone version of the question, or None if it is unusable."""
    messages: list[Message] = template.render(
        history=format_history(history, language), question=question
    )
    config = GenerationConfig(max_new_tokens=48, temperature=0.0, stop=("\n",))
    text = llm.generate(messages, config).strip().strip('"“”「」').strip()
    text = re.sub(r"^(standalone question|独立问题|问题|question)\s*[:：]\s*", "", text, flags=re.I)
    return text if _usable_rewrite(text, question, history) else None


def _usable_rewrite(text: str, question: str, history: list[Turn]) -> bool:
    """A rewrite must be one short question that keeps the follow-up's own terms and gains a subject."""
    if not text or "\n" in text or len(text) > 3 * len(question) + 80:
        return False
    own = key_terms(question)
    kept = sum(1 for t in own if t in text.lower())
    if own and kept < max(1, len(own) // 2):
        return False  # it dropped what the user asked about
    earlier = {s.lower() for turn in history for s in subjects(turn.query)}
    return not earlier or any(s in text.lower() for s in earlier) or bool(subjects(text))


def rewrite(
    question: str,
    history: list[Turn],
    language: Language,
    *,
    mode: str,
    llm: ChatBackend | None,
    template: Template | None,
    llm_capable: bool | None = None,
) -> Rewrite:
    """The standalone query for `question` given the finished turns before it.

    `llm_capable` None: what `llm` declares (`trusts_free_generation`)."""
    if mode == "off" or not history:
        return Rewrite(query=question, question=question, method="none", follow_up=False)
    if llm_capable is None:
        llm_capable = llm is not None and llm.trusts_free_generation
    use_llm = mode == "llm" or (mode == "auto" and llm_capable)
    # "auto" asks the model only about questions that look like follow-ups (one call saved per
    # standalone question); "llm" asks it about every question after the first.
    asked = mode == "llm" or is_follow_up(question, history)
    if use_llm and asked and llm is not None and template is not None:
        text = llm_rewrite(llm, template, question, history, language)
        if text:
            return Rewrite(query=text, question=text, method="llm", follow_up=True)
    return history_rewrite(question, history, language)
