from kbqa.chain.relevance import judge, missing_names, names, shares_words
from kbqa.types import Hit


def test_names_the_question_hinges_on():
    assert names("GPT-4 有多少参数？") == ["GPT-4"]
    assert names("What is the default of auth.password_max_age?") == ["auth.password_max_age"]
    assert "LLaMA 2" in names("What is the context length of LLaMA 2?")
    assert names("青岚大学的 C 线班车几点发车？") == ["C 线"]
    # a letter before a word of its own is not a line's name
    assert names("dd 的数字后缀 G 等于多少字节？") == []
    # a command-line option is an identifier, however short, in place of its bare name
    assert names("grep 的 -Z 选项有什么用？") == ["-Z"]
    assert names("Can --line-ranges be set in pyproject.toml?") == [
        "--line-ranges",
        "pyproject.toml",
    ]
    assert names("What is the altitude of the observatory?") == []


def test_missing_names_respect_word_boundaries():
    texts = ["LLaMA-7B has a context length of 2048 tokens.", "A 线和 B 线每 20 分钟一班。"]
    assert missing_names("What is the context length of LLaMA 2?", texts) == ["LLaMA 2"]
    assert missing_names("How long is the context of LLaMA 7B?", texts) == []
    assert missing_names("C 线几点发车？", texts) == ["C 线"]
    assert missing_names("B 线几点发车？", texts) == []


def test_a_dotted_release_may_be_named_apart_from_its_name():
    faq = "Which Python versions does the tool support?\nSupport for 3.7 was removed in 23.7.0."
    assert missing_names("When did the tool stop running on Python 3.7?", [faq]) == []
    # the release must be there, and the name with it
    assert missing_names("Does the tool run on Python 3.6?", [faq]) == ["Python 3.6"]
    assert "PyPy 3.7" in missing_names("Does it run on PyPy 3.7?", [faq])
    # a bare integer is too common to stand apart from its name
    assert missing_names("What is LLaMA 2?", ["LLaMA comes in 2 sizes."]) == ["LLaMA 2"]


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


def test_the_relevance_cut_off_reads_the_calibrated_score_where_it_is_measured():
    hit = Hit(
        text="ChatGLM-6B 具有 62 亿参数。", source="a.md", page=None, score=0.84, relevance=0.3
    )
    question = "ChatGLM-6B 有多少参数？"
    assert judge(question, [hit], 0.80).relevant  # off by default
    low = judge(question, [hit], 0.80, min_relevance=0.5)
    assert not low.relevant and low.best_relevance == 0.3
    assert low.reason == "best relevance 0.300 below the cut-off"
    assert judge(question, [hit], 0.80, min_relevance=0.2).relevant
    unmeasured = Hit(text=hit.text, source="a.md", page=None, score=0.84)
    assert judge(question, [unmeasured], 0.80, min_relevance=0.9).relevant  # no score: cosine only


def test_retrieval_drops_hits_below_the_relevance_floor(sample_kb):
    question = "ChatGLM-6B 有多少参数？"
    everything = sample_kb.search(question, k=5)
    assert all(h.relevance is not None for h in everything)
    floor = sorted(h.relevance for h in everything)[2]
    settings = sample_kb.settings
    retrieval = settings.retrieval.model_copy(update={"min_relevance": floor})
    sample_kb.settings = settings.model_copy(update={"retrieval": retrieval})
    try:
        kept = sample_kb.search(question, k=5)
    finally:
        sample_kb.settings = settings
    assert kept and all(h.relevance >= floor for h in kept)
    assert [h.chunk_id for h in kept] == [h.chunk_id for h in everything if h.relevance >= floor]


def test_in_a_chinese_question_a_latin_word_is_a_name_the_passages_must_hold():
    from kbqa.chain.relevance import hinged_names

    passages = ["在 Debian 上用 apt 安装 orrery：sudo apt install orrery。"]
    assert "zypper" in hinged_names("在 openSUSE 上用 zypper 怎么安装 orrery？")
    assert missing_names("在 openSUSE 上用 zypper 怎么安装 orrery？", passages) == [
        "openSUSE",
        "zypper",
    ]
    assert missing_names("在 Debian 上用 apt 怎么安装 orrery？", passages) == []
    # In English only identifiers count: a plain word the passages lack is a paraphrase.
    assert missing_names("How do I install orrery with zypper?", passages) == []
    # Follow-up rewriting reads `names`, which stays as it was.
    assert "zypper" not in names("在 openSUSE 上用 zypper 怎么安装 orrery？")


def test_a_name_in_the_passage_heading_or_document_name_counts():
    """The name "Debian" says what debian-reference.pdf is about, though its page does not say it."""
    page = Hit(
        text="默认的非交互 POSIX shell /bin/sh 是一个指向 /usr/bin/dash 的符号链接。",
        source="debian-reference.zh-cn.pdf",
        page=233,
        score=0.9,
        heading="12.1.1 POSIX shell 兼容性",
    )
    assert judge("Debian 里非交互的 /bin/sh 链接到哪个程序？", [page], 0.5).relevant
    assert judge("POSIX shell 里 dash 是什么？", [page], 0.5).relevant
    refused = judge("Ubuntu 里非交互的 /bin/sh 链接到哪个程序？", [page], 0.5)
    assert not refused.relevant and refused.missing == ["Ubuntu"]


def test_a_compound_word_the_documents_use_is_no_missing_name(sample_kb):
    """A lower-case hyphenated word the retrieved passages lack: missing when the documents never
    use it (a near miss on an option name), a word of theirs retrieval missed when they do."""
    assert sample_kb.mentions("byte-pair-encoding")
    assert not sample_kb.mentions("byte-pair")  # whole, spelt as given
    assert not sample_kb.mentions("no-dropout")
    hits = [Hit(text="LLaMA uses a SentencePiece tokenizer.", source="llama.en.md", page=None,
                score=0.9)]  # fmt: skip
    asked = "Does LLaMA use byte-pair-encoding?"
    assert judge(asked, hits, 0.5).missing == ["byte-pair-encoding"]
    assert judge(asked, hits, 0.5, mentions=sample_kb.mentions).relevant
    near_miss = judge("Does LLaMA train with no-dropout?", hits, 0.5, mentions=sample_kb.mentions)
    assert near_miss.missing == ["no-dropout"] and not near_miss.relevant


def test_a_hyphenated_compound_is_looked_for_spelt_as_given():
    """ "no-aaaa" read as two words would be found in "no AAAA records are found": a near miss on
    an option the page does not have would pass as answered."""
    page = ["resolv.conf options: inet6  Sets RES_USE_INET6 ... if no AAAA records are found."]
    assert missing_names("What does the resolv.conf option no-aaaa do?", page) == ["no-aaaa"]
    assert missing_names("What does no-aaaa do?", ["options: no-aaaa, inet6"]) == []
    # other names keep their separators loose: "LLaMA-7B" answers "LLaMA 7B"
    assert missing_names("How long is LLaMA 7B's context?", ["LLaMA-7B: 2048 tokens."]) == []
