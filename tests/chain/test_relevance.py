from kbqa.chain.relevance import judge, missing_names, names, shares_words
from kbqa.types import Hit


def test_names_the_question_hinges_on():
    assert names("GPT-4 有多少参数？") == ["GPT-4"]
    assert names("What is the default of auth.password_max_age?") == ["auth.password_max_age"]
    assert "LLaMA 2" in names("What is the context length of LLaMA 2?")
    assert names("青岚大学的 C 线班车几点发车？") == ["C 线"]
    assert names("What is the altitude of the observatory?") == []


def test_missing_names_respect_word_boundaries():
    texts = ["LLaMA-7B has a context length of 2048 tokens.", "A 线和 B 线每 20 分钟一班。"]
    assert missing_names("What is the context length of LLaMA 2?", texts) == ["LLaMA 2"]
    assert missing_names("How long is the context of LLaMA 7B?", texts) == []
    assert missing_names("C 线几点发车？", texts) == ["C 线"]
    assert missing_names("B 线几点发车？", texts) == []


def test_small_talk_shares_no_words():
    assert not shares_words("今天天气怎么样？", ["ChatGLM-6B 具有 62 亿参数。"])
    assert shares_words("ChatGLM-6B 有多少参数？", ["ChatGLM-6B 具有 62 亿参数。"])


def test_judge_uses_the_one_cut_off():
    hits = [Hit(text="ChatGLM-6B 具有 62 亿参数。", source="a.md", page=None, score=0.84)]
    assert judge("ChatGLM-6B 有多少参数？", hits, 0.80).relevant
    low = judge("ChatGLM-6B 有多少参数？", hits, 0.90)
    assert not low.relevant and "below the cut-off" in low.reason
    assert not judge("GPT-4 有多少参数？", hits, 0.80).relevant
    assert not judge("anything", [], 0.0).relevant


def test_near_miss_options_are_names_the_passages_must_hold():
    from kbqa.chain.relevance import missing_names, names

    passage = (
        "attempts:n Sets the number of times the resolver will send a query. "
        "dd status=none suppresses everything but error messages."
    )
    assert "attempts-max" in names("What is the default of the option attempts-max?")
    assert missing_names("What is the default of the option attempts-max?", [passage]) == [
        "attempts-max"
    ]
    assert missing_names("dd 用 status=progress 能看到进度吗？", [passage]) == ["status=progress"]
    # the same kinds of name, present: nothing is missing
    assert missing_names("dd 的 status=none 做什么？", [passage]) == []
