"""`kbqa serve`: a FastAPI server over the service layer, with an OpenAI-compatible API.

One responsibility per module:
    app.py         create_app(settings, token=) -> FastAPI: one `Service`, routers, handlers
    state.py       ServerState: what the handlers share (service, token, jobs, embedder)
    run.py         serve(settings, host=, port=, token=): the binding check, then uvicorn
    auth.py        the bearer-token dependency (constant-time comparison)
    openai_api.py  /v1/chat/completions (SSE with `stream`), /v1/models, /v1/embeddings
    kbs.py         /v1/kbs (list, create, files, upload, remove, search), /v1/jobs (ingestion)
    jobs.py        background ingestion of uploads, one worker
    sse.py         server-sent events as OpenAI streams them
    errors.py      every error as `{"error": {"message", "type", "code", "param"}}`, 4xx
    limits.py      the request-body size limit (413)
    schemas.py     the wire shapes (pydantic): what /openapi.json documents

Beside `kbqa.ui` over `kbqa.service`; imports FastAPI, so nothing below imports it.
"""

from __future__ import annotations
