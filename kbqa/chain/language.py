"""Which language a question is in: Chinese ("zh") or English ("en").

Why not a language-id model: questions are short and mix scripts ("ChatGLM-6B 有多少参数？"), and
the only choice that matters here is which prompt and refusal text to use. Counting CJK characters
against Latin words decides that reliably and costs nothing.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["zh", "en"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> Language:
    """'zh' when the text is mostly Chinese, else 'en' (the default for anything else)."""
    cjk = len(_CJK.findall(text))
    if not cjk:
        return "en"
    words = len(_LATIN_WORD.findall(text))
    # A Chinese sentence naming English models ("LLaMA 和 BLOOM 呢？") is still Chinese; an
    # English sentence quoting one Chinese term ("What does 闻达 mean?") is still English.
    return "zh" if cjk >= words else "en"
