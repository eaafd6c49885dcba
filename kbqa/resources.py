"""Where kbqa's bundled resources live: the prompt templates and the sample documents.

The repository's top-level `prompts/` and `knowledge/` folders are the only copy. In a checkout
(and an editable install) they sit beside the package; a wheel ships them inside it as
`kbqa/_data/prompts` and `kbqa/_data/knowledge` (package-dir mapping in pyproject.toml). This
module is the one place that knows both layouts; everything else asks it.
"""

from __future__ import annotations

from pathlib import Path

from kbqa.errors import KBQAError

_PACKAGE = Path(__file__).resolve().parent
# Installed first: in site-packages the "checkout" candidate would be a stranger's top-level folder.
_ROOTS = (_PACKAGE / "_data", _PACKAGE.parent)


class ResourceNotFound(KBQAError):
    """A folder that ships with kbqa is missing: a broken install or checkout."""


def bundled_dir(name: str) -> Path:
    """The bundled folder `name` ("prompts" or "knowledge"), installed or in a checkout."""
    for root in _ROOTS:
        candidate = root / name
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(root / name) for root in _ROOTS)
    raise ResourceNotFound(f"kbqa's bundled {name}/ folder was not found (looked in {looked})")


def prompts_dir() -> Path:
    """The bundled prompt templates (`qa.*.txt`, `refusal.*.txt`, `chat/*.jinja`, ...)."""
    return bundled_dir("prompts")


def knowledge_dir() -> Path:
    """The bundled sample documents, ingested into the "default" knowledge base on first use."""
    return bundled_dir("knowledge")
