"""`kbqa kb check` and `kbqa kb repair`: find what is damaged in a knowledge base, and rebuild what
can be rebuilt from its records.

The records (chunks with their text, metadata and vectors; the files; the manifest) are the
source of truth; the lexical and dense indexes are derived from them. Damage to a derived index,
or to the record store's file outside the records' own rows, is repaired by rebuilding it. Damage
to the records themselves cannot be: the documents must be ingested again, and `repair` says
which ones.
"""

from __future__ import annotations

from kbqa.errors import EmbedderMismatch, KnowledgeBaseDamaged, KnowledgeBaseError
from kbqa.knowledge_base import KnowledgeBase
from kbqa.settings import Settings
from kbqa.store.base import Problem
from kbqa.store.factory import holds_knowledge_base, open_records, open_store


def check_knowledge_base(name: str, settings: Settings) -> list[Problem]:
    """Everything found wrong with knowledge base `name` (empty when it is sound)."""
    folder = KnowledgeBase.folder_for(name, settings)
    if not holds_knowledge_base(folder):
        raise KnowledgeBaseError(f"no knowledge base named {name!r}")
    try:
        kb = KnowledgeBase.open(name, settings)
    except KnowledgeBaseDamaged as error:
        return [Problem("records", str(error.__cause__ or error), False)]
    try:
        problems = kb.store.check()
        if all(p.repairable for p in problems):
            try:
                kb.embedder  # noqa: B018 - loading it compares its fingerprint with the manifest's
            except EmbedderMismatch as error:
                problems.append(Problem("embedder", str(error), False))
        return problems
    finally:
        kb.close()


def repair_knowledge_base(name: str, settings: Settings) -> tuple[list[Problem], list[Problem]]:
    """Rebuild what is damaged; returns (what was found, what is still wrong afterwards).
    KnowledgeBaseError when something found cannot be rebuilt (saying what to ingest again)."""
    found = check_knowledge_base(name, settings)
    if not found:
        return [], []
    unrepairable = [p for p in found if not p.repairable]
    if unrepairable:
        raise KnowledgeBaseError(_cannot_repair(name, settings, unrepairable))
    store = open_store(KnowledgeBase.folder_for(name, settings))
    try:
        with store.writer():
            store.repair(found)
    finally:
        store.close()
    return found, check_knowledge_base(name, settings)


def _cannot_repair(name: str, settings: Settings, problems: list[Problem]) -> str:
    lines = [f"cannot repair knowledge base {name!r}:"]
    lines += [f"  {problem}" for problem in problems]
    if any(p.part == "embedder" for p in problems):
        lines.append("  the stored vectors were made by another model: ingest the documents again")
        return "\n".join(lines)
    try:
        records = open_records(KnowledgeBase.folder_for(name, settings))
        origins = [record.origin or record.doc for record in records.files()]
        records.close()
    except Exception:  # the file list itself may be what is damaged
        origins = []
    lines.append(
        f"  its records are damaged: delete it (`kbqa kb delete {name} --yes`) and ingest "
        "its documents again"
        + (":" if origins else " (the list of its files cannot be read either)")
    )
    lines += [f"    {origin}" for origin in origins[:20]]
    if len(origins) > 20:
        lines.append(f"    and {len(origins) - 20} more")
    return "\n".join(lines)
