"""Which characters count as CJK, as regex character-class bodies and compiled patterns.

Two sets serve two questions:
- HAN, the Chinese ideographs (extension A, unified, compatibility): "is this Chinese text?" for
  language detection, word splitting with jieba and question terms.
- WIDE, every East Asian script written without spaces and about twice as wide as Latin (HAN plus
  extensions B+, kana, Hangul, CJK and full-width punctuation): where a line or sentence may break
  without a space, and visual width.
"""

from __future__ import annotations

import re

EXT_A = "\u3400-\u4dbf"
UNIFIED = "\u4e00-\u9fff"
COMPAT = "\uf900-\ufaff"
HAN = EXT_A + UNIFIED + COMPAT
# Ideographic space and CJK punctuation (、。「」), and the full-width forms block (，！？ＡＢ１).
CJK_SYMBOLS = "\u3000-\u303f"
FULLWIDTH = "\uff00-\uffef"
WIDE = (
    "\u2e80-\u2fff\u3001-\u303f\u3040-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f"
    "\uff00-\uffef\U00020000-\U0003ffff"
)

HAN_RE = re.compile(f"[{HAN}]")
WIDE_RE = re.compile(f"[{WIDE}]")


def has_han(text: str) -> bool:
    """Whether `text` contains a Chinese ideograph."""
    return HAN_RE.search(text) is not None


def is_han(char: str) -> bool:
    """Whether `char` (the first character of it) is a Chinese ideograph."""
    return HAN_RE.match(char) is not None


def is_cjk(char: str) -> bool:
    """Whether `char` (the first character of it) is in WIDE: no space needed around it."""
    return WIDE_RE.match(char) is not None


def display_width(text: str) -> int:
    """Visual width: WIDE characters count 2, others 1."""
    return len(text) + len(WIDE_RE.findall(text))
