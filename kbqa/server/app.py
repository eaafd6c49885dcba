"""The FastAPI app of `kbqa serve`: one `kbqa.service.Service` built at start-up and closed at
shut-down, the routers, the error handlers, the body limit. The spec is at /openapi.json.

    app = create_app(Settings.load(), token="secret")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from kbqa.server import errors
from kbqa.server.jobs import Jobs
from kbqa.server.limits import BodyLimit
from kbqa.server.schemas import Health
from kbqa.server.state import ServerState
from kbqa.service import Service
from kbqa.service.uploads import MIB

if TYPE_CHECKING:
    from kbqa.settings import Settings

DESCRIPTION = """\
kbqa's REST API: ask your knowledge bases through OpenAI's chat API, manage them, upload files.

- `POST /v1/chat/completions`: `model` = `"kb:NAME"` (or the extra `kb` field) picks the knowledge
  base; `messages` carry the conversation; `stream: true` streams `chat.completion.chunk` events
  ending in `data: [DONE]`. The cited passages come in the extra `sources` field (on the
  completion, on the stream's last chunk), the answer's metadata in `kbqa`.
- Uploads are ingested in the background: `POST /v1/kbs/{name}/files` answers 202 with a job;
  poll `GET /v1/jobs/{id}` (or pass `?wait=true`).
- Every /v1 route needs `Authorization: Bearer TOKEN` when the server has a token. Errors are
  `{"error": {"message", "type", "code", "param"}}` with a 4xx status.
"""


def create_app(
    settings: Settings,
    *,
    token: str | None = None,
    service: Service | None = None,
    preload: bool = True,
) -> FastAPI:
    """The app over `service` (default: a new `Service(settings)`, closed with the app).
    `token`: the bearer token every /v1 request must carry (None: none). `preload` starts
    loading the configured model when the server starts."""
    from kbqa.server import kbs, openai_api

    owned = service is None
    service = service or Service(settings)
    state = ServerState(service=service, token=token, jobs=Jobs(service))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if preload:
            service.preload(settings)
        yield
        state.jobs.close()
        if owned:
            service.close()

    app = FastAPI(
        title="kbqa",
        description=DESCRIPTION,
        version=_version(),
        lifespan=lifespan,
        responses=errors.ERROR_RESPONSES,
    )
    app.state.kbqa = state
    errors.install(app)
    app.include_router(openai_api.router)
    app.include_router(kbs.router)

    @app.get("/health", response_model=Health, tags=["server"])
    async def health() -> dict[str, Any]:
        """Liveness, and the models loaded or loading (no token needed). On the event loop, not
        the thread pool: it answers while every worker thread waits for the model."""
        return {
            "status": "ok",
            "models": [
                {"model": s.model, "state": s.state, "backend": s.backend}
                for s in service.models.status()
            ],
        }

    # Each file is held to ui.max_upload_mb by the service; a request's body to that plus room
    # for the multipart framing of a few files.
    app.add_middleware(BodyLimit, max_bytes=settings.ui.max_upload_mb * MIB + MIB)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kbqa")
    except PackageNotFoundError:
        return "0"
