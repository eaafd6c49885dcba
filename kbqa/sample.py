"""The sample knowledge base: `knowledge/` ingested into the KB "default" on first use.

`kbqa ask` and `kbqa chat` call `ensure_sample_kb` so that the README's first command works on a
fresh machine with nothing set up: when the default knowledge base does not exist yet, it is
created from the bundled sample documents (about 15-25 s on 2 cores, once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from kbqa import resources
from kbqa.errors import KnowledgeBaseError

if TYPE_CHECKING:
    from kbqa.knowledge_base import KnowledgeBase
    from kbqa.settings import Settings

SAMPLE_KB = "default"


def knowledge_dir() -> Path:
    """The sample documents: $KBQA_SAMPLE_DIR, else the bundled `knowledge/` folder."""
    override = os.environ.get("KBQA_SAMPLE_DIR")
    if override:
        return Path(override).expanduser()
    try:
        folder = resources.knowledge_dir()
    except resources.ResourceNotFound:
        folder = None
    if folder is None or not any(folder.iterdir()):
        raise KnowledgeBaseError(
            "the sample documents (knowledge/) were not found; set KBQA_SAMPLE_DIR or "
            "create a knowledge base with `kbqa ingest PATH`"
        )
    return folder


def ensure_sample_kb(
    settings: Settings, name: str | None = None, *, quiet: bool = False
) -> KnowledgeBase:
    """Open knowledge base `name`; if it is the sample one and missing, build it from knowledge/."""
    from kbqa.knowledge_base import KnowledgeBase

    name = name or settings.kb
    if name != SAMPLE_KB:
        return KnowledgeBase.open(name, settings)
    if KnowledgeBase.exists(name, settings):
        kb = KnowledgeBase.open(name, settings)
        if kb.count_chunks():
            return kb
        kb.close()  # an earlier first use was interrupted: ingest again
    folder = knowledge_dir()
    if not quiet:
        print(
            f"kbqa: first use: building the sample knowledge base {name!r} from {folder} ...",
            file=sys.stderr,
            flush=True,
        )
    kb = KnowledgeBase.open(name, settings, create=True)
    report = kb.add([folder])
    if not quiet:
        print(f"kbqa: {report.summary()}", file=sys.stderr, flush=True)
    if kb.count_chunks() == 0:
        raise KnowledgeBaseError(f"the sample documents in {folder} gave no text to index")
    return kb
