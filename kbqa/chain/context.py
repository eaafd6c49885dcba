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

from kbqa.chain.relevance import name_pattern, names, normal_text
from kbqa.chain.terms import (
    char_ngrams,
    compound_parts,
    is_heading_like,
    is_option_tag,
    key_terms,
    sentences,
)
from kbqa.text.stopwords import QUESTION_STOPWORDS
from kbqa.text.table import markdown_body, markdown_cells, row_text
from kbqa.types import TABLE, Hit

# A sentence is kept in focus mode when it scores at least this share of the best sentence's score.
FOCUS_RATIO = 0.6
_CAPITALISED = re.compile(r"[A-Z][a-z][A-Za-z]*(?:\s+[A-Z][a-z][A-Za-z]*)*")
# How much a query word counts when the chunk's heading holds it too (see sentence_scores).
TOPIC_WEIGHT = 0.3


@dataclass(frozen=True)
class ContextItem:
    number: int  # the [n] the model sees
    hit: Hit
    text: str  # what the model sees (the chunk, or its most relevant sentences)
    relevance: float = 0.0  # the best sentence's score, for ordering


def is_fragment(sentence: str) -> bool:
    """A heading or label: short, without sentence punctuation; or an option's tag line."""
    return is_heading_like(sentence) or is_option_tag(sentence)


def _quote(text: str) -> str:
    # Retrieved text is data, not instructions: it goes inside quotes, and quote marks that would
    # close the quotation early are neutralised.
    return '"' + text.replace('"', "'").strip() + '"'


def table_rows(hit: Hit) -> list[tuple[str, str]]:
    """A table hit's row lines (header and separator left out), each with its row text: the row
    as a sentence that names its columns (`row_text`)."""
    header, rows = markdown_body(hit.text)
    return [(row, row_text(header, markdown_cells(row))) for row in rows]


def scoring_text(hit: Hit) -> str:
    """What the query is matched against: a table's row texts, one a paragraph, so a row is
    scored on its own and with its header's words."""
    if hit.kind != TABLE:
        return hit.text
    return "\n\n".join(text for _, text in table_rows(hit)) or hit.text


def table_row_of(rows: list[tuple[str, str]], sentence: str) -> tuple[str, str] | None:
    """The (row line, row text) of `table_rows` that a scored sentence comes from."""
    wanted = sentence.strip()
    return next((row for row in rows if wanted and wanted in row[1]), None)


def format_context(items: list[ContextItem]) -> str:
    """The context block: `[n] "text"` lines, most relevant last (nearest the question)."""
    ordered = sorted(items, key=lambda item: (item.relevance, -item.number))
    return "\n".join(f"[{item.number}] {_quote(item.text)}" for item in ordered)


def _capitalised(query: str) -> list[str]:
    """Capitalised English names inside the question ("Vicuna", "Hollin Ridge Observatory")."""
    found = []
    for match in _CAPITALISED.finditer(query):
        words = match.group(0).split()
        if match.start() == 0:
            words = words[1:]  # the question's first word is capitalised anyway
        if words and words[0].lower() not in QUESTION_STOPWORDS:
            found.append(" ".join(words))
    return found


def sentence_scores(
    query: str,
    texts: list[str],
    topics: list[str | None] | None = None,
    subject: str = "",
) -> list[list[tuple[str, float]]]:
    """For each text, its sentences with a relevance score (idf-weighted query-term matches).

    - Words in the headings of all the chunks (`topics`, one per text) found the section but do
      not pick the sentence: they count TOPIC_WEIGHT as much as the words that ask for the detail ("青岚大学校园班车" vs "教职工" in
      "青岚大学的教职工乘坐校园班车要付费吗？").
    - Names in the question ("A 线", "LLaMA-7B", "cache.max_entries", "Vicuna") identify the
      sentence as a whole ("A 线", not "线"): they count like a word as rare (unless they are the
      topic of every chunk).
    - A heading inside the text ("一、停水通知", an option's name) passes its score to the
      sentences under it, up to the next heading.
    - A sentence that only restates the question ("本地存储引擎。") counts half: it holds no answer.
    - A line repeated in several chunks (a running header) counts a fifth.
    """
    terms = key_terms(query)
    # A Chinese compound's parts ("默认" of "默认值") match where the compound does not ("默认是512").
    parts = {part: term for term in terms for part in compound_parts(term) if part not in terms}
    split = [sentences(text) or [text] for text in texts]
    flat = [s.lower() for group in split for s in group]
    total = max(len(flat), 1)
    weight = {}
    for term in [*terms, *parts]:
        df = sum(1 for s in flat if term in s)
        # Terms found in every sentence ("ChatGLM-6B" on its own page) say little; rare ones a lot.
        weight[term] = math.log(1 + total / df) if df else 0.0
    del subject  # kept for callers; an inherited subject still tells sentences apart ("B 线")
    query_names = [*names(query), *_capitalised(query)]
    patterns = [(n.lower(), name_pattern(n)) for n in dict.fromkeys(query_names)]
    query_units = char_ngrams(query)
    topics = topics or [None] * len(texts)
    # Topic words are those every chunk's heading holds (all the hits are about them, so they
    # cannot tell the sentences apart). A word in only some headings
    # still tells the right document from the others ("BLOOM" among BLOOM and LLaMA pages).
    headings = [(t or "").lower() for t in topics]
    common = {t for t in weight if headings and all(t in h for h in headings)}
    local = {t: w * (TOPIC_WEIGHT if t in common else 1.0) for t, w in weight.items()}
    bonus = [
        (name, p) for name, p in patterns if not (headings and all(name in h for h in headings))
    ]
    # A name counts like a word as rare ("A 线" in one sentence picks it; "LLaMA-7B" in every
    # sentence of the LLaMA-7B section picks none), once: not again when it is a query word.
    bonus = [(name, p) for name, p in bonus if name.lower() not in weight]
    normal_flat = [normal_text(s) for s in flat]
    name_weight = {}
    for name, pattern in bonus:
        df = sum(1 for s in normal_flat if pattern.search(s))
        name_weight[name] = math.log(1 + total / df) if df else 0.0
    # A line found in several chunks is a running header or footer ("… Administrator Manual").
    seen: dict[str, int] = {}
    for group in split:
        for sentence in set(group):
            seen[sentence] = seen.get(sentence, 0) + 1
    scored = []
    for group, topic in zip(split, topics, strict=True):
        topic_text = (topic or "").lower()
        # Per sentence: what it matched (term or name -> weight) and its factor.
        matched: list[dict[str, float]] = []
        factors: list[float] = []
        for sentence in group:
            lowered = sentence.lower()
            found = {t: w for t, w in local.items() if w and t in lowered}
            # a part counts only where its compound is missing
            found = {t: w for t, w in found.items() if t not in parts or parts[t] not in found}
            normal = normal_text(sentence)
            found.update({f"name:{n}": name_weight[n] for n, p in bonus if p.search(normal)})
            factor = 1.0
            units = char_ngrams(sentence)
            if units and units <= query_units:
                factor *= 0.5
            if seen[sentence] > 1:
                factor *= 0.2
            matched.append(found)
            factors.append(factor)
        rows = []
        label: int | None = None  # the inline heading or option name the sentence is under
        for i, sentence in enumerate(group):
            score = sum(matched[i].values()) * factors[i]
            if is_fragment(sentence):
                score *= 0.5  # a heading names the topic but holds no answer
                label = i if sentence.lower() not in topic_text else None
            elif label is not None:
                # An inline heading ("一、停水通知") or an option's name ("InhibitorsMax=") names
                # the topic of the sentences under it, up to the next one: what it matched and a
                # sentence lacks ("停水") counts for the sentence.
                extra = {k: w for k, w in matched[label].items() if k not in matched[i]}
                score += sum(extra.values()) * factors[label]
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
