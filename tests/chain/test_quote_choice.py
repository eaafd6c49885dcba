"""How the reply's quote is chosen with the embedder's help (the real bundled e5, via the
knowledge base), and the reading rules around the chosen sentence: the kind of answer asked for,
a sentence that points back, a definition list's term, code examples."""

from __future__ import annotations

import pytest

from kbqa.chain import extract
from kbqa.chain.answer_kinds import asked_kinds, given_kinds
from kbqa.chain.context import ContextItem
from kbqa.chain.extract import answer_passage
from kbqa.chain.sentence_vectors import sentence_unit, shared_sentence_vectors
from kbqa.types import Hit


def items(*texts: str, heading: str | None = None) -> list[ContextItem]:
    hits = [
        Hit(text=text, source=f"doc{i}.txt", page=None, score=0.9, heading=heading)
        for i, text in enumerate(texts)
    ]
    return [ContextItem(number=i, hit=hit, text=hit.text) for i, hit in enumerate(hits, start=1)]


# An option's description where the sentence sharing the question's words is not the answer
# (written for this test, in the layout of a man page).
RETRIES = """retries:n
    Sets the number of attempts the resolver makes against a name server that does not answer, before it marks that name server as unreachable and goes on to the next name server of the list, in the order the list gives them.
    The default for n is 3, meaning a silent server is given up after its third try.
"""


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("What's the default retries value?", {"default"}),
        ("What line length does Black use if I don't configure one?", {"default"}),
        ("没设 XDG_DATA_HOME 时会用什么目录？", {"default", "path"}),
        ("journald 默认最多同时留多少个日志文件？", {"default", "number"}),
        ("When did Black drop Python 3.7?", {"number"}),
        ("Which short name should I use instead of MIT when the text matches?", set()),
        ("Where may the kernel be placed?", {"path"}),
        ("Which dpkg-buildpackage flag always includes the tarball?", {"option"}),
        ("grep 只想统计行数，用什么选项？", {"option"}),
        ("Which environment variable sets the number of workers?", {"variable"}),
        ("What is the address of the announcements list?", {"address"}),
        ("Which URL scheme is preferred for the Format line?", {"address"}),
    ],
)
def test_the_kind_of_answer_a_question_asks_for(question: str, kinds: set[str]) -> None:
    assert asked_kinds(question) == kinds


def test_which_asked_kinds_a_sentence_gives() -> None:
    asked = frozenset({"number", "default", "path"})
    assert given_kinds("默认值为100个", asked) == {"number", "default"}
    assert given_kinds("将使用默认值 $HOME/.local/share", asked) == {"default", "path"}
    # "一" alone is a word part (一段时间), not a number; with a measure word it is one
    assert given_kinds("关闭请求将被临时延迟一段时间。", asked) == set()
    assert given_kinds("默认值是一个月", asked) == {"number", "default"}
    # "一个" is the article unless a unit of time follows; "十一个" is eleven
    assert given_kinds("若仅设为一个正整数，那么单位是秒。", asked) == set()
    assert given_kinds("最多保留十一个文件", asked) == {"number"}
    assert given_kinds("It must be two characters wide.", asked) == {"number"}
    assert given_kinds("kept in /var/tmp between reboots", asked) == {"path"}
    assert given_kinds("and/or", asked) == set()
    # "where" is answered by a web page too
    assert given_kinds("turn it on at https://accounts.example.com/apps", asked) == {"path"}
    # a reference mark or a digit in a word is no amount
    assert given_kinds('存在"delay inhibitor[2]"延迟锁时', asked) == set()
    assert given_kinds("an ext4 file system", asked) == set()
    others = frozenset({"option", "variable", "address"})
    assert given_kinds("use -sa to always include it", others) == {"option"}
    assert given_kinds("seek=blocks 跳过输出文件的前 blocks 块", others) == {"option"}
    assert given_kinds("via the `BLACK_NUM_WORKERS` environment variable", others) == {"variable"}
    assert given_kinds("The https://example.org/ URI is preferred", others) == {"address"}
    assert given_kinds("mail fetchmail-announce@lists.example.net", others) == {"address"}
    assert given_kinds("The number of parallel workers to use.", others) == set()


def test_the_embedder_and_the_kind_asked_pick_the_sentence_that_answers(sample_kb) -> None:
    question = "What's the default number of attempts in retries?"
    lexical = answer_passage(question, items(RETRIES))
    fused = answer_passage(question, items(RETRIES), similarity=sample_kb.sentence_cosines)
    assert lexical is not None and fused is not None
    # by words alone the long description wins (it holds "number", "attempts" and "retries";
    # the answer, only "default"), too long for the next sentence to join it
    assert "default" not in lexical.text
    assert fused.text.startswith("The default for n is 3")
    assert fused.label == "retries:n"
    start, end = fused.span
    assert RETRIES[start:end].startswith("retries:n") and RETRIES[start:end].endswith("try.")


def test_quote_vectors_are_shared_with_the_sentence_reranker(sample_kb) -> None:
    """The sentences the reranker embedded are not embedded again for the quote."""
    vectors = shared_sentence_vectors(sample_kb.embedder)
    assert sample_kb.search("Who released BLOOM?", k=3, rerank="sentences")
    from kbqa.chain.rerank import load_reranker
    from kbqa.settings import RetrievalSettings

    reranker = load_reranker(RetrievalSettings(rerank="sentences"), sample_kb.embedder)
    assert reranker.vectors is vectors
    unit = sentence_unit("BLOOM", "BLOOM was released by BigScience.")
    first = sample_kb.sentence_cosines("Who released BLOOM?", [unit])
    assert unit in vectors.vectors([unit])
    calls = []
    encode = sample_kb.embedder.encode_documents

    def counting(texts):
        calls.append(list(texts))
        return encode(texts)

    sample_kb.embedder.encode_documents = counting
    try:
        again = sample_kb.sentence_cosines("Who released BLOOM?", [unit])
    finally:
        del sample_kb.embedder.encode_documents
    assert calls == [] and again == pytest.approx(first)
    assert -1.0 <= first[0] <= 1.0


def test_a_sentence_that_points_back_is_quoted_with_the_one_before() -> None:
    text = (
        "SplitMode=\n"
        '    设置如何按用户分割日志文件。 "uid" 表示每个用户都有自己专属的日志文件。 这是默认值。\n'
    )
    passage = answer_passage("这是默认值吗", items(text))
    assert passage is not None
    assert passage.text.startswith('"uid" 表示每个用户都有自己专属的日志文件。')
    assert passage.text.endswith("这是默认值。")
    start, end = passage.span
    assert text[start:end].startswith("SplitMode=") and text[start:end].endswith("这是默认值。")
    # "It is …" is not a reference: such a sentence is quoted alone
    expletive = "Patterns are matched from the root.\nIt is valid to list a path twice.\n"
    alone = answer_passage("Is it valid to list a path twice?", items(expletive))
    assert alone is not None and alone.text == "It is valid to list a path twice."


def test_a_definition_list_term_labels_its_description() -> None:
    text = (
        "0-99:\nGlobally allocated by the project, the same on every system.\n"
        "100-999:\nDynamically allocated system users and groups. Packages which need a user "
        "created on demand should ask the account tool for one.\n"
    )
    passage = answer_passage("Which ids are for users created on demand?", items(text))
    assert passage is not None
    assert passage.label == "100-999:"
    assert "on demand" in passage.text


def test_a_code_example_counts_less_than_the_sentence_that_answers(sample_kb) -> None:
    text = (
        "`--tab-width`\n\n"
        "How many columns a tab stands for. The default is 8.\n\n"
        "```console\n$ tool --tab-width=4 --tab-width-check file.txt\n```\n"
    )
    passage = answer_passage(
        "How wide is a tab with --tab-width unless I configure it?",
        items(text),
        similarity=sample_kb.sentence_cosines,
    )
    assert passage is not None
    assert "The default is 8." in passage.text
    assert "$ tool" not in passage.text


def test_the_reply_may_quote_a_chunk_the_prompt_left_out(sample_kb) -> None:
    """The small model's prompt keeps only chunks whose words match the question; the quote is
    chosen from every retrieved chunk, and one the prompt left out is cited after the prompt's."""
    from kbqa.chain.conversation import Conversation
    from kbqa.chain.types import Answer

    kept = Hit(text="Tabs are expanded when a file is read.", source="a.md", page=None, score=0.9)
    left_out = Hit(text=RETRIES, source="resolv.txt", page=None, score=0.8, heading="OPTIONS")
    question = "What's the default number of attempts in retries?"
    answer = Answer(question=question, query=question, text="")
    answer.citations = []
    conversation = Conversation(sample_kb)
    items = [ContextItem(1, kept, kept.text)]
    (passage,) = conversation._quotes(question, items, [kept, left_out], "", answer)
    assert passage.number == 2
    assert passage.text.startswith("The default for n is 3")
    assert [c.source for c in answer.citations] == ["a.md", "resolv.txt"]
    # a quote from a chunk the prompt offered keeps the prompt's citations
    answer.citations = []
    (again,) = conversation._quotes(
        question, [ContextItem(1, left_out, "x")], [left_out], "", answer
    )
    assert again.number == 1 and answer.citations == []
    # two chunks of that document left out: each quoted one is cited after the prompt's, in turn
    more = Hit(
        text="The retry count is also read from RES_OPTIONS.",
        source="resolv.txt",
        page=None,
        score=0.7,
        chunk_id="other",
    )
    answer.citations = []
    quoted = conversation._quotes(question, items, [kept, left_out, more], "", answer)
    assert [p.number for p in quoted] == [2, 3]
    assert [c.text for c in answer.citations] == [kept.text, RETRIES, more.text]


def test_the_sentence_giving_the_answer_leads_the_quote() -> None:
    text = (
        "InhibitDelayMaxSec=\n"
        "    当系统中存在延迟锁时，关闭系统的请求将被临时延迟一段时间。此选项设置上述延迟的最大时长。"
        "默认值是5秒。\n"
    )
    passage = answer_passage("关机被延迟锁拖住时默认最多等多久？", items(text))
    assert passage is not None and passage.label == "InhibitDelayMaxSec="
    assert passage.text.startswith("默认值是5秒。")
    # the rest of the paragraph follows, in order
    assert passage.text.endswith(
        "当系统中存在延迟锁时，关闭系统的请求将被临时延迟一段时间。 此选项设置上述延迟的最大时长。"
    )
    # a lead that already gives what is asked keeps its place
    passage = answer_passage("关机请求被延迟锁拖住时会怎样？", items(text))
    assert passage is not None and passage.text.startswith("当系统中存在延迟锁时")


# Bullets in the layout of a desktop-environment example (written for this test): the bullet the
# question names says nothing of a directory itself; the default follows it in parentheses.
CACHE_EXAMPLE = (
    "在这个例子里：\n• 未设置 $APP_CACHE_HOME。（将使用默认值 $HOME/.cache/app。）\n"
    "• $APP_CACHE_DIRS 被设置为 /usr/share/app:/usr/local/share/app/。\n"
    "缓存目录（参见应用的缓存规范）和插件目录如下所示。\n"
    "• $HOME/.cache/app/ → $HOME/.cache/app/plugins/\n• /usr/share/app/ → /usr/share/app/plugins/\n"
    "桌面会话启动时会设置 $APP_CACHE_HOME 和 $APP_CACHE_DIRS 环境变量。\n"
)


def test_a_kind_given_by_the_sentence_that_follows_counts_for_the_quote(
    sample_kb, monkeypatch
) -> None:
    question = "没设 APP_CACHE_HOME 时会用什么目录？"
    chosen = answer_passage(question, items(CACHE_EXAMPLE), similarity=sample_kb.sentence_cosines)
    assert chosen is not None
    # the named bullet wins through the default after it, which then leads the quote
    assert chosen.text.startswith("（将使用默认值 $HOME/.cache/app。） • 未设置 $APP_CACHE_HOME。")
    # counting only what each sentence gives itself, a list of paths wins instead
    monkeypatch.setattr(extract, "JOINED_SHARE", 0.0)
    alone = answer_passage(question, items(CACHE_EXAMPLE), similarity=sample_kb.sentence_cosines)
    assert alone is not None and not alone.text.startswith("（将使用默认值")
