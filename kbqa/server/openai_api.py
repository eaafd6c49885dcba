"""OpenAI-compatible routes: `POST /v1/chat/completions` (streamed or not), `GET /v1/models`,
`POST /v1/embeddings`. Thin: the service answers (`Service.stream` with the request's messages
as the history; it leases the model), these routes only translate shapes."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from kbqa.chain.conversation import END_OF_REPLY
from kbqa.server import sse
from kbqa.server.auth import require_token
from kbqa.server.errors import APIError, error_body, from_exception
from kbqa.server.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    EmbeddingList,
    EmbeddingRequest,
    ModelCard,
    ModelList,
)

if TYPE_CHECKING:
    from kbqa.chain.types import Answer
    from kbqa.server.state import ServerState
    from kbqa.settings import Settings

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["openai"])

KB_PREFIX = "kb:"
MAX_QUESTION_CHARS = 32_000
MAX_EMBEDDING_INPUTS = 2048
MAX_EMBEDDING_CHARS = 4_000_000  # all inputs of one request together


def _state(request: Request) -> ServerState:
    return request.app.state.kbqa


def kb_name(model: str, kb: str | None, settings: Settings) -> str:
    """The knowledge base a request names: "kb:NAME", else its `kb` field, else the default."""
    if model.startswith(KB_PREFIX):
        name = model[len(KB_PREFIX) :].strip()
        if not name:
            raise APIError(
                400, "invalid_request", 'model "kb:" names no knowledge base', param="model"
            )
        return name
    return kb or settings.kb


# -- chat ------------------------------------------------------------------------------------------


def _request_settings(base: Settings, body: ChatCompletionRequest) -> Settings:
    """The server's settings with this request's generation and retrieval choices."""
    llm: dict[str, Any] = {}
    if body.temperature is not None:
        llm["temperature"] = body.temperature
    if body.top_p is not None:
        llm["top_p"] = body.top_p
    max_new = body.max_completion_tokens or body.max_tokens
    if max_new is not None:
        llm["max_new_tokens"] = max_new
    update: dict[str, Any] = {}
    if llm:
        update["llm"] = base.llm.model_copy(update=llm)
    if body.k is not None:
        update["retrieval"] = base.retrieval.model_copy(update={"k": body.k})
    return base.model_copy(update=update) if update else base


def _question_and_history(body: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    turns = [
        {"role": m.role, "content": m.text()}
        for m in body.messages
        if m.role in {"user", "assistant"}
    ]
    if not turns or turns[-1]["role"] != "user":
        raise APIError(
            400, "invalid_request", "the last message must be the user's question", param="messages"
        )
    question = turns[-1]["content"].strip()
    if not question:
        raise APIError(400, "invalid_request", "the question is empty", param="messages")
    if len(question) > MAX_QUESTION_CHARS:
        raise APIError(
            400,
            "invalid_request",
            f"the question is too long ({len(question)} characters; at most {MAX_QUESTION_CHARS})",
            param="messages",
        )
    return question, turns[:-1]


def sources(answer: Answer) -> list[dict[str, Any]]:
    """The passages the answer cites (all offered ones when it cites none), with the retrieved
    hit's relevance where one matches."""

    def relevance(citation: Any) -> float | None:
        for hit in answer.hits:
            same_place = hit.source == citation.source and hit.page == citation.page
            if same_place and (citation.text in hit.text or hit.text in citation.text):
                return None if hit.relevance is None else round(float(hit.relevance), 4)
        return None

    return [
        {
            "number": c.number,
            "file": c.path or c.source,
            "page": c.page,
            "passage": c.text,
            "score": round(float(c.score), 4),
            "relevance": relevance(c),
            "kind": c.kind,
            "table": c.table,
            "quote": c.quote,
        }
        for c in answer.sources
    ]


def _info(answer: Answer, kb: str) -> dict[str, Any]:
    return {
        "refused": answer.refused,
        "kb": kb,
        "query": answer.query,
        "language": answer.language,
        "cited": list(answer.cited),
        "timings": {key: round(value, 4) for key, value in answer.timings.items()},
    }


def _usage(answer: Answer, completion_tokens: int) -> dict[str, int]:
    prompt = int(answer.prompt_tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _pieces(events: Iterator[Any]) -> Iterator[tuple[str, Answer | None]]:
    """(text, None) per streamed piece, as it comes, then ("", answer). The chain's closing
    newline (a token of its own just before "done") is dropped, so the pieces add up to the
    answer's text: a bare newline is held until something follows it."""
    held = ""
    for event in events:
        if event.kind == "token":
            if event.text == END_OF_REPLY:
                held += event.text
                continue
            yield held + event.text, None
            held = ""
        elif event.kind == "done":
            yield "", event.answer
            return


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "the answer; with `stream: true`, server-sent `chat.completion.chunk`"
            " events ending in `data: [DONE]`",
            "content": {
                "text/event-stream": {
                    "schema": {"type": "string", "description": "SSE; see ChatCompletionChunk"}
                }
            },
        }
    },
)
def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    """Answer the last user message from a knowledge base, the earlier messages as the
    conversation so far."""
    state = _state(request)
    service = state.service
    name = kb_name(body.model, body.kb, service.settings)
    question, history = _question_and_history(body)
    settings = _request_settings(service.settings, body)
    service.kbs.open(name)  # a missing base is a 404 now, not an error inside the stream
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    events = service.stream(question, kb=name, history=history, settings=settings)
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = _chunks(events, completion_id, created, body.model, name, include_usage)
        return StreamingResponse(
            sse.from_thread(lambda: sse.stream(chunks)),
            media_type=sse.MEDIA_TYPE,
            headers=sse.HEADERS,
        )
    count = 0
    answer = None
    try:
        for text, done in _pieces(events):
            if done is not None:
                answer = done
            elif text:
                count += 1
    finally:
        events.close()
    if answer is None:
        raise APIError(500, "internal", "the answer ended without a result")
    return {
        "id": completion_id,
        "created": created,
        "model": body.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text},
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(answer, count),
        "sources": sources(answer),
        "kbqa": _info(answer, name),
    }


def _chunks(
    events: Iterator[Any],
    completion_id: str,
    created: int,
    model: str,
    kb: str,
    include_usage: bool,
) -> Iterator[dict[str, Any] | ChatCompletionChunk]:
    def chunk(delta: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": extra.pop("finish", None)}],
            **extra,
        }

    count = 0
    try:
        yield chunk({"role": "assistant", "content": ""})
        for text, answer in _pieces(events):
            if answer is None:
                if text:
                    count += 1
                    yield chunk({"content": text})
                continue
            yield chunk(
                {},
                finish="stop",
                sources=sources(answer),
                kbqa=_info(answer, kb),
                usage=_usage(answer, count) if include_usage else None,
            )
    except Exception as exc:  # headers are sent: the error goes in the stream
        api = from_exception(exc)
        yield error_body(api.status, api.code, api.message)
    finally:
        events.close()


# -- models ----------------------------------------------------------------------------------------


def _model_ids(state: ServerState) -> list[str]:
    from kbqa.sample import SAMPLE_KB

    names = set(state.service.kbs.names())
    if state.settings.kb == SAMPLE_KB:
        names.add(SAMPLE_KB)  # built from the bundled documents on first use
    return [f"{KB_PREFIX}{name}" for name in sorted(names)]


@router.get("/models", response_model=ModelList)
def list_models(request: Request) -> dict[str, Any]:
    """One model per knowledge base, `kb:NAME`: the server's model answering from it."""
    created = int(time.time())
    return {
        "object": "list",
        "data": [{"id": i, "created": created} for i in _model_ids(_state(request))],
    }


@router.get("/models/{model_id}", response_model=ModelCard)
def get_model(model_id: str, request: Request) -> dict[str, Any]:
    if model_id not in _model_ids(_state(request)):
        raise APIError(404, "model_not_found", f"no model {model_id!r}; see GET /v1/models")
    return {"id": model_id, "created": int(time.time())}


# -- embeddings ------------------------------------------------------------------------------------


@router.post("/embeddings", response_model=EmbeddingList)
def embeddings(body: EmbeddingRequest, request: Request) -> dict[str, Any]:
    """Vectors from a knowledge base's embedder (`model` = "kb:NAME") or the configured one."""
    state = _state(request)
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise APIError(400, "invalid_request", "input is empty", param="input")
    if len(texts) > MAX_EMBEDDING_INPUTS:
        raise APIError(
            400,
            "invalid_request",
            f"at most {MAX_EMBEDDING_INPUTS} inputs per request",
            param="input",
        )
    if sum(len(text) for text in texts) > MAX_EMBEDDING_CHARS:
        raise APIError(400, "invalid_request", "input too long", param="input")
    if body.model.startswith(KB_PREFIX):
        embedder = state.service.kbs.open(kb_name(body.model, None, state.settings)).embedder
    else:
        embedder = state.embedder()
    if body.input_type == "query":
        vectors = np.stack([embedder.encode_query(text) for text in texts])
    else:
        vectors = embedder.encode_documents(texts)
    vectors = np.asarray(vectors, dtype="<f4")
    tokens = int(sum(embedder.count_tokens(texts)))
    data = []
    for index, vector in enumerate(vectors):
        if body.encoding_format == "base64":
            value: Any = base64.b64encode(vector.tobytes()).decode("ascii")
        else:
            value = [float(x) for x in vector]
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {
        "object": "list",
        "data": data,
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
