from pathlib import Path

import pytest

from kbqa.chain.prompts import PromptError, PromptSet, Template, bundled_prompt_dir


def test_bundled_templates_exist_in_both_languages():
    prompts = PromptSet()
    for language in ("zh", "en"):
        qa = prompts.qa(language)
        assert "{context}" in qa.user and "{question}" in qa.user
        assert "{history}" in prompts.rewrite(language).user
        assert prompts.refusal(language).strip()
    assert "知识库" in prompts.refusal("zh")
    assert "knowledge base" in prompts.refusal("en")
    assert (bundled_prompt_dir() / "qa.zh.txt").is_file()


def test_render_replaces_only_known_placeholders():
    template = Template.parse(
        '[system]\nBe brief {json: "x"}.\n[user]\nC:\n{context}\nQ: {question}'
    )
    messages = template.render(context='[1] "text"', question="why?")
    assert messages[0] == {"role": "system", "content": 'Be brief {json: "x"}.'}
    assert messages[1]["content"] == 'C:\n[1] "text"\nQ: why?'


def test_template_without_sections_is_one_user_message():
    messages = Template.parse("{context}\n\n{question}").render(context="c", question="q")
    assert messages == [{"role": "user", "content": "c\n\nq"}]


def test_user_file_overrides_qa_template(tmp_path: Path):
    custom = tmp_path / "mine.txt"
    custom.write_text("Facts:\n{context}\nAsk: {question}\n", encoding="utf-8")
    prompts = PromptSet(prompt_dir=custom)
    assert prompts.qa("zh").path == custom
    assert prompts.qa("en").path == custom
    assert prompts.refusal("en") == PromptSet().refusal("en")  # the rest stays bundled


def test_user_folder_overrides_by_name(tmp_path: Path):
    (tmp_path / "refusal.en.txt").write_text("Not in my notes.\n", encoding="utf-8")
    prompts = PromptSet(prompt_dir=tmp_path)
    assert prompts.refusal("en") == "Not in my notes."
    assert prompts.qa("en").path == bundled_prompt_dir() / "qa.en.txt"


def test_missing_template_is_a_user_error(tmp_path: Path):
    with pytest.raises(PromptError, match="not found"):
        PromptSet(prompt_dir=tmp_path / "nope")
    with pytest.raises(PromptError, match="no \\[user\\] section"):
        Template.parse("[system]\nonly a system part")
