"""The Python API: named knowledge bases you add documents to and search.

from kbqa import KnowledgeBase
kb = KnowledgeBase.open("manuals", create=True)
report = kb.add(["docs/"])
hits = kb.search("如何配置代理？", k=5)
"""

from __future__ import annotations

import functools
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.errors import EmbedderMismatch, KBQAError, KnowledgeBaseDamaged, KnowledgeBaseError
from kbqa.settings import Settings, StoreSettings
from kbqa.store.base import FileRecord
from kbqa.store.copy import CopyReport, copy_folder, settle_moves
from kbqa.store.factory import describe_damage, holds_knowledge_base, open_records, open_store
from kbqa.store.leftovers import remove_abandoned_folders
from kbqa.store.store import Store
from kbqa.types import Hit

if TYPE_CHECKING:
    from kbqa.chain.types import Answer
    from kbqa.embedders import Embedder
    from kbqa.ingest import IngestReport, ProgressCallback
    from kbqa.retrieval.langchain_retriever import KnowledgeBaseRetriever
    from kbqa.store.langchain_store import KBQAVectorStore

#: what the embedder's fingerprint is its vector of; bilingual, so either kind of model sees text
FINGERPRINT_TEXT = "kbqa embedder fingerprint: 知识库问答的嵌入模型指纹"
#: the cosine two loads of one model reach (fp32 against bf16 gives about 0.999; two different
#: 384-d models, e5-small and all-MiniLM-L6-v2, under 0.1)
FINGERPRINT_AGREEMENT = 0.98


def fingerprint_agreement(kept: str, probe: Any) -> float:
    """Cosine between a kept fingerprint (JSON list) and a fresh probe vector; 0 if unreadable."""
    import json

    import numpy as np

    try:
        vector = np.asarray(json.loads(kept), dtype=np.float32)
    except (ValueError, TypeError):
        return 0.0
    probe = np.asarray(probe, dtype=np.float32)
    if vector.shape != probe.shape:
        return 0.0
    norm = float(np.linalg.norm(vector) * np.linalg.norm(probe)) or 1.0
    return float(vector @ probe) / norm


#: prefix of a base being deleted: renamed first, so a crash never leaves half a base under its name
_TRASH = ".deleted-"


_NAME = re.compile(r"^[\w][\w.\-]{0,63}$")


def _validate_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name:
        raise KnowledgeBaseError(
            f"invalid knowledge base name {name!r}: use letters, digits, '-', '_' or '.' "
            "(at most 64, not starting with '.' or '-')"
        )
    return name


@contextmanager
def reporting_damage(name: str) -> Iterator[None]:
    """Turn a record store's report of damaged data into a KnowledgeBaseDamaged naming the base."""
    try:
        yield
    except KBQAError:
        raise
    except Exception as error:
        damage = describe_damage(error)
        if damage is None:
            raise
        raise KnowledgeBaseDamaged(
            f"knowledge base {name!r} is damaged ({damage}); run `kbqa kb check {name}` "
            f"and `kbqa kb repair {name}`"
        ) from error


def _reports_damage(method: Callable) -> Callable:
    @functools.wraps(method)
    def wrapper(self: KnowledgeBase, *args: Any, **kwargs: Any) -> Any:
        with reporting_damage(self.name):
            return method(self, *args, **kwargs)

    return wrapper


class KnowledgeBase:
    def __init__(self, name: str, settings: Settings, store: Store) -> None:
        self.name = name
        self.settings = settings
        self.store = store
        self._embedder: Embedder | None = None
        self._searcher = None
        self._adopt_manifest()

    # -- opening and managing ---------------------------------------------------------------------

    @classmethod
    def folder_for(cls, name: str, settings: Settings | None = None) -> Path:
        settings = settings or Settings.load()
        return settings.kb_root / _validate_name(name)

    @classmethod
    def open(
        cls, name: str | None = None, settings: Settings | None = None, *, create: bool = False
    ) -> KnowledgeBase:
        settings = settings or Settings.load()
        name = _validate_name(name or settings.kb)
        folder = cls.folder_for(name, settings)
        if not create and not holds_knowledge_base(folder):
            known = ", ".join(cls.list_names(settings)) or "none yet"
            raise KnowledgeBaseError(
                f"no knowledge base named {name!r} (known: {known}); "
                f"create it with `kbqa ingest PATH --kb {name}`"
            )
        with reporting_damage(name):
            store = open_store(folder, settings.store, create=create)
            try:
                return cls(name, settings, store)
            except BaseException:
                store.close()
                raise

    @classmethod
    def create(cls, name: str, settings: Settings | None = None) -> KnowledgeBase:
        return cls.open(name, settings, create=True)

    @classmethod
    def exists(cls, name: str, settings: Settings | None = None) -> bool:
        return holds_knowledge_base(cls.folder_for(name, settings))

    @classmethod
    def list_names(cls, settings: Settings | None = None) -> list[str]:
        settings = settings or Settings.load()
        if not settings.kb_root.is_dir():
            return []
        remove_abandoned_folders(settings.kb_root, _TRASH)  # deletions a kill interrupted
        settle_moves(settings.kb_root)  # and moves (kbqa kb copy)
        return sorted(p.name for p in settings.kb_root.iterdir() if holds_knowledge_base(p))

    @classmethod
    def delete(cls, name: str, settings: Settings | None = None) -> None:
        folder = cls.folder_for(name, settings)
        if not holds_knowledge_base(folder):
            raise KnowledgeBaseError(f"no knowledge base named {name!r}")
        records = open_records(folder)
        with records.writer():
            records.drop()
            records.close()
            # Rename first, so a crash mid-delete never leaves a half-deleted base under the name.
            trash = folder.with_name(f"{_TRASH}{name}-{os.getpid()}")
            folder.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)

    @classmethod
    def copy(
        cls,
        name: str,
        to: StoreSettings,
        *,
        as_name: str | None = None,
        settings: Settings | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> CopyReport:
        """Copy base `name` to a new base on the store `to` (its `uri`; "" is the embedded
        default) without re-embedding. Under its own name (`as_name` None or `name`) this is a
        move: the name then points at the copy and the original is deleted."""
        settings = settings or Settings.load()
        source = cls.folder_for(name, settings)
        target = cls.folder_for(as_name or name, settings)
        if not holds_knowledge_base(source):
            raise KnowledgeBaseError(f"no knowledge base named {name!r}")
        if target != source and holds_knowledge_base(target):
            raise KnowledgeBaseError(f"knowledge base {target.name!r} already exists")
        with reporting_damage(name):
            return copy_folder(source, target, to, progress)

    @property
    def path(self) -> Path:
        return self.store.folder

    # -- the embedder, checked against the manifest ------------------------------------------------

    def _adopt_manifest(self) -> None:
        """Use the embedder the base was built with, unless the user chose one explicitly."""
        built_with = self.store.get_meta("embedder")
        if not built_with:
            return
        configured = self.settings.embedder
        if built_with == configured.name:
            return
        if "name" in configured.model_fields_set:
            raise EmbedderMismatch(
                f"knowledge base {self.name!r} was built with embedder {built_with!r} "
                f"({self.store.get_meta('dimension')}-d), but {configured.name!r} is configured; "
                f"use --embedder {built_with} or rebuild the base into a new name"
            )
        self.settings = self.settings.model_copy(
            update={"embedder": configured.model_copy(update={"name": built_with})}
        )

    @property
    @_reports_damage
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from kbqa.embedders import load_embedder

            embedder = load_embedder(self.settings.embedder)
            dimension = self.store.dimension()
            if dimension is not None and dimension != embedder.dimension:
                raise EmbedderMismatch(
                    f"knowledge base {self.name!r} holds {dimension}-d vectors but embedder "
                    f"{embedder.name!r} makes {embedder.dimension}-d ones"
                )
            self._check_fingerprint(embedder)
            if self.store.get_meta("embedder") is None:
                self.store.set_meta(
                    {
                        "embedder": embedder.name,
                        "dimension": str(embedder.dimension),
                        "embedder_max_tokens": str(embedder.max_tokens),
                    }
                )
            self._embedder = embedder
        return self._embedder

    def _check_fingerprint(self, embedder: Embedder) -> None:
        """The embedder must be the model that made the stored vectors, whatever the manifest's
        name says: its vector for a fixed probe text is kept in the manifest and compared."""
        probe = embedder.encode_documents([FINGERPRINT_TEXT])[0]
        kept = self.store.get_meta("embedder_fingerprint")
        if kept is None:  # a new base, or one made before fingerprints: keep this model's
            self.store.set_meta({"embedder_fingerprint": [round(float(x), 4) for x in probe]})
            return
        agreement = fingerprint_agreement(kept, probe)
        if agreement < FINGERPRINT_AGREEMENT:
            raise EmbedderMismatch(
                f"knowledge base {self.name!r} was built by another model than the embedder "
                f"{embedder.name!r} now loaded for it (their vectors for a fixed probe text "
                f"agree to {agreement:.2f}, at least {FINGERPRINT_AGREEMENT} is expected): its "
                "manifest was edited or the model's files changed; restore them, or ingest "
                "the documents into a new base"
            )

    # -- ingestion ----------------------------------------------------------------------------------

    @_reports_damage
    def add(
        self,
        paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        prune: bool = False,
        progress: bool | ProgressCallback = False,
    ) -> IngestReport:
        """Ingest files and folders; unchanged files are skipped, changed ones replaced."""
        if isinstance(paths, str | os.PathLike):
            paths = [paths]
        return self._ingestor().run(paths, prune=prune, progress=progress)

    def _ingestor(self):
        from kbqa.ingest import Ingestor

        # The embedder is passed as a getter: unchanged files are skipped without loading it.
        return Ingestor(self.store, lambda: self.embedder, self.settings)

    @_reports_damage
    def reindex(self, *, progress: bool | ProgressCallback = False) -> IngestReport:
        """Read every file again from where it was ingested and rebuild its chunks."""
        origins = [record.origin for record in self.store.files() if record.origin]
        return self._ingestor().run(origins, force=True, progress=progress)

    @_reports_damage
    def remove(self, source: str) -> int:
        """Remove a file by its relative path, base name or the path it was ingested from;
        returns the number of chunks removed."""
        records = self.store.files()
        origin = str(Path(source).expanduser().absolute())
        matches = (
            [r.doc for r in records if r.doc == source]
            or [r.doc for r in records if r.origin and r.origin in (source, origin)]
            or [r.doc for r in records if r.source == source]
        )
        if not matches:
            held = [r.doc for r in records]
            listed = ", ".join(held[:10]) + (
                f" and {len(held) - 10} more" if len(held) > 10 else ""
            )
            raise KnowledgeBaseError(
                f"no file {source!r} in knowledge base {self.name!r} "
                + (f"(it holds: {listed})" if held else "(it holds no files)")
            )
        if len(matches) > 1:
            raise KnowledgeBaseError(
                f"{source!r} matches several files ({', '.join(matches)}): give the path"
            )
        with self.store.writer(wait_s=5.0):
            removed = self.store.delete_documents(matches)
            self.store.save_index()
        return removed

    @_reports_damage
    def files(self) -> list[FileRecord]:
        return self.store.files()

    @_reports_damage
    def count_chunks(self) -> int:
        return self.store.count()

    @_reports_damage
    def info(self) -> dict[str, Any]:
        files = self.files()
        return {
            "name": self.name,
            "path": str(self.path),
            "files": len(files),
            "chunks": self.count_chunks(),
            "manifest": self.store.manifest(),
        }

    # -- retrieval ----------------------------------------------------------------------------------

    @_reports_damage
    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        threshold: float | None = None,
        sources: Sequence[str] | None = None,
        mode: str | None = None,
        expand: int | None = None,
        rerank: str | None = None,
    ) -> list[Hit]:
        """Best chunks for `query`, best first; `Hit.score` is the cosine similarity in [0, 1].

        `rerank` names the second stage ("none" for the fused order; default: the settings')."""
        from kbqa.chain.calibration import add_relevance
        from kbqa.chain.rerank import load_reranker
        from kbqa.retrieval.hybrid import HybridSearcher, SearchRequest

        retrieval = self.settings.retrieval
        if rerank is not None and rerank != retrieval.rerank:
            retrieval = retrieval.model_copy(update={"rerank": rerank})
        if self._searcher is None:
            self._searcher = HybridSearcher(self.store, self.embedder)
        mode = mode or retrieval.mode
        hits = self._searcher.run(
            SearchRequest(
                query=query,
                k=k or retrieval.k,
                mode=mode,
                threshold=retrieval.threshold if threshold is None else threshold,
                sources=list(sources) if sources else None,
                expand=retrieval.expand if expand is None else expand,
                reranker=load_reranker(retrieval, self.embedder),
                rerank_candidates=retrieval.rerank_candidates,
            )
        )
        add_relevance(query, hits, self.embedder.name, mode)
        if retrieval.min_relevance > 0:
            hits = [
                h for h in hits if h.relevance is None or h.relevance >= retrieval.min_relevance
            ]
        return hits

    def mentions(self, name: str, k: int = 5) -> bool:
        """Whether `name` occurs in the documents, spelt as given (case aside) and whole, in one of
        the best `k` lexical matches: the refusal asks before it calls a word missing. Spelt as
        given: "no-aaaa" is not "no AAAA records"."""
        from kbqa.chain.relevance import spelt_as_given

        pattern = spelt_as_given(name)
        found = self.search(name, k, mode="bm25", rerank="none", threshold=0.0, expand=0)
        return any(pattern.search(hit.text) for hit in found)

    def sentence_cosines(self, query: str, texts: list[str]) -> list[float]:
        """Each text's cosine to `query` by this base's embedder (sentences are cached, shared
        with the sentence reranker): what the reply's quote choice reads."""
        from kbqa.chain.sentence_vectors import shared_sentence_vectors

        return shared_sentence_vectors(self.embedder).cosines(query, texts)

    @_reports_damage
    def neighbours(self, hit: Hit, span: int = 1) -> list[Hit]:
        """The chunks around `hit` in its document (itself included), in reading order."""
        from kbqa.retrieval.hybrid import to_hit

        rows = self.store.neighbours(hit.path, hit.position, span)
        return [to_hit(row, hit.score if row.uid == hit.chunk_id else 0.0) for row in rows]

    def ask(
        self, question: str, history: Sequence[Any] | None = None, *, llm: Any = None
    ) -> Answer:
        """Answer `question` from this knowledge base (RAG chain), with optional earlier turns."""
        from kbqa.chain.conversation import ask

        return ask(self, question, history, llm=llm, settings=self.settings)

    def as_retriever(self, k: int = 5, **search_kwargs: Any) -> KnowledgeBaseRetriever:
        from kbqa.retrieval.langchain_retriever import KnowledgeBaseRetriever

        return KnowledgeBaseRetriever(knowledge_base=self, k=k, search_kwargs=search_kwargs)

    @_reports_damage
    def as_vectorstore(self) -> KBQAVectorStore:
        from kbqa.store.langchain_store import KBQAVectorStore

        return KBQAVectorStore(self.store, self.embedder)

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"KnowledgeBase({self.name!r}, path={str(self.path)!r})"
