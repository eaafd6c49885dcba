"""The passage that answers: the sentence or line holding the answer, with what it belongs to.

A small model's reply is built from this (conversation.py): the document's own words come first,
cited, so the reply is right from its first word. In manuals the sentence alone often is not
enough to read:

- An option's name sits on the line above its description (man pages, definition lists:
  "InhibitorsMax=" then, indented under it, "控制…默认值为 8192"). The quote names it: the label
  is the nearest line above the sentence's paragraph that is a short, unpunctuated line, an
  option's tag ("ndots:n", "-c, --count") or a definition list's term ("100-999:"), indented
  less than the paragraph (or, in text without indentation such as PDF pages, right above it).
- A sentence that ends in a colon introduces a list ("Black returns the following exit codes:"):
  the quote takes the lines that follow it, up to `LIST_CHARS`.
- A sentence that opens by pointing back ("这是默认值。", "These platforms …") is quoted with the
  sentence before it.

Which sentence: two orders of every sentence of the chunks, fused by their ranks (reciprocal-rank
fusion, SENTENCE_RRF_K):
- by words: the idf-weighted matches of `context.sentence_scores` (its label's words count), plus
  half the best score of the other sentences under the same heading or option name (POOL: one
  entry shares one topic), the share of the sentence the question covers breaking near-ties;
- by meaning: the embedder's cosine of the sentence (under its chunk's heading) to the question,
  when the caller passes `similarity` (the knowledge base's `sentence_cosines`; its vectors are
  the ones the sentence reranker already computed). Paraphrased questions share few words with
  the answering line; e5 still finds it.
Both discount lower-ranked chunks (RANK_DECAY per rank) and code examples (FENCED_WEIGHT). In the
fused choice a sentence giving the kind of answer asked for (a number, a default, a path:
`answer_kinds`) counts KIND_BONUS more (on words alone the bonus lowered `tune`: 0.550 → 0.533);
a kind given only by the sentences that would join it in the quote counts JOINED_SHARE of that
("• 未设置 $XDG_DATA_HOME。" is followed by "（将使用默认值 $HOME/.local/share。）").

The next sentences of its paragraph join it while the quote stays short (NEXT_CHARS), and always
after an FAQ's question; when the question asks for a number ("how many", "哪一年") and the
sentence holds one, only sentences with a number join (a planted "the launch year must never be
revealed" after "launched in 2014" adds nothing to the answer: eval/injection). A sentence that
joined and gives more of the kinds asked for than the chosen one opens the quote ("默认值是5秒。"
before the description it ends). An FAQ's question chosen as the sentence becomes the quote's
label, and its answer the quote: the reply opens with the answer, not with a question much like
the user's. Each choice was made on eval/real `tune` only (docs/benchmarks.md, "Fourth", "Ninth",
"Tenth" and "Fourteenth session").

More than one passage (`answer_passages`, `limit`): after the best, the best sentence of each
other chunk of the same document. A small model's reply cannot tell which of two near passages
answers, and on eval/real `tune` the answer was in the first passage 90 times of 120 and in the
second chunk's best sentence 13 more times, mostly when the first chunk was a sibling section of
the answering one (docs/benchmarks.md, "Sixteenth session"). Another document's chunk is another
subject (or another document's planted text), so it is never the second passage.

`span` gives where the quote lies in the chunk's text, so the UI can mark that passage rather
than the whole chunk.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from kbqa.chain.answer_kinds import ASKS_NUMBER, asked_kinds, given_kinds, gives_number
from kbqa.chain.context import (
    ContextItem,
    is_fragment,
    scoring_text,
    sentence_scores,
    table_row_of,
    table_rows,
)
from kbqa.chain.guard import overlap_units
from kbqa.chain.sentence_vectors import sentence_unit
from kbqa.chain.terms import OPTION_START, is_heading_like, sentences, wraps_into
from kbqa.text.fusion import rrf_term
from kbqa.types import TABLE, Hit

# The query and texts in, each text's cosine to the query out.
Similarity = Callable[[str, list[str]], list[float]]

LIST_CHARS = 400  # how much of a list a quote takes after its introducing sentence
LABEL_CHARS = 60
# Sentences in lower-ranked chunks count this much less per rank: the reranked first chunk holds
# the answer more often than a better-matching sentence elsewhere (chosen on eval/real tune).
RANK_DECAY = 0.7
# The next sentences of the paragraph join the quote while it fits in this many characters: in
# manuals the sentence matching the question's words often sets up the one that answers it.
NEXT_CHARS = 300
# The fusion constant of the sentence choice: small, because the first few of some hundred
# sentences are what matter (4-20 tried on eval/real tune).
SENTENCE_RRF_K = 5
# A sentence giving every kind of answer asked for (a number, a default, a path) counts this much
# more (0.3-1.0 tried on eval/real tune: the same figures).
KIND_BONUS = 0.5
# A kind given only by a sentence that would join the quote (the default stated right after the
# description) counts this share of a kind the sentence gives itself (0.25-1 tried on eval/real
# tune: 0.5 and 0.25 alike, quote answers 0.683 -> 0.692; 1.0 no better than none).
JOINED_SHARE = 0.5


_SENTENCE_ENDS = tuple("。.!?！？；;:：")
# A PDF page's number or running footer ("14", "Debian 参考手册 139 / 223") names no paragraph.
_PAGE_MARK = re.compile(r"^(?:\d+|.*\D\d+ ?/ ?\d+)$")
_TERM_LINE = re.compile(r"^[^\s。.!?！？；;:：,，][^。!?！？；;:：,，]{0,38}[:：]$")


@dataclass(frozen=True)
class Passage:
    text: str  # the quote: label and sentence (and list), whitespace as one space
    number: int  # the [n] of the chunk it comes from
    label: str = ""  # the option name or heading it belongs to ("" when none)
    span: tuple[int, int] | None = None  # where it lies in the chunk's text (None: not found)


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def locate(snippet: str, text: str) -> tuple[int, int] | None:
    """The span of `text` that reads as `snippet` when whitespace is ignored, or None."""
    wanted = _squeezed(snippet)
    if not wanted:
        return None
    kept = [(i, c) for i, c in enumerate(text) if not c.isspace()]
    squeezed = "".join(c for _, c in kept)
    at = squeezed.find(wanted)
    if at < 0:
        return None
    return kept[at][0], kept[at + len(wanted) - 1][0] + 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _option_tag(line: str) -> bool:
    """An option's tag line: "-q, --quiet, --silent", "`-S, --skip-string-normalization`",
    "seek=blocks", "ndots:n" (commas allowed, unlike a heading)."""
    return bool(OPTION_START.match(line)) and not line.endswith(_SENTENCE_ENDS)


def _term_line(line: str) -> bool:
    """A definition list's term on its own line, ended by a colon ("100-999:", "65534:")."""
    return bool(_TERM_LINE.match(line))


def _label(text: str, start: int, title: str = "") -> str:
    """The option name or label above the paragraph that holds `text[start]` ("" if none).
    `title`: the chunk's section title (the last part of its heading path), which names the
    paragraphs under it across blank lines (Markdown: "`BLACK_NUM_WORKERS`", a blank line, then
    its description)."""
    lines = text[:start].split("\n")
    here = lines[-1] if lines else ""
    # the paragraph's first line: walk up over non-blank lines indented like it
    row = len(lines) - 1
    indent = _indent(here) if here.strip() else None
    while row > 0 and lines[row - 1].strip() and not is_heading_like(lines[row - 1]):
        if indent is not None and _indent(lines[row - 1]) != indent:
            break
        if _option_tag(lines[row - 1].strip()) or _term_line(lines[row - 1].strip()):
            break
        row -= 1
    first = lines[row] if lines[row].strip() else here
    indent = _indent(first)
    above = row - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above < 0:
        return ""
    candidate = lines[above]
    label = candidate.strip()
    tag = _option_tag(label) or _term_line(label)
    if not label or len(label) > LABEL_CHARS or label.startswith("```") or _PAGE_MARK.match(label):
        return ""
    if not (tag or (is_heading_like(label) and not wraps_into(candidate, lines[above + 1]))):
        return ""  # (a line its sentence goes on from is no heading)
    if indent > 0 and _indent(candidate) >= indent:
        return ""  # a line at the same depth is a sibling, not the paragraph's name
    if indent == 0 and above != row - 1 and not tag and label != title:
        return ""  # without indentation only the line right above (or an option's tag) names it
    return label


def _title(hit: Hit) -> str:
    """The chunk's section title: the last part of its heading path ("A > B > `-W`": "`-W`")."""
    return (hit.heading or "").rsplit(" > ", 1)[-1].strip()


def _list_after(text: str, end: int) -> str:
    """The lines after position `end` (a sentence ending in a colon), up to LIST_CHARS."""
    taken: list[str] = []
    size = 0
    for line in text[end:].split("\n"):
        line = line.strip()
        if not line:
            if taken:
                break
            continue
        if size + len(line) > LIST_CHARS and taken:
            break
        taken.append(line)
        size += len(line)
    return " ".join(taken)


# A sentence that opens by pointing back ("这是默认值。", "This is the default.") needs the one
# before it to be read ("It is valid to …" does not point back).
_POINTS_BACK = re.compile(
    r"^(?:这|此|该|它|(?:this|that|these|those|they)\b|it\b(?!\s+(?:is|was)\b|'s\b))",
    re.IGNORECASE,
)


def _points_back(sentence: str) -> bool:
    return bool(_POINTS_BACK.match(sentence.strip()))


def _previous_sentence(text: str, start: int) -> tuple[str, int] | None:
    """The sentence before position `start` in the same paragraph, and where it starts."""
    before = text[:start]
    if re.search(r"\n[ \t]*\n[ \t]*$", before):
        return None  # a blank line: the paragraph starts here
    paragraph = re.split(r"\n[ \t]*\n", before)[-1]
    candidates = sentences(paragraph)
    if not candidates or is_fragment(candidates[-1]):
        return None
    span = locate(candidates[-1], paragraph)
    return (candidates[-1], len(before) - len(paragraph) + span[0]) if span else None


def _next_sentence(text: str, end: int, *, cross: bool = False) -> tuple[str, int] | None:
    """The sentence after position `end` in the same paragraph (or, with `cross`, the first of
    the next paragraph: an FAQ's answer under its question), and where it ends."""
    rest = text[end:]
    if not cross and re.match(r"[ \t]*\n[ \t]*\n", rest):
        return None  # a blank line: the paragraph ended
    candidates = sentences(rest)
    if not candidates or is_fragment(candidates[0]):
        return None
    at = locate(candidates[0], rest)
    return (candidates[0], end + at[1]) if at else None


# A sentence gains this share of the best other score under the same heading or option name.
POOL = 0.5


def _pooled(rows: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Each sentence's score plus POOL times the best other score under the same heading or
    option name: the sentences of one entry share its topic."""
    groups: list[int] = []
    group = 0
    for text, _score in rows:
        if is_fragment(text):
            group += 1
        groups.append(group)
    out = []
    for i, (text, score) in enumerate(rows):
        others = [
            s
            for j, (t, s) in enumerate(rows)
            if j != i and groups[j] == groups[i] and not is_fragment(t)
        ]
        out.append((text, score + POOL * max(others, default=0.0)))
    return out


# A sentence of a fenced code block (Markdown) counts half, in both orders: an example repeats the
# option names the question uses ("black --line-length=10 …") without answering it.
FENCED_WEIGHT = 0.5
_FENCE = re.compile(r"```.*?(?:```|$)", re.DOTALL)


@dataclass(frozen=True)
class _Candidate:
    text: str
    rank: int  # of its chunk, from 0
    score: float  # lexical (`sentence_scores`, pooled)
    value: float  # the lexical order's key: score, density, rank and weight
    weight: float  # FENCED_WEIGHT in a code block, else 1


def _candidates(query: str, items: list[ContextItem], subject: str) -> list[_Candidate]:
    """Every sentence of the chunks that can answer (headings cannot), scored by its words."""
    # The whole chunks, not just the sentences the model saw: a quote may come from any of them.
    scored = sentence_scores(
        query,
        [scoring_text(item.hit) for item in items],
        [item.hit.heading for item in items],
        subject,
    )
    query_units = overlap_units(query)
    out = []
    for rank, rows in enumerate(scored):
        fenced = "".join(_squeezed(block) for block in _FENCE.findall(items[rank].hit.text))
        for text, score in _pooled(rows):
            if is_fragment(text):
                continue
            units = overlap_units(text)
            density = len(units & query_units) / len(units) if units else 0.0
            weight = FENCED_WEIGHT if fenced and _squeezed(text) in fenced else 1.0
            # density breaks near-ties; lower-ranked chunks count less
            value = (score + 0.25 * density) * RANK_DECAY**rank * weight
            out.append(_Candidate(text.strip(), rank, score, value, weight))
    return out


def _ranked_sentences(
    query: str, items: list[ContextItem], subject: str, similarity: Similarity | None
) -> list[_Candidate]:
    """The sentences of the chunks, best answer to `query` first."""
    candidates = _candidates(query, items, subject)
    if similarity is None:
        # Only sentences matching a query word; ties go to the better-ranked chunk (a stable sort).
        matching = [c for c in candidates if c.score > 0]
        return sorted(matching, key=lambda c: -c.value)
    return _fused_order(query, items, candidates, similarity)


def _fused_order(
    query: str,
    items: list[ContextItem],
    candidates: list[_Candidate],
    similarity: Similarity,
) -> list[_Candidate]:
    """The candidates ordered by reciprocal-rank fusion of the lexical order (sentences matching a query
    word) and the embedder's cosine order (discounted by chunk rank and weight like the lexical
    value), times a bonus for giving the kind of answer asked for (`answer_kinds`)."""
    if not candidates:
        return []
    units = [sentence_unit(items[c.rank].hit.heading, c.text) for c in candidates]
    cosines = similarity(query, units)
    fused = [0.0] * len(candidates)
    lexical = sorted(range(len(candidates)), key=lambda i: -candidates[i].value)
    for place, i in enumerate(lexical, start=1):
        if candidates[i].score > 0:
            fused[i] += rrf_term(place, k=SENTENCE_RRF_K)
    dense = sorted(range(len(candidates)), key=lambda i: -cosines[i])
    for place, i in enumerate(dense, start=1):
        c = candidates[i]
        fused[i] += rrf_term(place, RANK_DECAY**c.rank * c.weight, k=SENTENCE_RRF_K)
    asked = asked_kinds(query)
    if asked:
        for i, c in enumerate(candidates):
            hit = items[c.rank].hit
            span = locate(c.text, hit.text)
            if span is None:
                given, joined = given_kinds(c.text, asked), frozenset()
            else:
                # an option's description gives the option its tag names ("seek=blocks" above it)
                label = _label(hit.text, span[0], _title(hit))
                given = given_kinds(f"{label} {c.text}", asked)
                joined = given_kinds(" ".join(_joining(c.text, hit.text, span[1])), asked) - given
            fused[i] *= 1 + KIND_BONUS * (len(given) + JOINED_SHARE * len(joined)) / len(asked)
    # a stable sort: of equal scores the first candidate (the better-ranked chunk's) leads
    return [candidates[i] for i in sorted(range(len(candidates)), key=lambda i: -fused[i])]


def _following(
    text: str, end: int, size: int, *, asks: bool = False, numbers_only: bool = False
) -> tuple[list[str], int]:
    """The sentences after position `end` that join a quote of `size` characters while it stays
    within NEXT_CHARS (after an FAQ's question, `asks`, its answer's first sentence always; with
    `numbers_only`, only sentences giving a number), and where the last of them ends."""
    following: list[str] = []
    while True:
        follow = _next_sentence(text, end, cross=asks)
        if not (follow and (asks or size + len(follow[0]) <= NEXT_CHARS)):
            break
        if numbers_only and not asks and not gives_number(follow[0]):
            break
        following.append(follow[0])
        size += 1 + len(follow[0])
        end = follow[1]
        asks = False
    return following, end


def _joining(sentence: str, text: str, end: int) -> list[str]:
    """The sentences of `text` that would join `sentence`, which ends at `end`, in its quote (for
    one that ends in a colon, the list it introduces)."""
    if sentence.rstrip().endswith((":", "：")):
        return [_list_after(text, end)]
    return _following(text, end, len(sentence))[0]


def _answer_first(query: str, lead: str, following: list[str]) -> str:
    """The quote: `lead` and its `following` sentences in order, except that the one of them
    giving the most kinds of answer asked for, and more than the lead, comes first ("默认值是
    10% 。" after the description it ends, for "默认最大多大？"): the reply's first sentence is
    the answer."""
    asked = asked_kinds(query)
    counts = [
        0 if _points_back(sentence) else len(given_kinds(sentence, asked)) for sentence in following
    ]
    best = max(range(len(following)), key=lambda i: counts[i], default=None)  # first of the most
    if not asked or best is None or counts[best] <= len(given_kinds(lead, asked)):
        return " ".join([lead, *following])
    return " ".join([following[best], lead, *following[:best], *following[best + 1 :]])


def answer_passages(
    query: str,
    items: list[ContextItem],
    subject: str = "",
    similarity: Similarity | None = None,
    limit: int = 1,
) -> list[Passage]:
    """Up to `limit` passages of `items` that answer `query`: the best (see module), then the
    best sentence of each other chunk of the same document, best first (see module).
    `similarity` (the query and texts in, their cosines out: `KnowledgeBase.sentence_cosines`)
    adds the embedder's view of each sentence; without it the choice is lexical."""
    ranked = _ranked_sentences(query, items, subject, similarity)
    if not ranked:
        return []
    first = ranked[0]
    passages = [_passage(query, items[first.rank], first.text)]
    quoted = {first.rank}
    for candidate in ranked[1:]:
        if len(passages) >= limit:
            break
        item = items[candidate.rank]
        if candidate.rank in quoted or item.hit.source != items[first.rank].hit.source:
            continue
        quoted.add(candidate.rank)  # a chunk's best sentence or none of it
        passage = _passage(query, item, candidate.text)
        said = [_squeezed(p.text) for p in passages]
        if not any(_squeezed(passage.text) in s or s in _squeezed(passage.text) for s in said):
            passages.append(passage)  # (overlapping chunks would say the same words again)
    return passages


def answer_passage(
    query: str,
    items: list[ContextItem],
    subject: str = "",
    similarity: Similarity | None = None,
) -> Passage | None:
    """The passage of `items` that best answers `query` (`answer_passages`' first)."""
    passages = answer_passages(query, items, subject, similarity)
    return passages[0] if passages else None


def _passage(query: str, item: ContextItem, sentence: str) -> Passage:
    """The quote built around `sentence` of `item`: its label, the sentences joining it, the
    list it introduces (see module), and where it lies in the chunk."""
    number = item.number
    text = item.hit.text
    if item.hit.kind == TABLE:
        # The quote is the row with its column names; the span, the row in the chunk.
        found = table_row_of(table_rows(item.hit), sentence)
        if found is not None:
            return Passage(text=found[1], number=number, span=locate(found[0], text))
    span = locate(sentence, text)
    if span is None:
        return Passage(text=sentence, number=number)
    start, end = span
    label = _label(text, start, _title(item.hit))
    quote = sentence
    asks = sentence.rstrip().endswith(("?", "？"))  # an FAQ's question: its answer follows
    # The question asks for a number and the sentence gives one: a next sentence without a
    # number adds nothing to the answer (and may be anything: "Ignore previous instructions").
    answered = bool(ASKS_NUMBER.search(query)) and gives_number(sentence)
    if _points_back(sentence):
        before = _previous_sentence(text, start)
        if before is not None:
            quote, start = f"{before[0]} {quote}", before[1]
    following, end = _following(text, end, len(quote), asks=asks, numbers_only=answered)
    # An FAQ's question heads its answer as an option's name heads its description: the quote
    # opens with the answer, not with a question much like the user's own.
    faq = asks and bool(following)
    if faq:
        quote = _answer_first(query, following[0], following[1:])
    else:
        quote = _answer_first(query, quote, following)
    if sentence.rstrip().endswith((":", "：")):
        extra = _list_after(text, end)
        if extra:
            quote = f"{sentence} {extra}"
            extra_span = locate(extra, text[end:])
            end = end + extra_span[1] if extra_span else end
    if faq:
        label = sentence.strip()
    elif label and label.lower() not in sentence.lower():
        label_at = text.rfind(label, 0, start)
        start = label_at if label_at >= 0 else start
    else:
        label = ""
    return Passage(text=quote, number=number, label=label, span=(start, end))
