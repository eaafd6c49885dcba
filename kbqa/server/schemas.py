"""The wire shapes of `kbqa serve`: OpenAI-compatible requests and responses, and the
knowledge-base endpoints' data. Pydantic models only (they make the OpenAPI spec); no logic.

Extra fields kbqa adds to OpenAI shapes (documented in the spec):
- request `kb`: the knowledge base, when `model` is not "kb:NAME";
- response `sources` (on a completion, and on the last chunk of a stream): the passages the
  answer cites, each with file, page, passage, score and relevance;
- response `kbqa`: the answer's metadata (refused, the retrieval query, language, timings).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
#: a knowledge base's name, as kbqa.knowledge_base accepts it (no "..", at most 64 characters)
KB_NAME_PATTERN = r"^\w[\w\-]*(?:\.[\w\-]+)*\.?$"
KBName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=KB_NAME_PATTERN)]

# -- errors ----------------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(
        description="invalid_request_error, authentication_error, not_found_error, ..."
    )
    code: str = Field(description="kbqa's stable error code (kbqa.service.errors)")
    param: str | None = None


class ErrorResponse(BaseModel):
    """Every error, OpenAI's shape: `{"error": {"message", "type", "code", "param"}}`."""

    error: ErrorDetail


# -- chat completions ------------------------------------------------------------------------------


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat request. The last message is the question (role "user"); the earlier user
    and assistant messages are the conversation so far (system messages are ignored: the
    server's prompts decide). The model that answers is the server's (`llm.model`); `model`
    names the knowledge base."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        min_length=1,
        max_length=200,
        description='"kb:NAME" asks knowledge base NAME; any other name asks the `kb` field\'s '
        "base, else the server's default knowledge base",
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    kb: str | None = Field(None, min_length=1, max_length=200, description="kbqa: knowledge base")
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(None, ge=1, le=4096)
    n: int | None = Field(None, ge=1, le=1, description="only 1")
    k: int | None = Field(None, ge=1, le=50, description="kbqa: passages retrieved")


class Source(BaseModel):
    """A passage an answer cites."""

    number: int = Field(description="the [n] the answer uses")
    file: str
    page: int | None
    passage: str
    score: float = Field(description="cosine similarity to the query, in [0, 1]")
    relevance: float | None = Field(None, description="estimated chance it holds the answer")
    kind: str = "text"
    table: str | None = None
    quote: str = Field("", description="the sentence the answer quotes from the passage")


class AnswerInfo(BaseModel):
    refused: bool = Field(description="the knowledge base did not hold the answer")
    kb: str
    query: str = Field(description="the standalone query retrieval used")
    language: str
    cited: list[int]
    timings: dict[str, float]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int = Field(description="the prompt, in the model's tokens")
    completion_tokens: int = Field(description="pieces of the reply as streamed (about tokens)")
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[Source] = Field(description="kbqa: the passages the answer cites")
    kbqa: AnswerInfo


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (`data: {...}`); the stream ends with
    `data: [DONE]`. The last chunk before it has `finish_reason` and kbqa's `sources`."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    sources: list[Source] | None = None
    kbqa: AnswerInfo | None = None


# -- models ----------------------------------------------------------------------------------------


class ModelCard(BaseModel):
    id: str = Field(description='"kb:NAME"')
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "kbqa"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- embeddings ------------------------------------------------------------------------------------


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: NonEmpty | Annotated[list[NonEmpty], Field(min_length=1, max_length=2048)] = Field(
        description="a text or up to 2048 texts (not token arrays)"
    )
    model: str = Field(
        min_length=1,
        max_length=200,
        description='"kb:NAME": that knowledge base\'s embedder; any other name: the '
        "server's configured embedder",
    )
    encoding_format: Literal["float", "base64"] = "float"
    input_type: Literal["document", "query"] = Field(
        "document", description="kbqa: embed as passages (default) or as search queries"
    )
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="floats, or base64 of little-endian float32")


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


# -- knowledge bases -------------------------------------------------------------------------------


class KBCreate(BaseModel):
    name: KBName


class KBInfoOut(BaseModel):
    name: str
    files: int
    chunks: int
    path: str
    manifest: dict[str, Any]


class KBList(BaseModel):
    data: list[KBInfoOut]


class FileOut(BaseModel):
    doc: str
    source: str
    sha256: str
    size: int
    pages: int | None
    chunks: int
    added_at: float


class FileList(BaseModel):
    data: list[FileOut]


class FileResultOut(BaseModel):
    """What became of one uploaded file (kbqa.service.FileResult)."""

    name: str
    stored_as: str
    status: Literal["added", "updated", "unchanged", "failed", "rejected"]
    code: str
    detail: str
    params: dict[str, Any]
    chunks: int | None


class Job(BaseModel):
    """An upload's ingestion, run in the background: poll `GET /v1/jobs/{id}` until `status`
    is "done" or "failed"."""

    id: str
    kb: str
    status: Literal["queued", "running", "done", "failed"]
    files: list[str]
    created: float
    started: float | None = None
    finished: float | None = None
    results: list[FileResultOut] = Field(default_factory=list)
    error: ErrorDetail | None = None


class JobList(BaseModel):
    data: list[Job]


class Removed(BaseModel):
    doc: str
    removed_chunks: int


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(None, ge=1, le=100)
    mode: Literal["hybrid", "dense", "bm25"] | None = None
    threshold: float | None = Field(None, ge=0.0, le=1.0)
    sources: list[str] | None = Field(None, description="only these files")


class HitOut(BaseModel):
    text: str
    source: str
    page: int | None
    score: float
    relevance: float | None
    path: str
    position: int
    heading: str | None
    chunk_id: str
    kind: str
    table: str | None


class SearchResponse(BaseModel):
    query: str
    kb: str
    hits: list[HitOut]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    models: list[dict[str, Any]]
