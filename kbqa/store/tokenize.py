"""Word tokens for BM25: jieba words for Chinese, lower-cased words and numbers for English."""

from __future__ import annotations

import logging
import re
import threading

from kbqa.text.cjk import HAN_RE, UNIFIED
from kbqa.text.stopwords import SEARCH_STOPWORDS

_WORD = re.compile(rf"[\w{UNIFIED}]+", re.UNICODE)

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
        if HAN_RE.search(run):
            tokens.extend(t for t in segmenter().lcut_for_search(run) if t.strip())
        else:
            tokens.append(run)
    return [t for t in tokens if t not in SEARCH_STOPWORDS]
