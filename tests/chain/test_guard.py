from kbqa.chain.context import ContextItem
from kbqa.chain.extract import answer_passage
from kbqa.chain.guard import check_reply, mismatched_numbers, stop_on_repeat
from kbqa.types import Hit

TEXT = "做高效参数微调时，ChatGLM-6B 至少需要 14 GB 显存。ChatGLM-6B 具有 62 亿参数（6.2B）。"
ITEMS = [ContextItem(1, Hit(text=TEXT, source="c.md", page=None, score=0.9), TEXT)]


def test_repeated_sentence_is_not_shown_and_stops_generation():
    pieces = ["BLOOM 的词表", "大小是250880。", "BLOOM 的", "词表大小是250880。", "more"]
    assert "".join(stop_on_repeat(pieces)) == "BLOOM 的词表大小是250880。"
    # A sentence that only starts like an earlier one is released once it diverges.
    pieces = ["BLOOM 的词表大小是250880。", "BLOOM 的层数是 70。"]
    assert "".join(stop_on_repeat(pieces)) == "BLOOM 的词表大小是250880。BLOOM 的层数是 70。"


def test_invented_number_fails_and_is_named():
    check = check_reply("ChatGLM-6B 有 1.2B 参数。", "ChatGLM-6B 有多少参数？", ITEMS, "zh")
    assert check.unsupported_numbers == ["1.2"] and not check.ok
    assert "1.2" in check.summary()


def test_copied_answer_passes():
    check = check_reply("ChatGLM-6B 具有 62 亿参数 [1]。", "ChatGLM-6B 有多少参数？", ITEMS, "zh")
    assert check.ok


def test_echo_and_wrong_language_fail():
    assert check_reply("ChatGLM-6B 有多少参数？", "ChatGLM-6B 有多少参数？", ITEMS, "zh").empty
    english = check_reply("It has 62 billion.", "ChatGLM-6B 有多少参数？", ITEMS, "zh")
    assert english.wrong_language


def test_the_passage_is_the_focused_sentence():
    passage = answer_passage("ChatGLM-6B 有多少参数？", ITEMS)
    assert passage is not None and passage.number == 1
    assert passage.text == "ChatGLM-6B 具有 62 亿参数（6.2B）。"


def test_a_number_from_the_wrong_sentence_is_flagged():
    question = "ChatGLM-6B 有多少参数？"
    quote = ("ChatGLM-6B 具有 62 亿参数（6.2B）。",)
    # 14 is in the sources (the fine-tuning memory), but not in the sentence that answers.
    wrong = mismatched_numbers("ChatGLM-6B 有 14 亿参数。", question, quote[0])
    assert wrong == ["14"]
    check = check_reply("ChatGLM-6B 有 14 亿参数。", question, ITEMS, "zh")
    assert check.ok  # every number is somewhere in the sources: the plain check passes
    check.mismatched_numbers = wrong
    assert not check.ok and "14" in check.summary()
    # The right number, or one the question itself gave, is not flagged.
    assert mismatched_numbers("具有 62 亿参数 [1]。", question, quote[0]) == []
    assert mismatched_numbers("ChatGLM-6B 的参数很多。", question, quote[0]) == []
