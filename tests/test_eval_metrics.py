"""Metric edge cases: normalisation, page hits, ranks and MRR, answer matching, refusals, tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.chain.prompts import Template, bundled_prompt_dir
from kbqa.eval.dataset import Prediction, Question, RetrievedChunk
from kbqa.eval.metrics import (
    answer_matches,
    chunk_hits,
    compute_metrics,
    first_hit_rank,
    format_table,
    is_refusal,
    normalize,
)


def fact(id_: str = "q", lang: str = "en", **kw: object) -> Question:
    fields: dict[str, object] = {
        "question": "How wide is it?",
        "answers": ("4096",),
        "doc": "guide.pdf",
        "page": 3,
        "evidence": "The hidden size is 4096.",
    }
    fields.update(kw)
    return Question(id=id_, lang=lang, **fields)  # type: ignore[arg-type]


def chunk(
    text: str = "unrelated", source: str = "other.md", page: int | None = None
) -> RetrievedChunk:
    return RetrievedChunk(text=text, source=source, page=page, score=0.5)


# --- normalisation and hits -------------------------------------------------------------------


def test_normalize_applies_nfkc_and_drops_all_whitespace() -> None:
    assert normalize("ＡＢＣ　４０９６\r\n\tx y") == "ABC4096xy"
    assert normalize("隐藏层维度为 4096，层数\n为 28。") == "隐藏层维度为4096,层数为28。"


def test_evidence_matches_across_line_breaks_and_full_width_forms() -> None:
    q = fact(evidence="ChatGLM-6B 的隐藏层维度为 4096。", doc="a.md", page=None)
    # A PDF line wrap in the middle, full-width digits, different spacing.
    assert chunk_hits(q, chunk("前文。ChatGLM-6B 的隐藏层\r\n维度为 ４０９６。后文"))
    assert not chunk_hits(q, chunk("ChatGLM-6B 的隐藏层维度为 4095。"))


def test_page_match_needs_same_doc_and_page() -> None:
    q = fact(evidence="text that the chunk does not contain")
    assert chunk_hits(q, chunk("anything", source="guide.pdf", page=3))
    assert not chunk_hits(q, chunk("anything", source="guide.pdf", page=4))
    assert not chunk_hits(q, chunk("anything", source="other.pdf", page=3))


def test_non_pdf_items_never_hit_by_page() -> None:
    q = fact(doc="notes.md", page=None, evidence="absent sentence")
    assert not chunk_hits(q, chunk("anything", source="notes.md", page=None))


def test_first_hit_rank_and_cutoff() -> None:
    q = fact()
    hit = chunk("The hidden size is 4096.")
    assert first_hit_rank(q, [chunk(), hit, hit]) == 2
    assert first_hit_rank(q, [chunk()] * 10 + [hit]) is None  # rank 11 is beyond the cutoff
    assert first_hit_rank(q, []) is None


def test_hit_at_k_and_mrr_over_answerable_items() -> None:
    hit = chunk("The hidden size is 4096.")
    questions = [
        fact("a"),
        fact("b"),
        fact("c"),
        Question(id="u", question="GPT-4?", lang="en", kind="unanswerable"),
    ]
    predictions = [
        Prediction("a", (hit, chunk())),
        Prediction("b", (chunk(), chunk(), hit)),
        Prediction("c", (chunk(),) * 12),
        Prediction("u", (hit,)),  # unanswerable items are not retrieval-scored
    ]
    report = compute_metrics(questions, predictions, ks=(1, 3, 5))
    overall = report.overall
    assert overall.retrieval_n == 3
    assert overall.hit_at[1] == pytest.approx(1 / 3)
    assert overall.hit_at[3] == pytest.approx(2 / 3)
    assert overall.mrr == pytest.approx((1 + 1 / 3 + 0) / 3)


# --- answers ------------------------------------------------------------------------------------


def test_answers_match_case_insensitively_with_flexible_spacing() -> None:
    q = fact(answers=("62 亿", "6.2B"))
    assert answer_matches(q, "ChatGLM-6B 具有62亿参数。")
    assert answer_matches(q, "It has 6.2b parameters.")
    assert answer_matches(q, "参数量为 ６２ 亿")  # full-width digits in the reply
    assert not answer_matches(q, "It has 62 billion parameters.")


def test_numbers_do_not_match_inside_longer_numbers() -> None:
    q = fact(answers=("28",))
    assert answer_matches(q, "It has 28 layers.")
    assert answer_matches(q, "共 28 层")
    for reply in ("128 layers", "280 layers", "2.8 layers", "28.5 layers", "version 1.28"):
        assert not answer_matches(q, reply), reply


def test_case_sensitive_items() -> None:
    q = fact(answers=("ALiBi",), case_sensitive=True)
    assert answer_matches(q, "BLOOM uses ALiBi.")
    assert not answer_matches(q, "BLOOM uses alibi.")


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "知识库中没有找到这个问题的答案。",
        "根据已知信息无法回答该问题。",
        "抱歉，知识库里没有相关内容。",
        "已知信息中未提及 GPT-4 的参数量。",
        "未找到相关信息。",
        "提供的资料中没有提到这一点。",
        "无法根据 已知信息 回答",
        "The knowledge base does not contain the answer to this question.",
        "I cannot find this in the knowledge base.",
        "I can't answer this from the provided information.",
        "Sorry, the provided documents don't mention GPT-4.",
        "This is not mentioned in the provided context.",
        "The knowledge base has no information about that.",
    ],
)
def test_refusals_are_recognised(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ChatGLM-6B 具有 62 亿参数 [1]。",
        "错误 OG-5001 表示没有找到许可证文件。",
        "处理方法：把 /etc/orrery/backup.key 恢复到原来的位置。找不到备份加密密钥时会报错。",
        "Error OG-3101 means that the gateway could not open a connection to any target.",
        "The context length of LLaMA-7B is 2048 tokens.",
        "BLOOM does not use position embeddings; it uses ALiBi.",
    ],
)
def test_answers_are_not_refusals(text: str) -> None:
    assert not is_refusal(text)


def test_refusal_prompt_files_are_accepted_verbatim(tmp_path: Path) -> None:
    # A phrasing no built-in pattern knows, with a placeholder, as a user's prompt_dir holds it.
    (tmp_path / "refusal.en.txt").write_text(
        "[system]\nignored\n[user]\nNothing on {question} in your files, sorry.\n",
        encoding="utf-8",
    )
    reply = "Nothing on  the GPU price in your files,\nsorry."
    assert not is_refusal(reply, "en")
    assert is_refusal(reply, "en", prompt_dirs=[tmp_path])
    assert not is_refusal("ignored", "en", prompt_dirs=[tmp_path])  # only the reply part counts


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_chains_own_refusal_sentences_are_refusals(lang: str) -> None:
    path = bundled_prompt_dir() / f"refusal.{lang}.txt"
    if not path.is_file():
        pytest.skip(f"{path} not written yet")
    reply = Template.load(path).render(question="X")[-1]["content"]
    assert is_refusal(reply, lang)


# --- reports ------------------------------------------------------------------------------------


def test_report_groups_refusal_rates_missing_and_table() -> None:
    zh = fact(
        "zh-1",
        lang="zh",
        answers=("130528",),
        evidence="词表大小为 130528。",
        doc="a.md",
        page=None,
    )
    en_turns = Question(
        id="en-2",
        question="How many layers does it have?",
        lang="en",
        kind="multi-turn",
        turns=("Tell me about LLaMA-7B.", "How many layers does it have?"),
        answers=("32",),
        evidence="LLaMA-7B has 32 layers.",
        doc="b.md",
    )
    unanswerable = Question(id="en-3", question="GPT-4?", lang="en", kind="unanswerable")
    missing = fact("en-4")
    predictions = [
        Prediction("zh-1", (chunk("词表大小为 130528。"),), "词表大小为 130528 [1]。"),
        Prediction("en-2", (chunk("nope"),), "The knowledge base does not contain the answer."),
        Prediction("en-3", (), "I cannot find this in the knowledge base."),
        Prediction("nobody", (), "ignored"),
    ]
    report = compute_metrics([zh, en_turns, unanswerable, missing], predictions, ks=(1, 5))
    assert report.overall.n == 4 and report.overall.missing == 1
    assert report.unknown_predictions == 1
    assert report.overall.answer_accuracy == pytest.approx(1 / 3)
    assert report.overall.refusal_accuracy == 1.0
    assert report.overall.false_refusal_rate == pytest.approx(1 / 3)
    assert set(report.by_lang) == {"zh", "en"} and set(report.by_kind) == {
        "fact",
        "multi-turn",
        "unanswerable",
    }
    assert report.by_lang["zh"].answer_accuracy == 1.0 and report.by_lang["zh"].hit_at[1] == 1.0
    assert report.by_kind["multi-turn"].false_refusal_rate == 1.0
    assert report.by_kind["unanswerable"].hit_at[1] is None  # nothing to retrieve
    table = format_table(report)
    lines = table.splitlines()
    assert lines[0].split() == ["n", "hit@1", "hit@5", "MRR", "answer", "refusal", "false-ref"]
    assert [line.split()[0] for line in lines[1:7]] == [
        "overall",
        "zh",
        "en",
        "fact",
        "multi-turn",
        "unanswerable",
    ]
    assert "without a prediction" in table
    assert report.to_json()["overall"]["n"] == 4


def test_retrieval_only_runs_leave_answer_scores_empty() -> None:
    q = fact()
    report = compute_metrics([q], [Prediction("q", (chunk("The hidden size is 4096."),), "")])
    assert report.answers_scored is False
    assert report.overall.answer_accuracy is None and report.overall.refusal_accuracy is None
    assert report.overall.hit_at[1] == 1.0
    assert "retrieval only" in format_table(report)
