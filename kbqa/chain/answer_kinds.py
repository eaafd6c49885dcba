"""What kind of answer a question asks for, and which kinds a sentence gives: a number, a default,
a path (or, for "where", an address on the web).

A manual's answering sentence often shares few words with the question ("What's the default ndots
threshold?" is answered by "The default for n is 1", next to the sentence that describes ndots).
The kind of answer tells them apart where the words do not: a question asking "how many" wants a
sentence with a number, one asking for a default wants the sentence that states it, one asking
"where" wants a path. The quote choice (`extract`) prefers sentences that give what is asked.
"""

from __future__ import annotations

import re

# Questions that ask for a number: a count, amount, size, duration, time or date.
ASKS_NUMBER = re.compile(
    r"\bhow (?:many|much|long|tall|high|big|large|old|far|often|fast|heavy)\b"
    r"|\b(?:what|which) (?:year|time|date)\b|^\W*when\b|\bwhen (?:did|does|do|was|were|is|will)\b"
    r"|多少|几(?!乎)|多久|多长|多高|多大|多远|多重|多宽|哪一?年|何时|什么时候",
    re.IGNORECASE,
)
_ENGLISH_NUMBERS = "zero|one|two|three|four|five|six|seven|eight|nine|ten|twelve|hundred"
# Chinese numerals only with a measure word: "一" alone is in too many words (一段, 统一), and
# "一个" is mostly the article ("设为一个正整数"), an amount only before a unit of time (一个月).
_CHINESE_NUMBER = "零|(?!一 ?个(?!月|小时|星期|钟头))[一二两三四五六七八九十百千万]+ ?(?:个|条|秒|分钟|小时|天|周|月|年|次|字节|行|位|块|倍|种|项|级)"
# A digit glued to a letter ("ext4", "inhibitor[2]") or in a reference mark ("[2]") is no amount.
_GIVES_NUMBER = re.compile(
    rf"(?<![A-Za-z\[])\d(?!\d*\])|{_CHINESE_NUMBER}|\b(?:{_ENGLISH_NUMBERS})\b", re.I
)
_GIVES_DEFAULT = re.compile(r"\bdefault|默认|缺省", re.IGNORECASE)
# A default is asked for by name, or as what happens when nothing is set ("if I don't configure
# one", "不设置的话").
_ASKS_DEFAULT = re.compile(
    r"\bdefault|默认|缺省"
    r"|\b(?:don'?t|do not|doesn'?t|does not|without|no) (?:set|configur|specify|pass|giv)\w*"
    r"|(?:不|没有?|未)(?:设置|配置|指定|设定|设|配)",
    re.IGNORECASE,
)
_ASKS_PATH = re.compile(
    r"\bwhere\b|\b(?:which|what) (?:directory|folder|path|file)\b|目录|路径|哪里|哪儿|放在哪",
    re.IGNORECASE,
)
# "Where …" is answered by a place: a path, or an address on the web ("at https://…").
_GIVES_PATH = re.compile(r"(?<![\w/])/[\w.~]|\$\w+/|~/|\b(?:https?|ftp)://|\bwww\.")
# "Which flag/option/switch …", "用哪个参数/选项/开关": a command-line option or a name=value.
_ASKS_OPTION = re.compile(
    r"\b(?:which|what)\s+(?:[\w-]+\s+){0,2}(?:option|flag|switch|argument|parameter)s?\b"
    r"|(?:哪个|哪些|哪一个|什么|何种)(?:命令行)?(?:参数|选项|开关)",
    re.IGNORECASE,
)
_GIVES_OPTION = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*|\b[A-Za-z][\w.-]*=")
_ASKS_VARIABLE = re.compile(r"\benvironment variables?\b|环境变量", re.IGNORECASE)
_GIVES_VARIABLE = re.compile(r"\$\{?[A-Za-z_]\w*|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b")
# An address: a URL, a web page, a mailing list or mail address.
_ASKS_ADDRESS = re.compile(
    r"\b(?:url|web ?(?:site|page)|home ?page|e-?mail|address|mailing list)s?\b|网址|网站|主页|邮箱|地址",
    re.IGNORECASE,
)
_GIVES_ADDRESS = re.compile(r"\b(?:https?|ftp)://|\bwww\.|[\w.+-]+@[\w-]+\.[\w.]+")

_KINDS: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {
    "number": (ASKS_NUMBER, _GIVES_NUMBER),
    "default": (_ASKS_DEFAULT, _GIVES_DEFAULT),
    "path": (_ASKS_PATH, _GIVES_PATH),
    "option": (_ASKS_OPTION, _GIVES_OPTION),
    "variable": (_ASKS_VARIABLE, _GIVES_VARIABLE),
    "address": (_ASKS_ADDRESS, _GIVES_ADDRESS),
}


def gives_number(text: str) -> bool:
    return bool(_GIVES_NUMBER.search(text))


def asked_kinds(question: str) -> frozenset[str]:
    """The kinds of answer the question asks for."""
    return frozenset(kind for kind, (asks, _) in _KINDS.items() if asks.search(question))


def given_kinds(text: str, asked: frozenset[str]) -> frozenset[str]:
    """Which of the `asked` kinds the text gives."""
    return frozenset(kind for kind in asked if _KINDS[kind][1].search(text))
