"""Knowledge-base routes: list, create, show; files (list, upload, remove); search; upload jobs.

Uploads go through `Service.upload` (the web app's checks: safe names, types the loaders read,
content that matches its extension, `ui.max_upload_mb` per file) in a background job: the
request answers 202 with the job at once, `GET /v1/jobs/{id}` says how it went (`?wait=true`
waits for it instead).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from kbqa.server.auth import require_token
from kbqa.server.errors import APIError
from kbqa.server.schemas import (
    KB_NAME_PATTERN,
    FileList,
    Job,
    JobList,
    KBCreate,
    KBInfoOut,
    KBList,
    Removed,
    SearchRequest,
    SearchResponse,
)

if TYPE_CHECKING:
    from kbqa.server.state import ServerState

KBPath = Annotated[
    str,
    PathParam(min_length=1, max_length=64, pattern=KB_NAME_PATTERN, description="knowledge base"),
]

router = APIRouter(prefix="/v1", dependencies=[Depends(require_token)], tags=["knowledge bases"])

MAX_FILES = 100  # per upload request
COPY_CHUNK = 1024 * 1024


def _state(request: Request) -> ServerState:
    return request.app.state.kbqa


def _info(state: ServerState, name: str) -> dict[str, Any]:
    return asdict(state.service.kbs.info(name))


@router.get("/kbs", response_model=KBList)
def list_kbs(request: Request) -> dict[str, Any]:
    state = _state(request)
    return {"data": [_info(state, name) for name in state.service.kbs.names()]}


@router.post("/kbs", response_model=KBInfoOut, status_code=201)
def create_kb(body: KBCreate, request: Request) -> dict[str, Any]:
    """A new, empty knowledge base (409 when the name is taken)."""
    state = _state(request)
    state.service.kbs.create(body.name)
    return _info(state, body.name)


@router.get("/kbs/{name}", response_model=KBInfoOut)
def get_kb(name: KBPath, request: Request) -> dict[str, Any]:
    return _info(_state(request), name)


@router.get("/kbs/{name}/files", response_model=FileList)
def list_files(name: KBPath, request: Request) -> dict[str, Any]:
    state = _state(request)
    records = state.service.kbs.open(name).files()
    return {
        "data": [
            {
                "doc": r.doc,
                "source": r.source,
                "sha256": r.sha256,
                "size": r.size,
                "pages": r.pages,
                "chunks": r.chunks,
                "added_at": r.added_at,
            }
            for r in records
        ]
    }


@router.post(
    "/kbs/{name}/files",
    response_model=Job,
    status_code=202,
    responses={200: {"model": Job, "description": "with ?wait=true: the finished job"}},
)
def upload_files(
    name: KBPath,
    request: Request,
    files: Annotated[list[UploadFile], File(description="the files (multipart field `files`)")],
    wait: Annotated[bool, Query(description="answer when ingestion has finished")] = False,
) -> Any:
    """Upload files into knowledge base `name` and ingest them in the background; each file is
    checked as the web app checks it (its result says added, updated, unchanged, rejected or
    failed, and why)."""
    state = _state(request)
    state.service.kbs.open(name)  # 404 for a missing base before anything is stored
    if not files:
        raise APIError(400, "invalid_request", "no files in the request", param="files")
    if len(files) > MAX_FILES:
        raise APIError(
            400, "invalid_request", f"at most {MAX_FILES} files per request", param="files"
        )
    folder = Path(tempfile.mkdtemp(prefix="kbqa-upload-"))
    try:
        uploads = []
        for index, upload in enumerate(files):
            original = (upload.filename or "").strip() or f"upload-{index}"
            temp = folder / f"{index}"
            with temp.open("wb") as handle:
                shutil.copyfileobj(upload.file, handle, COPY_CHUNK)
            uploads.append((original, temp))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    job = state.jobs.submit(name, uploads, folder)
    if wait:
        done = state.jobs.wait(job.id)
        return JSONResponse((done or job).to_json(), status_code=200)
    return job.to_json()


@router.delete("/kbs/{name}/files/{doc:path}", response_model=Removed)
def remove_file(name: KBPath, doc: str, request: Request) -> dict[str, Any]:
    """Remove document `doc` (as listed by GET /v1/kbs/{name}/files) and its chunks."""
    state = _state(request)
    base = state.service.kbs.open(name)
    if not any(record.doc == doc for record in base.files()):
        raise APIError(404, "file_not_found", f"knowledge base {name!r} holds no file {doc!r}")
    removed = state.service.remove_file(doc, kb=name)
    return {"doc": doc, "removed_chunks": removed}


@router.post("/kbs/{name}/search", response_model=SearchResponse)
def search(name: KBPath, body: SearchRequest, request: Request) -> dict[str, Any]:
    """The best passages for `query` (hybrid, dense or BM25), with their scores."""
    state = _state(request)
    settings = state.settings
    update: dict[str, Any] = {}
    if body.k is not None:
        update["k"] = body.k
    if body.threshold is not None:
        update["threshold"] = body.threshold
    if update:
        settings = settings.model_copy(
            update={"retrieval": settings.retrieval.model_copy(update=update)}
        )
    hits = state.service.search(
        body.query, kb=name, settings=settings, mode=body.mode, sources=body.sources
    )
    return {"query": body.query, "kb": name, "hits": [hit.to_json() for hit in hits]}


@router.get("/jobs", response_model=JobList)
def list_jobs(request: Request) -> dict[str, Any]:
    """Upload jobs, newest first (kept in memory: a restart forgets them)."""
    return {"data": [job.to_json() for job in _state(request).jobs.list()]}


@router.get("/jobs/{job_id}", response_model=Job)
def get_job(job_id: str, request: Request) -> dict[str, Any]:
    job = _state(request).jobs.get(job_id)
    if job is None:
        raise APIError(404, "job_not_found", f"no upload job {job_id!r}")
    return job.to_json()
