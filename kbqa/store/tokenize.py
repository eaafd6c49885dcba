"""Word tokens for BM25: jieba words for Chinese, lower-cased words and numbers for English."""

from __future__ import annotations

import logging
import re
import threading

_WORD = re.compile(r"[\w\u4e00-\u9fff]+", re.UNICODE)
_HAS_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# Frequent function words that only add noise to an OR-query.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "等",
        "也",
        "都",
        "就",
        "而",
        "被",
        "把",
        "对",
        "从",
        "中",
        "上",
        "下",
        "为",
        "以",
        "其",
        "这",
        "那",
        "之",
        "吗",
        "呢",
        "吧",
        "啊",
        "什么",
        "哪些",
        "哪个",
        "如何",
        "怎么",
        "怎样",
        "多少",
        "几",
        "请问",
        "一个",
        "可以",
        "有",
        "没有",
        "a",
        "an",
        "the",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "by",
        "with",
        "as",
        "at",
        "it",
        "its",
        "this",
        "that",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "many",
        "much",
        "does",
        "do",
        "did",
        "can",
        "could",
        "should",
        "would",
        "from",
        "about",
    ]
)

_jieba_lock = threading.Lock()
_jieba = None


def segmenter():
    """jieba, initialised once per process (its dictionary takes about a second to load)."""
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


def tokenize(text: str) -> list[str]:
    """Search tokens of `text` (jieba's search mode for Chinese, so compounds also match parts)."""
    tokens: list[str] = []
    for run in _WORD.findall(text.lower()):
        if _HAS_CJK.search(run):
            tokens.extend(t for t in segmenter().lcut_for_search(run) if t.strip())
        else:
            tokens.append(run)
    return [t for t in tokens if t not in STOPWORDS]
