"""Per-family chat formats kept as files in prompts/chat/, rendered exactly as each family expects."""

from __future__ import annotations

import pytest

from kbqa.errors import ModelError
from kbqa.llm.base import Message
from kbqa.llm.chat_format import guess_format, load_template, normalise, template_names

HISTORY: list[Message] = [
    {"role": "user", "content": "你好"},
    {"role": "assistant", "content": "你好！"},
    {"role": "user", "content": "ChatGLM-6B 有多少参数？"},
]


def test_chatglm_6b_rounds_from_zero() -> None:
    # ChatGLM-6B's own chat(): "[Round {i}]\n问：{q}\n答：{a}\n" per past turn, then the open one.
    assert load_template("chatglm").render(HISTORY) == (
        "[Round 0]\n问：你好\n答：你好！\n[Round 1]\n问：ChatGLM-6B 有多少参数？\n答："
    )


def test_chatglm2_rounds_from_one_with_blank_lines() -> None:
    assert load_template("chatglm2").render(HISTORY) == (
        "[Round 1]\n\n问：你好\n\n答：你好！\n\n[Round 2]\n\n问：ChatGLM-6B 有多少参数？\n\n答："
    )


def test_chatglm3_role_tokens() -> None:
    text = load_template("chatglm3").render([{"role": "system", "content": "S"}, *HISTORY])
    assert (
        text
        == "<|system|>\n S<|user|>\n 你好<|assistant|>\n 你好！<|user|>\n ChatGLM-6B 有多少参数？<|assistant|>"
    )


def test_alpaca_vicuna_belle_phoenix() -> None:
    one: list[Message] = [{"role": "user", "content": "Q"}]
    alpaca = load_template("alpaca").render(one)
    assert alpaca.startswith("Below is an instruction that describes a task.")
    assert alpaca.endswith("### Instruction:\nQ\n\n### Response:\n")
    vicuna = load_template("vicuna").render([*one, {"role": "assistant", "content": "A"}, *one])
    assert vicuna.endswith(" USER: Q ASSISTANT: A</s> USER: Q ASSISTANT:")
    assert load_template("belle").render(one) == "Human: Q\n\nAssistant:"
    assert load_template("phoenix").render(one).endswith("Human: <s>Q</s>Assistant: <s>")


def test_system_message_goes_first_in_round_zero() -> None:
    text = load_template("chatglm").render(
        [{"role": "system", "content": "只根据资料回答。"}, HISTORY[2]]
    )
    assert text == "[Round 0]\n问：只根据资料回答。\nChatGLM-6B 有多少参数？\n答："


def test_stop_strings_come_from_the_file_header() -> None:
    assert "[Round " in load_template("chatglm").stop
    assert "USER:" in load_template("vicuna").stop
    assert load_template("glm4").special_tokens is False


def test_normalise_merges_repeated_roles_and_systems() -> None:
    messages: list[Message] = [
        {"role": "system", "content": "a"},
        {"role": "system", "content": "b"},
        {"role": "user", "content": "1"},
        {"role": "user", "content": "2"},
        {"role": "assistant", "content": "x"},
        {"role": "assistant", "content": "y"},
        {"role": "user", "content": "3"},
    ]
    assert [m["role"] for m in normalise(messages)] == ["system", "user", "assistant", "user"]
    assert normalise(messages)[0]["content"] == "a\n\nb"


def test_every_family_has_a_template_and_unknown_is_clear() -> None:
    names = set(template_names())
    assert {
        "chatglm",
        "chatglm2",
        "chatglm3",
        "glm4",
        "alpaca",
        "vicuna",
        "belle",
        "bloomz",
        "phoenix",
        "plain",
    } <= names
    assert guess_format("lmsys/vicuna-7b-v1.3") == "vicuna"
    assert guess_format("BelleGroup/BELLE-7B-2M") == "belle"
    assert guess_format("some/llama-base", "llama") == "plain"
    with pytest.raises(ModelError, match="no chat template named"):
        load_template("nonexistent")
