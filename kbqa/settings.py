"""The one settings object: defaults < config file < environment < explicit overrides.

Every interface (CLI, Python API, UI) builds its components from a `Settings`, so a value set in
`config.toml` or in `KBQA_*` environment variables means the same thing everywhere.

Environment variables: `KBQA_HOME`, `KBQA_KB`, `KBQA_CONFIG`, and any nested field as
`KBQA_<SECTION>__<FIELD>` (for example `KBQA_RETRIEVAL__K=8`, `KBQA_LLM__QUANTIZE=int4`).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_EMBEDDER = "multilingual-e5-small"
DEFAULT_LLM = "smollm2-135m-instruct"


def default_home() -> Path:
    return Path(os.environ.get("KBQA_HOME") or Path.home() / ".kbqa").expanduser()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EmbedderSettings(_Section):
    # A sentence-transformers model name or folder, or one of the bundled names
    # ("all-MiniLM-L6-v2", "multilingual-e5-small").
    name: str = DEFAULT_EMBEDDER
    # "auto": bf16 where the CPU has native bf16 (AVX512_BF16/AMX: ~1.7x faster than fp32 at
    # cosine 0.9999), else fp32 (emulated bf16 is ~8x slower); docs/benchmarks.md.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    batch_size: int = Field(32, ge=1)
    device: str = "cpu"


class SplitterSettings(_Section):
    # Measured in the embedder's own tokens; None means "the embedder's input limit", so no
    # chunk is silently truncated when it is embedded.
    chunk_size: int | None = Field(None, ge=16)
    chunk_overlap: int = Field(32, ge=0)


class RetrievalSettings(_Section):
    k: int = Field(5, ge=1)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    # Minimum cosine similarity between the question and a chunk, in [0, 1] (negative cosines are
    # reported as 0). 0 keeps everything; 0.3 drops clearly unrelated chunks for e5/MiniLM.
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    # Minimum calibrated relevance (`Hit.relevance`: the probability that a hit holds the answer,
    # kbqa/chain/calibration.py), read where it is measured (e5-small, hybrid) and ignored
    # elsewhere. 0 keeps everything; in the top 10 on eval/real tune, 0.1 keeps 76 % of the hits
    # that hold the answer and 20 % of the others (0.2: 66 % and 9 %).
    min_relevance: float = Field(0.0, ge=0.0, le=1.0)
    # Add this many neighbouring chunks on each side of a hit (same page and heading) to its
    # text. Off by default: on eval/real tune, 2 lifts hit@1 0.742 -> 0.783 (the hits are
    # longer) but quote answers fall 0.758 -> 0.742 (docs/benchmarks.md, "Fourteenth session").
    expand: int = Field(0, ge=0, le=5)
    # The second stage over the best `rerank_candidates` fused hits (kbqa/chain/rerank/):
    # "sentences" (the default: the embedder at sentence level over the best 5; hit@1 +0.05 on
    # eval/real tune, +0.03 on eval/dev, about +0.3 s a query on 2 cores: docs/benchmarks.md),
    # "none" (fused order), "terms" (lexical, no model; lowers eval/dev) or "cross-encoder" (a
    # sentence-transformers CrossEncoder named by `rerank_model`, e.g. BAAI/bge-reranker-v2-m3).
    rerank: str = "sentences"
    rerank_model: str | None = None
    rerank_candidates: int = Field(30, ge=1, le=200)


class LLMSettings(_Section):
    # A registry name ("smollm2-135m-instruct", "chatglm-6b", ...), a hub name, a local folder or
    # a .gguf file. The backend is inferred from it unless set.
    model: str = DEFAULT_LLM
    backend: str | None = None
    quantize: Literal["none", "int8", "int4", "nf4"] = "none"
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    context_length: int | None = Field(None, ge=128)
    threads: int | None = None
    # Run Python code shipped with a checkpoint (ChatGLM's modelling code): the operator's choice
    # only, never implied by a model's name or folder; off, such a folder is refused.
    trust_remote_code: bool = False
    # For the openai backend.
    base_url: str | None = None
    api_key: str | None = None


class ChainSettings(_Section):
    # The refusal cut-off: when no retrieved chunk reaches this cosine similarity the reply says
    # the knowledge base does not hold the answer, without calling the model. Tuned on the dev set
    # for multilingual-e5-small, which squeezes cosines into a high band (answerable questions'
    # best hits 0.846-0.96, unrelated ones 0.74-0.86; docs/bench/ask.md). Other embedders need
    # their own value (all-MiniLM-L6-v2 spreads cosines over [0, 1]).
    min_similarity: float = Field(0.80, ge=0.0, le=1.0)
    # The same decision on the calibrated relevance where it is measured: refuse when the best
    # hit's `Hit.relevance` is below this. Off (0) by default: on eval/real tune, near misses'
    # best hits score 0.41-0.92, as high as answerable questions', so 0.5 would refuse 25 % of the
    # answerable questions and no more near misses than the name rule (docs/benchmarks.md).
    min_relevance: float = Field(0.0, ge=0.0, le=1.0)
    # Folder of user prompt templates that override the files in prompts/ of the same name.
    prompt_dir: Path | None = None
    # Rewrite follow-up questions into standalone ones: "auto" uses the model when it is
    # capable and history-aware retrieval otherwise.
    rewrite: Literal["auto", "llm", "history", "off"] = "auto"
    max_history_turns: int = Field(8, ge=0)
    # How many passages a small model's reply quotes: the one that answers best, then the best of
    # each other retrieved chunk of the same document (kbqa/chain/extract.py). 1 quotes one.
    quotes: int = Field(2, ge=1, le=5)
    # Refuse an English question that opens a conversation when its best passages make it no
    # likelier under a small model: mean pointwise mutual information per question token
    # (kbqa/chain/support.py) below this. Measured for SmolLM2-135M on eval/real tune and
    # tune-extra; 0 turns it off.
    min_support: float = Field(1.75, ge=0.0)


class UISettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(7860, ge=0, le=65535)
    auth: str | None = None  # "user:password"
    # Login throttle (kbqa.service.access.LoginThrottle): after login_attempts failures within
    # login_window_s for a user name or client, logins are refused for login_backoff_s seconds,
    # doubling with each further failure up to login_backoff_max_s; a success resets.
    login_attempts: int = Field(5, ge=1)
    login_window_s: float = Field(300.0, gt=0)
    login_backoff_s: float = Field(1.0, gt=0)
    login_backoff_max_s: float = Field(60.0, gt=0)
    # Models a session may switch to, besides the catalog's and the configured one (registry
    # names, hub names, folders, .gguf files): a session never names a path the operator did not
    # allow. "*" allows any (for a UI only you reach).
    allowed_models: list[str] = Field(default_factory=list)
    max_upload_mb: int = Field(200, ge=1)
    concurrency_limit: int = Field(1, ge=1)


class ServeSettings(_Section):
    """`kbqa serve` (kbqa/server): any host but loopback requires a token. Prefer the
    environment (KBQA_SERVE__TOKEN) to --token, which other users can read in the process list."""

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: str | None = None


class StoreSettings(_Section):
    # The storage backends of a new knowledge base, by their registered names
    # (kbqa/store/factory.py); an existing base keeps the ones its manifest names.
    records: str = "sqlite"
    dense: str = "faiss"
    lexical: str = "fts5"
    # Where a new base's records live: "" for its own folder (the three names above), or a
    # server: postgresql://user@host:5432/db (PostgreSQL + pgvector) or milvus://host:19530 /
    # milvus:///path/file.db (Milvus, Milvus Lite); the URI's scheme picks all three backends
    # (kbqa/store/factory.py). Kept without its password (kbqa/store/remote.py). Env:
    # KBQA_STORE__URI, KBQA_STORE_PASSWORD.
    uri: str = ""


class IngestSettings(_Section):
    """Per-file limits on reading a document (issue 11): a file over one is refused by name, with
    the limit, and the rest of the batch goes on.

    The defaults let ordinary large manuals through: a 5,000-page PDF, a 50 MiB plain-text file,
    a 40 MiB HTML page (read and split in at most 0.5 GB, reader and main process together;
    docs/benchmarks.md, "Per-file limits and memory"). What they stop: a small file that inflates
    to gigabytes (a PDF content stream or a .docx of 1 GB of text), or a file whose parsing runs
    away in time or memory. Env: KBQA_INGEST__MAX_CHARS, __MAX_PAGES, __MAX_INFLATED_MB,
    __MAX_SECONDS, __MAX_MEMORY_MB, __OCR, __WORKER.
    """

    # Characters of text one file may yield (a 50 MiB ASCII .txt is 52 million; a dense manual
    # holds ~3,000 a page, so a 5,000-page one 15 million).
    max_chars: int = Field(64_000_000, ge=1_000)
    # Pages of one PDF.
    max_pages: int = Field(5_000, ge=1)
    # Bytes the compressed parts of one file may inflate to, in MB: a PDF's streams other than
    # images, a .docx's ZIP members. Checked before parsing, so a bomb costs a second, not 8 GB.
    max_inflated_mb: int = Field(512, ge=1)
    # Wall-clock seconds to read one file; the reader process is killed past it.
    max_seconds: float = Field(300.0, gt=0)
    # Address space of the reader process in MB (RLIMIT_AS; Python, PDFium and lxml included).
    max_memory_mb: int = Field(2_048, ge=256)
    # Read pages without a text layer (scans) and image files by OCR (kbqa/loaders/ocr.py).
    # Off: such PDF pages are skipped ("no extractable text (scanned? needs OCR)") and image
    # files refused. Env KBQA_INGEST__OCR; `kbqa ingest --no-ocr`.
    ocr: bool = True
    # Keep tables as tables (rows under their header) in PDF, HTML and DOCX files. Off: their
    # cells read as text, as before issue 9 (spreadsheets and CSV are tables either way).
    # Env KBQA_INGEST__TABLES.
    tables: bool = True
    # Read files in a separate reader process (kbqa/loaders/worker.py), where the time and memory
    # limits hold without taking the main process (or the UI server) down, and the main process's
    # threads keep running meanwhile. Off: read in-process, with only the size limits above.
    worker: bool = True


class Settings(_Section):
    home: Path = Field(default_factory=default_home)
    kb: str = "default"
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    splitter: SplitterSettings = Field(default_factory=SplitterSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    chain: ChainSettings = Field(default_factory=ChainSettings)
    ui: UISettings = Field(default_factory=UISettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)

    @property
    def kb_root(self) -> Path:
        return self.home / "kb"

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        overrides: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> Settings:
        """Merge defaults, `config.toml`, `KBQA_*` variables and `overrides` (dotted keys allowed)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        if "KBQA_HOME" in env:
            data["home"] = env["KBQA_HOME"]
        home = Path(data.get("home") or default_home()).expanduser()
        path = config_file or env.get("KBQA_CONFIG") or home / "config.toml"
        path = Path(path).expanduser()
        if path.is_file():
            with path.open("rb") as handle:
                _merge(data, tomllib.load(handle))
        elif config_file:
            raise FileNotFoundError(f"config file not found: {path}")
        for key, value in env.items():
            if not key.startswith("KBQA_"):
                continue
            dotted = key[len("KBQA_") :].lower().replace("__", ".")
            # Only settings fields: other KBQA_* variables (KBQA_CONFIG, KBQA_SAMPLE_DIR, ...)
            # belong to other parts of kbqa and must not make loading fail.
            if dotted.split(".")[0] in cls.model_fields:
                _merge(data, _nest(dotted, value))
        for key, value in (overrides or {}).items():
            if value is not None:
                _merge(data, _nest(key, value))
        return cls.model_validate(data)


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    return {head: _nest(rest, value) if rest else value}


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
