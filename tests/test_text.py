"""kbqa.text: the one home of CJK ranges, stopwords, language detection and rank fusion.

The character classes are pinned against the copies they replaced (same characters, code point by
code point), so moving them changed no loader, splitter, tokenizer or chain result.
"""

from __future__ import annotations

import re

import pytest

from kbqa.store.tokenize import tokenize
from kbqa.text.cjk import (
    CJK_SYMBOLS,
    FULLWIDTH,
    HAN,
    HAN_RE,
    WIDE,
    WIDE_RE,
    display_width,
    has_han,
    is_cjk,
    is_han,
)
from kbqa.text.fusion import RRF_K, best_first, convex_scores, rrf_scores, rrf_term
from kbqa.text.language import detect_language
from kbqa.text.stopwords import QUESTION_STOPWORDS, SEARCH_STOPWORDS

EVERY_CHAR = "".join(map(chr, range(0x40000)))


def _members(pattern: str) -> str:
    return "".join(re.findall(pattern, EVERY_CHAR))


@pytest.mark.parametrize(
    ("ours", "old"),
    [
        # chain/language.py, chain/terms.py, chain/relevance.py
        (f"[{HAN}]", r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"),
        # loaders/_textutil.py (splitter, PDF line joining, display width)
        (
            f"[{WIDE}]",
            "[\u2e80-\u2fff\u3001-\u303f\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
            "\uff00-\uffef\U00020000-\U0003ffff]",
        ),
        # llm/openai_compat.py (token estimate)
        (
            f"[{CJK_SYMBOLS}{HAN}{FULLWIDTH}]",
            r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]",
        ),
    ],
)
def test_character_classes_are_the_ones_they_replaced(ours: str, old: str):
    assert _members(ours) == _members(old)


def test_tokenizer_han_test_agrees_with_its_old_range_on_every_word_run():
    # store/tokenize.py tested its word runs with [\u3400-\u9fff\uf900-\ufaff]; the extra
    # \u4dc0-\u4dff (Yijing hexagram symbols) never occurs in a run, since runs are \w.
    old = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
    words = re.compile(r"[\w\u4e00-\u9fff]")
    differ = [c for c in EVERY_CHAR if bool(old.match(c)) != bool(HAN_RE.match(c))]
    assert differ and not any(words.match(c) for c in differ)


def test_han_and_wide_predicates():
    assert has_han("ChatGLM-6B 有多少参数") and not has_han("ChatGLM-6B，。")
    assert is_han("中") and is_han("\u3400") and not is_han("か") and not is_han("A")
    # WIDE: every script written without spaces, and full-width punctuation.
    assert all(is_cjk(c) for c in "中かカ한，。「") and not any(is_cjk(c) for c in "Aé 1")
    assert is_cjk("\U00020000")  # extension B
    assert display_width("ab中文，") == 2 + 2 * 3
    assert WIDE_RE.pattern == f"[{WIDE}]"


def test_chinese_with_english_names_is_chinese():
    assert detect_language("ChatGLM-6B 有多少参数？") == "zh"
    assert detect_language("LLaMA 和 BLOOM 呢？") == "zh"
    assert detect_language("它的默认值是多少？") == "zh"


def test_english_with_a_chinese_term_is_english():
    assert detect_language("Which option turns it off?") == "en"
    assert detect_language("What does 闻达 mean in English?") == "en"
    assert detect_language("") == "en"
    # Hangul is not Chinese: the English prompt is the fallback for it.
    assert detect_language("안녕하세요") == "en"


def test_question_stopwords_extend_the_search_ones():
    assert SEARCH_STOPWORDS < QUESTION_STOPWORDS
    assert {"的", "什么", "the", "how"} <= SEARCH_STOPWORDS
    # Pronouns and generic words are left out of question terms, but stay searchable.
    assert {"它", "告诉", "they", "tell"} <= QUESTION_STOPWORDS - SEARCH_STOPWORDS
    assert tokenize("How do they tell the time") == ["they", "tell", "time"]


def test_rrf_sums_weighted_reciprocal_ranks():
    assert RRF_K == 60
    assert rrf_term(1) == 1 / 61 and rrf_term(3, 0.5) == 0.5 / 63
    scores = rrf_scores([(["a", "b", "c"], 1.0), (["c", "d"], 1.0)])
    assert list(scores) == ["a", "b", "c", "d"]  # first-seen order
    assert scores["c"] == 1 / 63 + 1 / 61
    assert best_first(scores) == ["c", "a", "b", "d"]
    weighted = rrf_scores([(["a"], 1.0), (["b"], 2.0)])
    assert best_first(weighted) == ["b", "a"]


def test_rrf_ties_keep_first_seen_order():
    scores = rrf_scores([(["x", "y"], 1.0), (["y", "x"], 1.0)])
    assert scores["x"] == scores["y"]
    assert best_first(scores) == ["x", "y"]


def test_convex_fusion_scales_each_list_and_keeps_how_far_ahead_its_best_is():
    dense = {"a": 0.90, "b": 0.89, "c": 0.80}
    bm25 = {"d": 30.0, "b": 4.0, "c": 3.0, "a": 2.0}
    fused = convex_scores([(dense, 0.5), (bm25, 0.5)])
    assert list(fused) == ["a", "b", "c", "d"]  # first-seen order
    assert fused["a"] == 0.5 and fused["c"] == pytest.approx(0.5 * 1 / 28)
    assert fused["b"] == pytest.approx(0.5 * 0.9 + 0.5 * 2 / 28)
    # "d", far ahead in BM25 alone, beats "c", which both lists rank third; rank fusion would not
    assert fused["d"] > fused["c"]
    assert best_first(rrf_scores([(list(dense), 1.0), (list(bm25), 1.0)]))[-1] == "d"
    # a list of equal scores gives each item its full weight; an empty list, nothing
    assert convex_scores([({"x": 2.0, "y": 2.0}, 0.3), ({}, 0.7)]) == {"x": 0.3, "y": 0.3}
    # with a depth, the depth-th best scores 0 and those below it too
    deep = convex_scores([({"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.1}, 1.0)], depth=3)
    assert deep == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0, "d": 0.0})
    # the best `depth` all equal: they count 1, a score below them still 0
    tied = convex_scores([({"a": 5.0, "b": 5.0, "c": 1.0}, 1.0)], depth=2)
    assert tied == {"a": 1.0, "b": 1.0, "c": 0.0}
