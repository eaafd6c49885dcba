"""Prompt templates: files in `prompts/`, one per task and language, overridable by the user.

Names: `qa.{zh,en}.txt` (answer from the knowledge base), `refusal.{zh,en}.txt` (the reply when
nothing relevant is found; sent as is, never to the model), `rewrite.{zh,en}.txt` (turn a
follow-up into a standalone question), `quote.{zh,en}.txt` (how a reply built from the source
opens, for models too small for free generation: `{quote}` is the passage, `{number}` its [n]),
`also.{zh,en}.txt` (the line of each further passage such a reply quotes).

A template is plain text with the placeholders `{context}`, `{question}`, `{history}`, `{quote}`
and `{number}`; only these are replaced, so other braces in a user's file are kept. An optional line `[system]` starts the
system message and a line `[user]` the user message; without them the whole file is the user
message.

Lookup order for a name: an explicit file the caller passes (`qa_template=`), then
`settings.chain.prompt_dir` (a folder of same-named files; if it names a single file, that file is the
QA template for both languages), then the bundled `prompts/` folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kbqa.errors import KBQAError
from kbqa.llm.base import Message
from kbqa.resources import ResourceNotFound, prompts_dir
from kbqa.text.language import Language

_PLACEHOLDER = re.compile(r"\{(context|question|history|quote|number)\}")
_SECTION = re.compile(r"^\[(system|user)\][ \t]*$", re.MULTILINE)


class PromptError(KBQAError):
    """A prompt template is missing or malformed."""


def bundled_prompt_dir() -> Path:
    """The `prompts/` folder shipped with kbqa (kbqa.resources knows where)."""
    try:
        return prompts_dir()
    except ResourceNotFound as error:
        raise PromptError(str(error)) from error


@dataclass(frozen=True)
class Template:
    """One prompt template, split into an optional system part and a user part."""

    system: str | None
    user: str
    path: Path | None = None

    @classmethod
    def parse(cls, text: str, path: Path | None = None) -> Template:
        parts = _SECTION.split(text)
        if len(parts) == 1:
            return cls(system=None, user=text.strip(), path=path)
        sections: dict[str, str] = {}
        # parts = [before, name1, body1, name2, body2, ...]; text before the first marker is ignored.
        for name, body in zip(parts[1::2], parts[2::2], strict=True):
            sections[name] = body.strip()
        if "user" not in sections:
            raise PromptError(f"prompt template {path or ''} has no [user] section")
        return cls(system=sections.get("system") or None, user=sections["user"], path=path)

    @classmethod
    def load(cls, path: Path) -> Template:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise PromptError(f"cannot read prompt template {path}: {error.strerror}") from error
        return cls.parse(text, path)

    def render(self, **values: str) -> list[Message]:
        def fill(text: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

        messages: list[Message] = []
        if self.system:
            messages.append({"role": "system", "content": fill(self.system)})
        messages.append({"role": "user", "content": fill(self.user)})
        return messages

    @property
    def text(self) -> str:
        """The user part, for templates used as plain text (the refusal)."""
        return self.user


class PromptSet:
    """The templates one conversation uses, resolved once."""

    def __init__(self, prompt_dir: Path | str | None = None, qa_template: Path | str | None = None):
        self.bundled = bundled_prompt_dir()
        self.user_dir: Path | None = None
        self.qa_file: Path | None = Path(qa_template).expanduser() if qa_template else None
        if prompt_dir:
            user = Path(prompt_dir).expanduser()
            if user.is_file():
                self.qa_file = self.qa_file or user
            elif user.is_dir():
                self.user_dir = user
            else:
                raise PromptError(f"prompt folder or file not found: {user}")
        if self.qa_file and not self.qa_file.is_file():
            raise PromptError(f"prompt template not found: {self.qa_file}")
        self._cache: dict[str, Template] = {}

    def path(self, name: str) -> Path:
        if self.user_dir and (self.user_dir / name).is_file():
            return self.user_dir / name
        path = self.bundled / name
        if not path.is_file():
            raise PromptError(f"prompt template {name} not found in {self.bundled}")
        return path

    def get(self, task: str, language: Language) -> Template:
        name = f"{task}.{language}.txt"
        if name not in self._cache:
            if task == "qa" and self.qa_file:
                self._cache[name] = Template.load(self.qa_file)
            else:
                self._cache[name] = Template.load(self.path(name))
        return self._cache[name]

    def qa(self, language: Language) -> Template:
        return self.get("qa", language)

    def refusal(self, language: Language) -> str:
        return self.get("refusal", language).text

    def rewrite(self, language: Language) -> Template:
        return self.get("rewrite", language)

    def quote(self, language: Language, quote: str, number: int, *, also: bool = False) -> str:
        """The opening of a reply built from the source (see conversation.py), or with `also`
        a further passage it quotes."""
        template = self.get("also" if also else "quote", language)
        return template.render(quote=quote, number=str(number))[-1]["content"]
