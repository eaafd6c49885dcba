"""Chat formatting: the tokenizer's own chat template when it has one, else a file in prompts/chat/.

A file template is a Jinja template whose first line is a comment carrying its settings as JSON:
`{#- kbqa {"stop": [...], "special_tokens": true} -#}`. It is rendered with `system` (all system
messages joined), `turns` (a list of `{"user": str, "assistant": str | None}`, the last one open
for the reply) and `messages` (normalised). `special_tokens` (default true) says whether the
tokenizer should add its own special tokens (LLaMA's BOS, ChatGLM's [gMASK]sop) when the rendered
text is encoded; templates that write those tokens themselves set it to false.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.base import Message
from kbqa.resources import prompts_dir

PROMPT_DIR = prompts_dir() / "chat"  # the bundled chat templates
_HEADER = re.compile(r"^\{#-?\s*kbqa\s+(\{.*?\})\s*-?#\}", re.S)


def normalise(messages: list[Message]) -> list[Message]:
    """One leading system message, then strictly alternating turns (adjacent same roles merged).

    Many chat templates refuse two user messages in a row or a system message in the middle; the
    chain and LangChain callers may produce both.
    """
    system = [m["content"] for m in messages if m["role"] == "system" and m["content"]]
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": "\n\n".join(system)})
    for message in messages:
        if message["role"] == "system":
            continue
        if out and out[-1]["role"] == message["role"]:
            out[-1] = {
                "role": message["role"],
                "content": out[-1]["content"] + "\n\n" + message["content"],
            }
        else:
            out.append({"role": message["role"], "content": message["content"]})
    return out


def to_turns(messages: list[Message]) -> tuple[str, list[dict[str, str | None]]]:
    """(system text, turns) for file templates; the last turn has assistant None for the reply."""
    normal = normalise(messages)
    system = normal[0]["content"] if normal and normal[0]["role"] == "system" else ""
    turns: list[dict[str, str | None]] = []
    for message in normal:
        if message["role"] == "user":
            turns.append({"user": message["content"], "assistant": None})
        elif message["role"] == "assistant":
            if not turns or turns[-1]["assistant"] is not None:
                turns.append({"user": "", "assistant": None})
            turns[-1]["assistant"] = message["content"]
    if not turns or turns[-1]["assistant"] is not None:
        # A conversation that ends with the assistant: open an empty user turn for the reply.
        turns.append({"user": "", "assistant": None})
    return system, turns


def _environment() -> Any:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Same sandbox transformers renders chat templates in: a template file cannot reach Python.
    return ImmutableSandboxedEnvironment(keep_trailing_newline=False)


@dataclass(frozen=True)
class FileTemplate:
    name: str
    source: str
    stop: tuple[str, ...]
    special_tokens: bool = True
    description: str = ""

    def render(self, messages: list[Message]) -> str:
        system, turns = to_turns(messages)
        template = _environment().from_string(self.source)
        return template.render(system=system, turns=turns, messages=normalise(messages))


def template_names(prompt_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (prompt_dir or PROMPT_DIR).glob("*.jinja"))


@lru_cache(maxsize=64)
def load_template(name: str, prompt_dir: Path | None = None) -> FileTemplate:
    """The chat template `name` from `prompt_dir` (a user folder) or the bundled prompts/chat/."""
    for folder in (prompt_dir, PROMPT_DIR):
        if folder is None:
            continue
        path = Path(folder) / f"{name}.jinja"
        if path.is_file():
            source = path.read_text(encoding="utf-8")
            match = _HEADER.match(source)
            meta = json.loads(match.group(1)) if match else {}
            return FileTemplate(
                name=name,
                source=source,
                stop=tuple(meta.get("stop", ())),
                special_tokens=bool(meta.get("special_tokens", True)),
                description=str(meta.get("description", "")),
            )
    known = ", ".join(template_names())
    raise ModelError(f"no chat template named '{name}' in {PROMPT_DIR} (known: {known})")


def guess_format(name: str, family: str | None = None) -> str:
    """The file template for a model with no chat template of its own, from its name or family."""
    lowered = name.lower()
    for key, template in (
        ("chatglm3", "chatglm3"),
        ("chatglm2", "chatglm2"),
        ("chatglm", "chatglm"),
        ("glm-4", "glm4"),
        ("glm4", "glm4"),
        ("vicuna", "vicuna"),
        ("alpaca", "alpaca"),
        ("belle", "belle"),
        ("phoenix", "phoenix"),
        ("bloomz", "bloomz"),
        ("smollm", "chatml"),
        ("qwen", "chatml"),
    ):
        if key in lowered:
            return template
    return {"chatglm": "chatglm", "glm4": "glm4", "smollm2": "chatml"}.get(family or "", "plain")
