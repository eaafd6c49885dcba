"""Which language a text is in: Chinese ("zh") or English ("en").

Why not a language-id model: questions are short and mix scripts ("ChatGLM-6B 有多少参数？"), and
the only choice that matters here is which prompt and refusal text to use. Counting Chinese
characters against Latin words decides that reliably and costs nothing.
"""

from __future__ import annotations

import re
from typing import Literal

from kbqa.text.cjk import HAN_RE

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

_LATIN_WORD = re.compile(r"[A-Za-z]+")


def detect_language(text: str) -> Language:
    """'zh' when the text is mostly Chinese, else 'en' (the default for anything else)."""
    cjk = len(HAN_RE.findall(text))
    if not cjk:
        return "en"
    words = len(_LATIN_WORD.findall(text))
    # A Chinese sentence naming English models ("LLaMA 和 BLOOM 呢？") is still Chinese; an
    # English sentence quoting one Chinese term ("What does 闻达 mean?") is still English.
    return "zh" if cjk >= words else "en"
