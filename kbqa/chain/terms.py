"""Cheap lexical features the chain needs: key terms of a question, n-gram overlap, sentences.

Why lexical: they run in microseconds on any text, with no model, and are exact about names and
numbers ("ChatGLM-6B", "4096") where the small chat model is weakest.
"""

from __future__ import annotations

import re

from kbqa.store.tokenize import segmenter
from kbqa.text.cjk import HAN, HAN_RE
from kbqa.text.headings import is_numbered_heading
from kbqa.text.stopwords import QUESTION_STOPWORDS

_LATIN = "A-Za-z0-9\u00c0-\u024f"  # ASCII and accented Latin letters ("café")
_TOKEN = re.compile(rf"[{_LATIN}][{_LATIN}.\-_+]*[{_LATIN}]|[{_LATIN}]|[{HAN}]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Sentence ends: Chinese punctuation, or English . ! ? followed by a space; newlines too.
# A sentence ends after its punctuation, or after the closing quotes or brackets that follow it
# ('… with "Service suspended."', '回答“无可奉告。”'): the quote belongs to the sentence it closes.
_CLOSERS = "\"'”’」』）)]"
_CLOSE = "[" + re.escape(_CLOSERS) + "]"
# English "?" and "!" end one only before a space, like ".", and not as the shell's "$?" ("foo?bar"
# is a pattern, "|| [ $? -eq 1 ]" a command); nor does a mark with a space before it, which is a
# character named in the text ("the wildcards * and ? apply", "the characters + . ~").
_SENTENCE_END = re.compile(
    rf"(?<=[。！？；])(?!{_CLOSE})|(?<=[。！？；]{_CLOSE})"
    rf"|(?<=[.;!?])(?<!\$[!?])(?<!\s[.;!?])(?=\s)|(?<=[.;!?]{_CLOSE})(?=\s)"
)
_LINE_END = set("。！？；!?.;:：")
# Sentence punctuation; a dot between digits ("4.3") is a decimal point, not punctuation.
_PUNCTUATED = re.compile(r"[。！？!?:：，,；;]|\.(?!\d)")

# Words that mark a follow-up leaning on an earlier turn.
_REFERRING = """
    它 它们 它的 他 他们 其 该 这个 那个 这些 那些 这 那 此 上述 前者 后者 呢 还有 另外 同样
    it its it's they them their theirs this that these those former latter one ones same also
    too either another other else
"""
REFERRING = frozenset(_REFERRING.split())


def words(text: str) -> list[str]:
    """Words of `text`, lower-cased: Latin/number runs as they are, Chinese runs cut by jieba."""
    out: list[str] = []
    for run in _TOKEN.findall(text):
        if HAN_RE.search(run):
            out.extend(w for w in segmenter().lcut(run) if w.strip())
        else:
            out.append(run.lower())
    return out


def key_terms(text: str) -> list[str]:
    """Content words of `text` in order, without stopwords or duplicates.

    English plurals lose their "s" so that substring matching finds both forms ("parameter" is in
    "parameters"); the adjective after "how" is part of the question, not its subject ("how large").
    """
    seen: list[str] = []
    previous = ""
    for word in words(text):
        after_how, previous = previous == "how", word
        if word in QUESTION_STOPWORDS or after_how:
            continue
        if len(word) == 1 and not word.isdigit() and not HAN_RE.search(word):
            continue
        if len(word) > 4 and word.isalpha() and word.isascii() and word.endswith("s"):
            word = word[:-1]
        if word not in seen:
            seen.append(word)
    return seen


def compound_parts(word: str) -> list[str]:
    """The words of two or more characters inside a Chinese compound of three or more, by
    jieba's search mode ("默认值" -> ["默认"]); none for other words."""
    if len(word) < 3 or not HAN_RE.search(word):
        return []
    return [p for p in segmenter().lcut_for_search(word) if p != word and len(p) > 1]


def has_reference(text: str) -> bool:
    """Whether the text uses a word that points back to an earlier turn. "它" means only "it",
    so a word jieba glued it into ("它会", "它能") counts too."""
    return any(word in REFERRING or word.startswith("它") for word in words(text))


def char_ngrams(text: str) -> set[str]:
    """Overlap units: Chinese character bigrams (and single characters) plus Latin words."""
    grams: set[str] = set()
    for run in _TOKEN.findall(text):
        if HAN_RE.search(run):
            grams.update(run)
            grams.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            grams.add(run.lower())
    return grams - QUESTION_STOPWORDS


def numbers(text: str) -> list[str]:
    """Numbers written in `text` ("62", "6.2", "32000", "1,024"), commas removed."""
    return [n.replace(",", "") for n in _NUMBER.findall(text)]


def is_heading_like(line: str) -> bool:
    """A heading, label or running header: at most 60 characters, no sentence punctuation; or a
    numbered section heading."""
    line = line.strip()
    return (len(line) <= 60 and not _PUNCTUATED.search(line)) or is_numbered_heading(line)


# How an option's name starts a line: "-q", "--count", "`-l`", "seek=", "ndots:n".
OPTION_START = re.compile(r"^`?(?:--?[A-Za-z]|[A-Za-z][\w.-]*(?:=|:\w))")


def is_option_tag(line: str) -> bool:
    """An option's tag line ("-m NUM, --max-count=NUM", "`-l`, `--line-length`",
    "SystemMaxUse=, SystemKeepFree="): option names, each with at most a value's name."""
    line = line.strip()
    if not OPTION_START.match(line) or line[-1:] in _LINE_END or HAN_RE.search(line):
        return False
    return all(len(item.split()) <= 2 for item in line.split(","))


def wraps_into(line: str, next_line: str) -> bool:
    """Whether `next_line` goes on with the sentence of `line` though `line` looks like a
    heading ("If this does not" / "yield conclusive results, …" in hard-wrapped Markdown): it
    starts in lower case and is not indented deeper (a description under an option's tag is)."""
    stripped = next_line.lstrip(" \t")
    if not stripped[:1].islower() or not stripped[:1].isascii():
        return False
    indent = len(line) - len(line.lstrip(" \t"))
    return len(next_line) - len(stripped) <= indent and line.strip()[-1:] not in _LINE_END


def _lines(text: str) -> list[str]:
    """Lines rejoined where a line break only wraps a sentence (PDF text): a break counts when
    the line ends a sentence, is short and unpunctuated (a heading, unless the next line goes on
    with its sentence), or a blank line follows."""
    out: list[str] = []
    current = ""
    for raw in re.split(r"(\n\s*\n)", text):
        if not raw.strip():
            if current:
                out.append(current)
            current = ""
            continue
        raw_lines = [line for line in raw.split("\n") if line.strip()]
        for index, raw_line in enumerate(raw_lines):
            line = raw_line.strip()
            if current and is_numbered_heading(line):
                out.append(current)  # a section starts: what went before ended (PDF text)
                current = ""
            if not current:
                current = line
            else:
                both_cjk = HAN_RE.match(current[-1]) and HAN_RE.match(line[0])
                glue = "" if both_cjk else " "
                current += glue + line
            following = raw_lines[index + 1] if index + 1 < len(raw_lines) else ""
            if current.rstrip(_CLOSERS)[-1:] in _LINE_END or (
                (is_heading_like(current) or is_option_tag(current))
                and not wraps_into(raw_line, following)
            ):
                out.append(current)
                current = ""
    if current:
        out.append(current)
    return out


def sentences(text: str) -> list[str]:
    """The text cut into sentences (Chinese and English punctuation; line breaks that end one)."""
    return [
        s.strip()
        for line in _lines(text)
        for s in ([line] if is_numbered_heading(line) else _SENTENCE_END.split(line))
        if s and s.strip()
    ]
