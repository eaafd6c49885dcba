from kbqa.chain.rewrite import Turn, history_rewrite, is_follow_up, rewrite, subjects


def turn(question: str) -> Turn:
    return Turn(question=question, query=question, answer="")


def test_pronoun_is_replaced_by_the_earlier_subject_zh():
    result = history_rewrite("它的词表有多大？", [turn("ChatGLM-6B 是哪个团队发布的？")], "zh")
    assert result.follow_up and result.method == "history"
    assert result.question == "ChatGLM-6B 的词表有多大？"
    assert "ChatGLM-6B" in result.query


def test_pronoun_is_replaced_by_the_earlier_subject_en():
    result = history_rewrite(
        "Which option turns it off?", [turn("What does the cache.enabled option do?")], "en"
    )
    assert "cache.enabled" in result.query


def test_ellipsis_with_a_new_subject_reuses_the_earlier_question():
    assert history_rewrite("BLOOM 呢？", [turn("ChatGLM-6B 有多少层？")], "zh").question == (
        "BLOOM 有多少层？"
    )
    result = history_rewrite(
        "What about LLaMA-13B?", [turn("How many layers does LLaMA-7B have?")], "en"
    )
    assert result.question == "How many layers does LLaMA-13B have?"


def test_standalone_question_is_left_alone():
    history = [turn("ChatGLM-6B 有多少层？")]
    assert not is_follow_up("BLOOM 的词表大小是多少？", history)
    result = rewrite(
        "BLOOM 的词表大小是多少？",
        history,
        "zh",
        mode="auto",
        llm=None,
        template=None,
        llm_capable=False,
    )
    assert result.query == "BLOOM 的词表大小是多少？" and result.method == "none"


def test_rewrite_off_and_first_turn_use_the_raw_question():
    history = [turn("ChatGLM-6B 有多少层？")]
    off = rewrite("它呢？", history, "zh", mode="off", llm=None, template=None, llm_capable=False)
    assert off.query == "它呢？"
    first = rewrite("它呢？", [], "zh", mode="auto", llm=None, template=None, llm_capable=False)
    assert first.query == "它呢？"


def test_subjects_prefer_identifiers():
    assert subjects("青岚大学校园班车的 B 线从哪里出发？")[0] == "B 线"
    assert subjects("orreryctl node drain 是做什么用的？")[0] == "orreryctl node drain"
    assert subjects("What is the name of the telescope at Hollin Ridge Observatory?") == [
        "Hollin Ridge Observatory"
    ]


def test_the_name_asked_about_wins_over_the_file_it_lives_in():
    assert subjects("orrery.conf 里的 DrainTimeout 是干什么的？")[:2] == [
        "DrainTimeout",
        "orrery.conf",
    ]
    assert subjects("CMake 里 ENABLE_ZHCN 参数是什么？")[0] == "ENABLE_ZHCN"
    assert subjects("orreryctl 里 ttl 参数是做什么的？")[:2] == ["ttl", "orreryctl"]  # plain words
    result = history_rewrite(
        "它的默认值是多少？", [turn("orrery.conf 里的 DrainTimeout 是干什么的？")], "zh"
    )
    assert result.question == "DrainTimeout 的默认值是多少？"
    assert "orrery.conf" in result.query  # still searched for, as context


def test_a_pronoun_jieba_glues_to_its_verb_still_marks_a_follow_up():
    history = [turn("CMake 里 ENABLE_ZHCN 参数是什么？")]
    assert is_follow_up("它会生成哪些文件？", history)  # jieba cuts "它会" as one word
    result = history_rewrite("它会生成哪些文件？", history, "zh")
    assert result.follow_up and result.question.startswith("ENABLE_ZHCN")
    assert not is_follow_up("其他平台上怎么安装 manpages-zh？", history)  # "其他" is not "其"


def test_an_option_asked_about_is_the_subject_of_the_follow_up():
    history = [turn("tool 的 -Q 选项有什么用？")]
    result = history_rewrite("它一般和哪个参数搭配？", history, "zh")
    assert result.question.startswith("-Q ")
    assert subjects("What does --tab-width change in mytool?")[0] == "--tab-width"


def test_they_points_at_the_earlier_plural_not_at_a_singular_name():
    history = [turn("Which two commands does the Orrery Manual say must sit together?")]
    result = history_rewrite("In which directories can they be placed?", history, "en")
    assert result.question == "In which directories can two commands be placed?"
    history = [turn("Does the Orrery Policy say where upstream release notes go?")]
    result = history_rewrite("What file name should they be installed as?", history, "en")
    assert result.question == "What file name should upstream release notes be installed as?"
    # "it" keeps the earlier subject; "status" and "class" are not plurals
    result = history_rewrite(
        "When was it added?", [turn("What does the cache.enabled status show?")], "en"
    )
    assert "cache.enabled" in result.question
    history = [turn("What does the cache.enabled status show?")]
    assert "cache.enabled" in history_rewrite("Where are they set?", history, "en").question


def test_a_path_is_the_subject_a_pronoun_points_at():
    assert subjects("What is /var/cache/fonts for?") == ["/var/cache/fonts"]
    assert subjects("Debian 里非交互的 /bin/sh 链接到哪个程序？")[0] == "/bin/sh"
    history = [turn("What is /var/cache/fonts for?")]
    result = history_rewrite("Which tool's generated fonts must go in it?", history, "en")
    assert result.question == "Which tool's generated fonts must go in /var/cache/fonts?"
