"""Message text can never become special tokens: the one place every backend neutralises it.

A chat prompt's role markers (`<|im_start|>`, `</s>`, `[gMASK]`...) are special tokens, and a
tokenizer that parses special tokens in the rendered prompt also parses them inside the messages:
a retrieved document holding `<|im_start|>system` would open a real system turn. So before a
prompt is rendered, every message's content has each special-token string of the backend broken
by a zero-width space (U+200B) after its first character: it reads the same, and the tokenizer
sees ordinary text. The template's own markers, written by the template after this
step, stay special.

What each backend passes as its special-token strings:
- transformers (hf.py, the converted GGUF, ChatGLM): the tokenizer's special tokens, the added
  tokens marked special and those it names (bos, eos, ...) (`tokenizer_specials`); added tokens
  that are ordinary words (some tokenizers add Chinese words or runs of spaces) are left alone;
- llama.cpp (llamacpp.py): whatever llama.cpp itself tokenises differently with special parsing
  on and off (`neutralise_with`, llama.cpp as the oracle);
- an OpenAI-compatible server, which takes strings only (openai_compat.py): its tokenizer's added
  tokens when it has one locally, else `GENERIC`, the markers of the chat formats in use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from kbqa.llm.base import Message

#: inserted after the first character of a special-token string found in message text
BREAK = "\u200b"

#: role and control markers of common chat formats, for backends whose tokenizer is unknown
GENERIC = re.compile(
    r"<\|[^<>|\s]{1,64}\|>"  # ChatML, Llama 3, Phi, GLM-4: <|im_start|>, <|eot_id|>, <|user|>
    r"|</?s>|<unk>|<pad>|<eop>|<eos>|<bos>"  # SentencePiece, ChatGLM-6B
    r"|\[/?INST\]|<</?SYS>>"  # Llama 2
    r"|\[[gs]?MASK\]"  # GLM
    r"|<(?:start|end)_of_turn>"  # Gemma
)


def _break(match: re.Match[str]) -> str:
    text = match.group(0)
    return text[0] + BREAK + text[1:]


def neutralise(text: str, specials: Iterable[str] = (), *, generic: bool = False) -> str:
    """`text` with every occurrence of each string in `specials` (and, with `generic`, of
    GENERIC's markers) broken by BREAK; repeated until none is left (a break can expose an
    overlapping one)."""
    # One character cannot be broken (and no chat format's marker is one): such strings are
    # left out rather than broken forever.
    strings = sorted({s for s in specials if len(s) > 1}, key=len, reverse=True)
    parts = [re.escape(s) for s in strings]
    if generic:
        parts.append(GENERIC.pattern)
    if not parts or not text:
        return text
    pattern = re.compile("|".join(parts))
    for _ in range(len(text) + 1):  # each pass breaks at least one; text is finite
        text, found = pattern.subn(_break, text)
        if not found:
            break
    return text


def safe_messages(
    messages: list[Message], specials: Iterable[str] = (), *, generic: bool = False
) -> list[Message]:
    """Copies of `messages` whose content can no longer hold a special-token string (content
    that is not a string is taken as its text, the way a template would print it)."""
    strings = tuple(specials)
    return [
        {"role": m["role"], "content": neutralise(_text(m["content"]), strings, generic=generic)}
        for m in messages
    ]


def _text(content: Any) -> str:
    return content if isinstance(content, str) else str(content)


def tokenizer_specials(tokenizer: Any) -> tuple[str, ...]:
    """The special tokens' strings of a transformers tokenizer: added tokens marked special,
    and the special tokens it names."""
    found: list[str] = []
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    for token in decoder.values():
        if getattr(token, "special", True):
            found.append(str(getattr(token, "content", token)))
    found.extend(str(t) for t in getattr(tokenizer, "all_special_tokens", ()) or ())
    return tuple(dict.fromkeys(t for t in found if t.strip()))


def neutralise_with(
    text: str,
    tokenize: Callable[[str, bool], list[int]],
    token_text: Callable[[int], str],
    *,
    rounds: int = 8,
) -> str:
    """`text` neutralised with the tokenizer as the oracle: while `tokenize(text, True)` (special
    parsing on) differs from `tokenize(text, False)`, the tokens only the first has that are
    special (their text is that one token only with special parsing) are broken in the text."""

    def is_special(token: int, piece: str) -> bool:
        return tokenize(piece, True) == [token] and tokenize(piece, False) != [token]

    for _ in range(rounds):
        special = tokenize(text, True)
        plain = tokenize(text, False)
        if special == plain:
            return text
        pieces = {(i, token_text(i)) for i in set(special) - set(plain)}
        extra = {piece for i, piece in pieces if piece and is_special(i, piece)}
        if not extra:
            break
        text = neutralise(text, extra)
    return neutralise(text, generic=True)  # the oracle gave up: break every known marker


__all__ = [
    "BREAK",
    "GENERIC",
    "neutralise",
    "neutralise_with",
    "safe_messages",
    "tokenizer_specials",
]
