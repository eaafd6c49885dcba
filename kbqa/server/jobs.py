"""Upload ingestion as background jobs: a request hands over its files and gets a job id at once
(202); `GET /v1/jobs/{id}` says queued, running, done (with one result per file) or failed.

One worker thread runs the jobs in order (ingestion is CPU-bound; the service serialises writes
to a base anyway). Jobs live in memory, the newest `keep` of them; a restart forgets them (the
files a finished job ingested stay in the knowledge base). The temporary copies of the uploads
are deleted when the job ends.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kbqa.server.errors import error_type, from_exception

if TYPE_CHECKING:
    from kbqa.service import Service


@dataclass
class JobState:
    id: str
    kb: str
    files: list[str]
    created: float = field(default_factory=time.time)
    status: str = "queued"
    started: float | None = None
    finished: float | None = None
    results: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Jobs:
    def __init__(self, service: Service, *, keep: int = 1000) -> None:
        self.service = service
        self.keep = keep
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, JobState] = OrderedDict()
        self._futures: dict[str, Future] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kbqa-ingest")

    def submit(self, kb: str, uploads: list[tuple[str, Path]], folder: Path) -> JobState:
        """Ingest `uploads` ((name as uploaded, temporary file)) into `kb`; `folder` (holding
        the temporary files) is deleted when the job ends."""
        job = JobState(id=uuid.uuid4().hex, kb=kb, files=[name for name, _ in uploads])
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self.keep:
                oldest, state = next(iter(self._jobs.items()))
                if state.status in {"queued", "running"}:
                    break
                del self._jobs[oldest]
                self._futures.pop(oldest, None)
            self._futures[job.id] = self._pool.submit(self._run, job, uploads, folder)
        return job

    def _run(self, job: JobState, uploads: list[tuple[str, Path]], folder: Path) -> None:
        job.started = time.time()
        job.status = "running"
        try:
            report = self.service.upload(uploads, kb=job.kb)
            job.results = [asdict(result) for result in report.results]
            job.status = "done"
        except BaseException as exc:  # the job reports it; the worker goes on
            api = from_exception(exc)
            job.error = {
                "message": api.message,
                "type": error_type(api.status),
                "code": api.code,
                "param": None,
            }
            job.status = "failed"
        finally:
            job.finished = time.time()
            shutil.rmtree(folder, ignore_errors=True)

    def get(self, job_id: str) -> JobState | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[JobState]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def wait(self, job_id: str, timeout: float | None = None) -> JobState | None:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout)
        return self.get(job_id)

    def close(self) -> None:
        """Finish the queued jobs, then stop the worker."""
        self._pool.shutdown(wait=True)
