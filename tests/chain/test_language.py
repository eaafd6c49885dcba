from kbqa.chain.language import detect_language


def test_chinese_with_english_names_is_chinese():
    assert detect_language("ChatGLM-6B 有多少参数？") == "zh"
    assert detect_language("LLaMA 和 BLOOM 呢？") == "zh"
    assert detect_language("它的默认值是多少？") == "zh"


def test_english_with_a_chinese_term_is_english():
    assert detect_language("Which option turns it off?") == "en"
    assert detect_language("What does 闻达 mean in English?") == "en"
    assert detect_language("") == "en"
