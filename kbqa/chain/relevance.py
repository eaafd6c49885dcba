"""Is anything retrieved relevant enough to answer from? Decides the refusal, before any model.

Two tests, both cheap:

1. The cut-off, `settings.chain.min_similarity`: the best hit's cosine similarity to the query
   must reach it. This catches questions about nothing in the knowledge base.
2. Names: every name the question hinges on (an identifier with a digit, dot, underscore, hyphen
   or inner capital: "GPT-4", "INT2", "auth.password_max_age", "LLaMA 2", "attempts-max",
   "ReadKMsg"; an option with its value, "status=progress"; a command-line option, "-Z"; a line
   letter such as "C 线", not "G 等于") must occur in some retrieved passage, its heading or its
   document's name (a page of debian-reference.pdf need not say "Debian" to answer for it). Near
   misses (a question on a manual's topic asking for an option the manual does not have) hinge on
   exactly such a name. In a Chinese question every Latin word counts as a name ("用 zypper 怎么
   安装 orrery？"). A lower-case hyphenated compound ("single-quoted") that the documents use
   elsewhere is a word of theirs, not a missing name. Embedders score "How many parameters does
   GPT-4 have?" as close to the LLaMA page as a real LLaMA question (cosine 0.82-0.90 for
   e5-small), so the cut-off alone cannot tell "nearby topic" from "answer present"; an exact
   name that appears nowhere can. No number to tune here.
3. Words: at least one content word of the question must occur in a retrieved passage. Chinese
   small talk ("今天天气怎么样？") reaches cosine 0.85 with e5-small against any Chinese page, yet
   shares not one word with it.

Where the embedder and mode are calibrated, `min_relevance` applies the cut-off to the best hit's
calibrated relevance (`Hit.relevance`) as well; it is off by default (see ChainSettings).

A near miss on a concept rather than a name ("Will Black sort imports for me as well?") passes
all three; for a small model's English questions, the passages' support (support.py) decides it
once the model is loaded.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kbqa.chain.terms import key_terms
from kbqa.store.tokenize import segmenter
from kbqa.text.cjk import HAN, has_han
from kbqa.types import Hit

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*")
# A capitalised name followed by a version number: "LLaMA 2", "Severity 2", "ChatGLM 3".
_NAME_NUMBER = re.compile(r"\b([A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)\s+(\d+(?:\.\d+)?)\b(?![.\d%])")
# A single capital letter naming a line, grade or zone in Chinese text: "C 线", "B 区".
_LETTER_CJK = re.compile(rf"(?<![A-Za-z0-9])([A-Z])\s*([{HAN}])")
# An option with its value ("status=progress"): the pair is what the question hinges on.
_SETTING = re.compile(r"(?<![\w-])[A-Za-z][\w-]*=[\w-]+")
# A command-line option ("-Z", "--count"): an identifier, however short.
_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*")
_SEPARATORS = re.compile(r"[\s\-_/]+")


def normal_text(text: str) -> str:
    """Lower-cased, NFKC, separators (space, -, _, /) as single spaces: how names are matched."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def names(question: str) -> list[str]:
    """The names `question` hinges on (see the module docstring), in order."""
    found: list[str] = []
    for match in _NAME.finditer(question):
        name = match.group(0)
        inner_capital = any(c.isupper() for c in name[1:])
        if any(c.isdigit() for c in name) or any(c in "._-" for c in name) or inner_capital:
            found.append(name)
    for match in _SETTING.finditer(question):
        found.append(match.group(0))
    for match in _OPTION.finditer(question):
        option = match.group(0)  # in place of its bare name ("line-ranges" of "--line-ranges")
        found = [option if n == option.lstrip("-") else n for n in found]
        found.append(option)
    for match in _NAME_NUMBER.finditer(question):
        found.append(f"{match.group(1)} {match.group(2)}")
    for match in _LETTER_CJK.finditer(question):
        # "C 线" names a line; in "G 等于" the character starts a word of its own
        if len(segmenter().lcut(question[match.start(2) :])[0]) == 1:
            found.append(f"{match.group(1)} {match.group(2)}")
    return list(dict.fromkeys(found))


def hinged_names(question: str) -> list[str]:
    """`names`, and in Chinese text every Latin word too: there a Latin word names a command,
    package or product ("zypper", "grep"), and a near miss hinges on it as on an identifier."""
    found = names(question)
    if has_han(question):
        words = [m.group(0) for m in _NAME.finditer(question) if len(m.group(0)) > 1]
        # A word inside a name already found ("progress" of "status=progress") adds nothing.
        found += [w for w in words if not any(w.lower() in n.lower() for n in found)]
    return list(dict.fromkeys(found))


def name_pattern(name: str) -> re.Pattern[str]:
    parts = [re.escape(part) for part in normal_text(name).split(" ")]
    return re.compile(r"(?<![a-z0-9])" + r"\s*".join(parts) + r"(?![a-z0-9])")


# A name with a release number that has a dot ("Python 3.7"): the release is named on its own
# under the name ("Python versions … support for 3.7 was removed"); a bare integer ("LLaMA 2")
# is too common to count apart from its name.
_RELEASE = re.compile(r"^(.+) (\d+\.\d+)$")


def _found(name: str, text: str) -> bool:
    """Whether the name occurs in the (normalised) text."""
    if name_pattern(name).search(text):
        return True
    release = _RELEASE.match(name)
    return bool(release) and all(name_pattern(part).search(text) for part in release.groups())


# A word of lower-case letters joined by hyphens ("single-quoted", "read-only"): a compound of
# the documents' prose as often as an option's bare name ("line-ranges").
_COMPOUND = re.compile(r"^[a-z]+(?:-[a-z]+)+$")


def spelt_as_given(name: str) -> re.Pattern[str]:
    """`name` whole and spelt as given, case aside: "no-aaaa" is not "no AAAA records"."""
    return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)


def _held(name: str, texts: list[str], normalised: list[str]) -> bool:
    """Whether one of `texts` (`normalised`: the same, by `normal_text`) holds the name. A
    lower-case hyphenated compound ("no-aaaa", "single-quoted") is looked for spelt as given:
    with its hyphens read as spaces it is any two words side by side ("no AAAA records")."""
    if _COMPOUND.match(name):
        pattern = spelt_as_given(name)
        return any(pattern.search(text) for text in texts)
    return any(_found(name, text) for text in normalised)


def missing_names(question: str, texts: Iterable[str]) -> list[str]:
    """The question's names that occur in none of `texts` (`_held`)."""
    texts = list(texts)
    normalised = [normal_text(text) for text in texts]
    return [n for n in hinged_names(question) if not _held(n, texts, normalised)]


def shares_words(question: str, texts: Iterable[str]) -> bool:
    """Whether any content word of the question occurs in one of `texts` (True if it has none)."""
    # Single Chinese characters ("做", "部") occur in any Chinese page: they prove nothing.
    terms = [normal_text(t) for t in key_terms(question) if len(t) > 1 or t.isascii()]
    if not terms:
        return True
    corpus = [normal_text(text) for text in texts]
    return any(term in text for term in terms for text in corpus)


@dataclass(frozen=True)
class Relevance:
    best: float  # the best hit's cosine similarity
    best_relevance: float | None = None  # the best hit's calibrated relevance (None: unmeasured)
    missing: list[str] = field(default_factory=list)  # names found in no retrieved passage
    shares_words: bool = True
    low_relevance: bool = False  # the best calibrated relevance is below `min_relevance`
    relevant: bool = False

    @property
    def reason(self) -> str:
        if self.relevant:
            return ""
        if self.missing:
            return f"not in the retrieved passages: {', '.join(self.missing)}"
        if not self.shares_words:
            return "no word of the question occurs in the retrieved passages"
        if self.low_relevance:
            return f"best relevance {self.best_relevance:.3f} below the cut-off"
        return f"best similarity {self.best:.3f} below the cut-off"


def judge(
    question: str,
    hits: list[Hit],
    min_similarity: float,
    min_relevance: float = 0.0,
    mentions: Callable[[str], bool] | None = None,
) -> Relevance:
    """Whether `hits` can answer `question` (the refusal decision). `mentions` (the knowledge
    base's `mentions`): whether a name occurs anywhere in the documents. A compound word the
    retrieved passages lack but the documents use ("How do I leave my single-quoted strings
    alone?") is a word of theirs that retrieval missed, not a name nothing answers for."""
    best = max((hit.score for hit in hits), default=0.0)
    measured = [hit.relevance for hit in hits if hit.relevance is not None]
    best_relevance = max(measured) if measured else None
    low = best_relevance is not None and best_relevance < min_relevance
    texts = [hit.text for hit in hits]
    # A passage's heading and document name say what it is about ("Debian" in
    # debian-reference.pdf): a name found there is one the passage can answer for.
    named = texts + [f"{hit.source} {hit.heading or ''}" for hit in hits]
    missing = missing_names(question, named) if hits else []
    if mentions is not None:
        missing = [n for n in missing if not (_COMPOUND.match(n) and mentions(n))]
    overlap = shares_words(question, texts) if hits else False
    relevant = bool(hits) and best >= min_similarity and not missing and overlap and not low
    return Relevance(
        best=best,
        best_relevance=best_relevance,
        missing=missing,
        shares_words=overlap,
        relevant=relevant,
        low_relevance=low,
    )
