"""Stopwords: words that carry no subject, in Chinese and English (compared in lower case).

Two sets, one built on the other:
- SEARCH_STOPWORDS: dropped from BM25 queries and indexed tokens. Only frequent function words,
  since each one removed here is missing from the lexical index for good.
- QUESTION_STOPWORDS: SEARCH_STOPWORDS plus pronouns, auxiliaries and generic words that a
  question uses but its subject never is ("告诉我", "which one", "how many"); the chain's key terms
  and overlap scores leave them out. Changing this set does not need a re-index.
"""

from __future__ import annotations

_SEARCH = """
    的 了 是 在 和 与 及 或 等 也 都 就 而 被 把 对 从 中 上 下 为 以 其 这 那 之 吗 呢 吧 啊
    什么 哪些 哪个 如何 怎么 怎样 多少 几 请问 一个 可以 有 没有
    a an the of to in on for and or is are was were be been by with as at it its this that what
    which who whom how many much does do did can could should would from about
"""
SEARCH_STOPWORDS = frozenset(_SEARCH.split())

_QUESTION_ONLY = """
    呀 么 哪 怎么样 哪里 为什么 何时 什么样 几个 多 大 是否 能 会 用 使用 它 它们 他 他们 她 该 此
    这个 那个 这些 那些 这种 那种 其中 分别 还 又 请 告诉 我 你 我们 一下
    being it's these those they them their whose will there here has have had not no yes than
    then so if also any some i you we me my your our tell please one ones same other else more
    most
"""
QUESTION_STOPWORDS = SEARCH_STOPWORDS | frozenset(_QUESTION_ONLY.split())
