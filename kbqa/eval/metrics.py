"""Scores for a question set: retrieval (hit@k, MRR), answers, refusals; per language and kind.

- hit@k: the evidence, NFKC-normalised with all whitespace removed, occurs in one of the top k
  chunks (normalised the same way), or a top-k chunk has the evidence's PDF doc and page.
- MRR: mean over answerable items of 1/rank of the first hit, 0 when none is in the top 10.
- answer accuracy (answerable items): an accepted answer occurs in the reply, case-insensitively
  unless the item says `case_sensitive`. Both sides are NFKC-normalised, a space in an answer
  also matches no space ("62 亿" matches "62亿"), and a number must not be part of a longer
  number ("28" does not match "128" or "2.8").
- refusal accuracy: share of unanswerable items whose reply says the knowledge base does not hold
  the answer; false-refusal rate: share of answerable items whose reply says so.

Retrieval scores cover answerable items that have evidence or a doc and page; answer and refusal
scores are None (shown "-") when no prediction has an answer (retrieval-only runs).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from kbqa.errors import KBQAError
from kbqa.eval.dataset import KINDS, LANGS, Prediction, Question, RetrievedChunk

MRR_CUTOFF = 10
DEFAULT_KS: tuple[int, ...] = (1, 3, 5, 10)

_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, then every whitespace character removed: how evidence and chunks are compared."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text))


# ---------------------------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------------------------


def chunk_hits(question: Question, chunk: RetrievedChunk) -> bool:
    """True when `chunk` holds the question's evidence (text match, or the PDF doc and page)."""
    if question.evidence and normalize(question.evidence) in normalize(chunk.text):
        return True
    return (
        question.doc is not None
        and question.page is not None
        and chunk.page == question.page
        and chunk.source == question.doc
    )


def has_retrieval_truth(question: Question) -> bool:
    return question.answerable and bool(
        question.evidence or (question.doc is not None and question.page is not None)
    )


def first_hit_rank(
    question: Question, retrieved: Sequence[RetrievedChunk], max_rank: int = MRR_CUTOFF
) -> int | None:
    """1-based rank of the first chunk that hits, looking at the top `max_rank`; None if none."""
    for rank, chunk in enumerate(retrieved[:max_rank], start=1):
        if chunk_hits(question, chunk):
            return rank
    return None


# ---------------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _answer_pattern(answer: str, case_sensitive: bool) -> re.Pattern[str]:
    parts = [re.escape(part) for part in unicodedata.normalize("NFKC", answer).split()]
    body = r"\s*".join(parts)
    # A number must stand alone: "28" is not in "128", "2.8" or "280".
    if re.match(r"\d", parts[0]):
        body = r"(?<!\d)(?<!\d\.)" + body
    if re.search(r"\d$", parts[-1]):
        body += r"(?!\.?\d)"
    return re.compile(body, 0 if case_sensitive else re.IGNORECASE)


def answer_matches(question: Question, reply: str) -> bool:
    """True when one of the question's accepted answers occurs in `reply`."""
    text = unicodedata.normalize("NFKC", reply)
    return any(
        _answer_pattern(answer, question.case_sensitive).search(text)
        for answer in question.answers
        if answer.strip()
    )


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------

_ZH_SOURCE = (
    r"(?:知识库|已知信息|参考信息|参考资料|上下文|提供的(?:信息|资料|内容|文档|材料)|文档|资料)"
)
_ZH_REFUSALS = [
    # 知识库中没有相关信息 / 已知信息中未提及 / 提供的资料里并没有提到
    re.compile(
        _ZH_SOURCE + r"(?:中|里|内)?(?:并)?(?:没有|未|不|无)(?:包含|提供|提到|提及|涉及|记载|"
        r"找到|相关|关于|该|此|这|足够|答案|具体|明确)"
    ),
    # 未找到相关信息 / 没有在知识库中找到答案 / 无法检索到相关内容
    re.compile(
        r"(?:没有|没能|未能|未|无法|不能)(?:在" + _ZH_SOURCE + r"(?:中|里|内)?)?"
        r"(?:找到|检索到|查到|查询到)(?:任何)?(?:相关|有关|相应|对应)?的?"
        r"(?:信息|内容|答案|资料|记录|文档|说明)"
    ),
    # 无法根据已知信息回答 / 不能从提供的内容中得出
    re.compile(
        r"(?:无法|不能|没法|难以)(?:根据|从|依据|基于)(?:已知|现有|提供的|给定的|上述|以上)?的?"
        r"(?:信息|内容|资料|知识库|文档|上下文|材料)(?:中|里)?(?:来)?"
        r"(?:回答|作答|得出|给出|找到|确定|判断)"
    ),
    # 知识库里找不到答案 / 查不到相关信息
    re.compile(
        r"(?:找不到|查不到|检索不到|搜不到)(?:任何)?(?:相关|有关|相应|对应)?的?"
        r"(?:信息|内容|答案|资料|记录|文档|说明)"
    ),
    re.compile(r"无法回答"),
    re.compile(r"(?:没有|未)提供(?:足够的?)?(?:相关)?的?(?:信息|资料)"),
    re.compile(r"(?:抱歉|对不起).{0,20}(?:不知道|无法|不清楚|没有|找不到)"),
    re.compile(r"我不(?:知道|清楚)"),
]

_EN_SOURCE = (
    r"(?:knowledge\s+base|(?:provided|given|available|supplied)\s+"
    r"(?:information|context|documents?|sources?|passages?|texts?|excerpts?|materials?)|"
    r"known\s+information|(?:the|these|this|my)\s+(?:documents?|context|sources?|passages?|excerpts?))"
)
_EN_NEG = r"(?:does\s+not|doesn't|do\s+not|don't|did\s+not|didn't|cannot|can't|can\s+not)"
_EN_CANNOT = (
    r"(?:cannot|can't|can\s+not|could\s+not|couldn't|unable\s+to|not\s+able\s+to|was\s+unable\s+to)"
)
_EN_REFUSALS = [
    # The knowledge base does not contain ... / the provided context doesn't mention ...
    re.compile(
        r"\b" + _EN_SOURCE + r"\b[^.!?]{0,80}?\b" + _EN_NEG + r"\s+(?:seem\s+to\s+)?"
        r"(?:contain|include|mention|provide|say|cover|have|hold|specify|state|answer|address)"
    ),
    # ... is not mentioned in the provided information / not found in the knowledge base
    re.compile(
        r"\b(?:not|never|nothing|isn't|aren't)\s+(?:\w+\s+)?(?:mentioned|found|included|covered|"
        r"provided|specified|available|stated|present|listed|given|contained)\s+"
        r"(?:in|by|within)\s+(?:the\s+|my\s+)?" + _EN_SOURCE
    ),
    re.compile(r"\bnot\s+in\s+(?:the\s+|my\s+)?" + _EN_SOURCE),
    # I cannot find this in the knowledge base / could not locate ... in the documents
    re.compile(
        r"\b" + _EN_CANNOT + r"\s+(?:find|locate|see)\b[^.!?]{0,80}?\b(?:in|from|within)\s+"
        r"(?:the\s+|my\s+)?" + _EN_SOURCE
    ),
    # cannot answer (this) from / based on the provided information
    re.compile(
        r"\b" + _EN_CANNOT + r"\s+(?:answer|determine|tell|say)\b[^.!?]{0,60}?"
        r"\b(?:from|based\s+on|with|using|given|according\s+to)\s+(?:the\s+|my\s+)?" + _EN_SOURCE
    ),
    re.compile(
        r"\b(?:i\s+)?(?:cannot|can't|can\s+not|am\s+unable\s+to|am\s+not\s+able\s+to)\s+"
        r"answer\s+(?:this|that|your|the)\s+question"
    ),
    re.compile(
        r"\bno\s+(?:relevant\s+|such\s+|specific\s+)?information\s+(?:about|on|regarding|in|for)\b"
    ),
    re.compile(r"\bthere\s+(?:is|'s)\s+no\s+(?:mention|information|answer)\b"),
    # The knowledge base has no information on ... / not enough information
    re.compile(
        r"\b" + _EN_SOURCE + r"\b[^.!?]{0,40}?\b(?:has|have|holds|contains|includes|provides|gives)"
        r"\s+no\s+(?:\w+\s+)?(?:information|answer|details|mention|data)"
    ),
    re.compile(r"\b(?:not\s+enough|insufficient)\s+information\b"),
    re.compile(r"\bi\s+(?:don't|do\s+not)\s+know\b"),
    re.compile(
        r"\bdoes(?:n't|\s+not)\s+(?:contain|hold|include)\s+(?:the\s+|this\s+|that\s+|any\s+|an\s+)?(?:answer|information)"
    ),
]

_SLOT = "\x00"  # stands in for {question} etc. while a refusal template is split into literals
_MIN_FRAGMENT = 6  # a shorter refusal text is too common a string to mean a refusal


@lru_cache(maxsize=32)
def _refusal_template(path: str, mtime_ns: int) -> tuple[str, ...]:
    """The chain's refusal reply from one template file, as its normalised literal pieces (split
    at its placeholders); a reply containing all pieces, in order, is that refusal."""
    from kbqa.chain.prompts import Template

    del mtime_ns  # part of the cache key only: an edited file is read again
    try:
        # The chain's own parser and placeholder rules, so "the exact content" means the same here.
        template = Template.load(Path(path))
        text = template.render(context=_SLOT, question=_SLOT, history=_SLOT)[-1]["content"]
    except (KBQAError, UnicodeDecodeError):
        return ()
    pieces = tuple(piece for piece in (normalize(p).casefold() for p in text.split(_SLOT)) if piece)
    return pieces if sum(map(len, pieces)) >= _MIN_FRAGMENT else ()


def _bundled_prompt_dirs() -> list[Path]:
    from kbqa.chain.prompts import bundled_prompt_dir

    try:
        return [bundled_prompt_dir()]
    except KBQAError:  # prompts/ not written (yet): the patterns still apply
        return []


def refusal_templates(
    prompt_dirs: Iterable[str | os.PathLike[str]] = (),
) -> list[tuple[str, ...]]:
    """The refusal replies of `refusal.{zh,en}.txt` in `prompt_dirs` (e.g. a user's
    `chain.prompt_dir`) and in kbqa's bundled prompts/, whichever exist now."""
    templates: list[tuple[str, ...]] = []
    for folder in (*map(Path, prompt_dirs), *_bundled_prompt_dirs()):
        for lang in LANGS:
            path = folder / f"refusal.{lang}.txt"
            try:
                mtime = path.stat().st_mtime_ns
            except OSError:
                continue
            if pieces := _refusal_template(str(path), mtime):
                templates.append(pieces)
    return templates


def _contains_in_order(text: str, fragments: tuple[str, ...]) -> bool:
    start = 0
    for fragment in fragments:
        found = text.find(fragment, start)
        if found < 0:
            return False
        start = found + len(fragment)
    return True


def is_refusal(
    text: str,
    lang: str | None = None,
    prompt_dirs: Iterable[str | os.PathLike[str]] = (),
) -> bool:
    """True when `text` says the knowledge base does not hold the answer.

    Recognises common phrasings in Chinese and English and the exact replies of the chain's
    refusal templates. `lang` is the question's language; the phrasings of both languages count
    whatever it is, because a small model sometimes replies in the other language.
    """
    if not text.strip():
        return False
    nfkc = unicodedata.normalize("NFKC", text)
    compact = _WHITESPACE.sub("", nfkc)  # Chinese phrasings, whatever spacing the model used
    spaced = _WHITESPACE.sub(" ", nfkc).lower()
    if any(p.search(compact) for p in _ZH_REFUSALS):
        return True
    if any(p.search(spaced) for p in _EN_REFUSALS):
        return True
    folded = compact.casefold()
    return any(_contains_in_order(folded, t) for t in refusal_templates(prompt_dirs))


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemScore:
    id: str
    lang: str
    kind: str
    retrieval_scored: bool  # answerable with evidence or doc+page
    hit_rank: int | None  # 1-based rank of the first hit within the top MRR_CUTOFF
    answer_correct: bool | None  # None for unanswerable items
    refused: bool
    missing: bool  # no prediction for this id


@dataclass
class GroupMetrics:
    n: int = 0
    answerable: int = 0
    unanswerable: int = 0
    retrieval_n: int = 0
    missing: int = 0
    hit_at: dict[int, float | None] = field(default_factory=dict)
    mrr: float | None = None
    answer_accuracy: float | None = None
    refusal_accuracy: float | None = None  # on unanswerable items
    false_refusal_rate: float | None = None  # on answerable items


@dataclass
class Report:
    overall: GroupMetrics
    by_lang: dict[str, GroupMetrics]
    by_kind: dict[str, GroupMetrics]
    items: list[ItemScore]
    ks: tuple[int, ...]
    answers_scored: bool  # False in retrieval-only runs (every answer empty)
    unknown_predictions: int = 0  # predictions whose id is not in the question set

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def score_item(
    question: Question,
    prediction: Prediction | None,
    prompt_dirs: Iterable[str | os.PathLike[str]] = (),
) -> ItemScore:
    """Score one question; a missing prediction scores as nothing retrieved and no reply."""
    missing = prediction is None
    retrieved = prediction.retrieved if prediction else ()
    reply = prediction.answer if prediction else ""
    scored = has_retrieval_truth(question)
    return ItemScore(
        id=question.id,
        lang=question.lang,
        kind=question.kind,
        retrieval_scored=scored,
        hit_rank=first_hit_rank(question, retrieved) if scored else None,
        answer_correct=answer_matches(question, reply) if question.answerable else None,
        refused=is_refusal(reply, question.lang, prompt_dirs),
        missing=missing,
    )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def aggregate(
    items: Sequence[ItemScore], ks: Sequence[int] = DEFAULT_KS, answers_scored: bool = True
) -> GroupMetrics:
    answerable = [s for s in items if s.kind != "unanswerable"]
    unanswerable = [s for s in items if s.kind == "unanswerable"]
    retrieval = [s for s in answerable if s.retrieval_scored]
    metrics = GroupMetrics(
        n=len(items),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        retrieval_n=len(retrieval),
        missing=sum(s.missing for s in items),
    )
    for k in ks:
        metrics.hit_at[k] = _mean(
            [float(s.hit_rank is not None and s.hit_rank <= k) for s in retrieval]
        )
    metrics.mrr = _mean(
        [1.0 / s.hit_rank if s.hit_rank and s.hit_rank <= MRR_CUTOFF else 0.0 for s in retrieval]
    )
    if answers_scored:
        metrics.answer_accuracy = _mean([float(bool(s.answer_correct)) for s in answerable])
        metrics.refusal_accuracy = _mean([float(s.refused) for s in unanswerable])
        metrics.false_refusal_rate = _mean([float(s.refused) for s in answerable])
    return metrics


def compute_metrics(
    questions: Sequence[Question],
    predictions: Iterable[Prediction],
    ks: Sequence[int] = DEFAULT_KS,
    prompt_dirs: Iterable[str | os.PathLike[str]] = (),
) -> Report:
    """Score `predictions` against `questions` (matched by id), overall, per language, per kind."""
    by_id = {p.id: p for p in predictions}
    known = {q.id for q in questions}
    answers_scored = any(p.answer.strip() for p in by_id.values())
    prompt_dirs = tuple(prompt_dirs)
    items = [score_item(q, by_id.get(q.id), prompt_dirs) for q in questions]
    ks = tuple(sorted(set(ks)))
    # zh, en first (the order the format lists them), then any other language alphabetically.
    order = {lang: index for index, lang in enumerate(LANGS)}
    langs = sorted({s.lang for s in items}, key=lambda lang: (order.get(lang, len(order)), lang))
    kinds = [kind for kind in KINDS if any(s.kind == kind for s in items)]
    return Report(
        overall=aggregate(items, ks, answers_scored),
        by_lang={
            lang: aggregate([s for s in items if s.lang == lang], ks, answers_scored)
            for lang in langs
        },
        by_kind={
            kind: aggregate([s for s in items if s.kind == kind], ks, answers_scored)
            for kind in kinds
        },
        items=items,
        ks=ks,
        answers_scored=answers_scored,
        unknown_predictions=len(set(by_id) - known),
    )


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(report: Report) -> str:
    """A short plain-text table: one row overall, one per language, one per kind."""
    headers = ["", "n", *(f"hit@{k}" for k in report.ks), "MRR", "answer", "refusal", "false-ref"]
    rows: list[list[str]] = []
    groups = [("overall", report.overall)]
    groups += [(lang, m) for lang, m in report.by_lang.items()]
    groups += [(kind, m) for kind, m in report.by_kind.items()]
    for name, m in groups:
        rows.append(
            [
                name,
                str(m.n),
                *(_cell(m.hit_at.get(k)) for k in report.ks),
                _cell(m.mrr),
                _cell(m.answer_accuracy),
                _cell(m.refusal_accuracy),
                _cell(m.false_refusal_rate),
            ]
        )
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    out = [line(headers), *(line(row) for row in rows)]
    notes = []
    if not report.answers_scored:
        notes.append("retrieval only: no answers to score")
    if report.overall.missing:
        notes.append(f"{report.overall.missing} question(s) without a prediction, scored as misses")
    if report.unknown_predictions:
        notes.append(f"{report.unknown_predictions} prediction(s) for unknown ids ignored")
    notes.append(
        "answer = accuracy on answerable; refusal = refusals on unanswerable; "
        "false-ref = refusals on answerable"
    )
    return "\n".join(out + [f"note: {n}" for n in notes])
