"""The reader process: documents are read in a separate Python process, under limits.

`LoadWorker(limits)` starts `python -m kbqa.loaders.worker` on its first file and keeps it for
the next ones (one per ingest run; `close()` ends it). In that process the address space is
capped at `limits.max_memory_mb` (RLIMIT_AS), so a file that needs more fails there, not in the
main process; the main process waits for each reply at most `limits.max_seconds` and kills the
reader past it. Either way the file becomes a LoaderError that names the limit, and the next file
gets a fresh reader. While it waits the main process holds no lock and no GIL, so its other
threads (the UI's other sessions) keep running.

OCR (kbqa/loaders/ocr.py) reports each page it reads as a progress message before the reply,
{"progress": [done, total]}; each one starts the time limit again for the next page (a page is
bounded by the pixel limit, a file by ingest.max_pages).

The protocol is in-memory only: a JSON line per request on the reader's stdin; per message an
8-byte length and JSON on its stdout (plain lists and strings: nothing the main process
unpickles, so a reader subverted by a hostile file cannot run code in the main process). The reader imports only
the loaders (no torch, no embedder, no pydantic).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, BinaryIO

from kbqa.errors import LoaderError, UnsupportedFormat
from kbqa.loaders._limits import memory_message, time_message
from kbqa.types import Section

_HEADER = struct.Struct(">Q")
_READ_STEP = 1 << 20
# The fields of IngestSettings the reader needs.
_FIELDS = (
    "max_chars",
    "max_pages",
    "max_inflated_mb",
    "max_seconds",
    "max_memory_mb",
    "ocr",
    "tables",
)
# A reader whose address space grew past this share of its limit (Python keeps freed memory
# mapped in part) is replaced after its reply, so the next file gets the whole limit.
_RECYCLE_SHARE = 0.5
# Seconds the reader may take to start (a loaded machine, a cold disk).
_START_SECONDS = 60.0


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class LoadWorker:
    """A reader process for one batch of files; use as a context manager or call close()."""

    def __init__(self, limits: Any) -> None:
        self.limits = limits
        self._fields = {name: getattr(limits, name) for name in _FIELDS}
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.starts = 0  # reader processes started so far
        self.reader_peak_mb = 0.0  # the reader's peak RSS so far, as of its last reply

    def __enter__(self) -> LoadWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(
        self, path: str | os.PathLike[str], progress: Callable[[int, int], None] | None = None
    ) -> list[Section]:
        """The file's Sections, read in the reader process (LoaderError on any failure).

        `progress(done, total)` hears of each page the reader OCRs (kbqa/loaders/ocr.py)."""
        with self._lock:
            reply = self._request({"path": str(Path(path).absolute())}, progress)
        if "error" in reply:
            kind = UnsupportedFormat if reply.get("unsupported") else LoaderError
            raise kind(reply["error"])
        return [Section.from_json(data) for data in reply["sections"]]

    def modules(self) -> list[str]:
        """Top-level modules imported in the reader (to check it stays lean)."""
        with self._lock:
            return self._request({"modules": True})["modules"]

    def close(self) -> None:
        with self._lock:
            self._stop()

    # -- the process -------------------------------------------------------------------------

    def _request(
        self, request: dict[str, Any], progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        process = self._start()
        seconds = float(self.limits.max_seconds)
        deadline = time.monotonic() + seconds
        try:
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(json.dumps(request).encode("ascii") + b"\n")
            process.stdin.flush()
            while True:
                (size,) = _HEADER.unpack(_read(process.stdout, _HEADER.size, deadline))
                reply = json.loads(_read(process.stdout, size, deadline))
                if "progress" not in reply:
                    break
                # A page OCR'd (seconds each): the reader is working, not stuck, so the time
                # limit starts again for the next page. A file is still bounded: by its pages
                # (ingest.max_pages) times the limit, and each page by the pixel limit.
                deadline = time.monotonic() + seconds
                if progress is not None:
                    done, total = reply["progress"]
                    progress(int(done), int(total))
        except _Timeout:
            self._stop(kill=True)
            raise LoaderError(time_message(self.limits)) from None
        except (_Died, OSError, ValueError):
            code = self._stop(kill=True)
            raise LoaderError(self._death_message(code)) from None
        self.reader_peak_mb = reply.pop("peak_kb", 0) / 1024
        if reply.pop("recycle", False):
            self._stop()
        return reply

    def _death_message(self, code: int | None) -> str:
        if code is not None and code < 0:
            try:
                how = signal.Signals(-code).name
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit status {code}"
        # PDFium and lxml abort (or crash) when an allocation fails under the address-space cap;
        # nothing else is known to end the reader mid-file.
        return (
            f"needs more than {self.limits.max_memory_mb} MB to read, most likely "
            f"(ingest.max_memory_mb): the reader process stopped ({how})"
        )

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._process = None
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # glibc reserves a 64 MB heap per thread that allocates; onnxruntime's and OpenCV's
        # threads (OCR) took the address space of one page's OCR from 1.37 GB to 1.69 GB,
        # near the 2 GB cap. Two heaps cost PDFium and lxml nothing measurable.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        process = subprocess.Popen(
            [sys.executable, "-m", "kbqa.loaders.worker", json.dumps(self._fields)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
            close_fds=True,
        )
        self._process = process
        self.starts += 1
        # Its start-up (Python, the loaders, PDFium, lxml) is not the first file's time.
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + _START_SECONDS
            (size,) = _HEADER.unpack(_read(process.stdout, _HEADER.size, deadline))
            json.loads(_read(process.stdout, size, deadline))
        except (_Timeout, _Died, OSError, ValueError):
            code = self._stop(kill=True)
            raise LoaderError(f"the reader process did not start (exit status {code})") from None
        return process

    def _stop(self, *, kill: bool = False) -> int | None:
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            if kill:
                process.kill()
            elif process.stdin is not None:
                process.stdin.close()  # end of input: the reader exits
            try:
                return process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                return process.wait()
        finally:
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()


def _read(stream: BinaryIO, size: int, deadline: float) -> bytes:
    """Exactly `size` bytes from the reader, waiting (GIL released) until `deadline` at most."""
    fd = stream.fileno()
    out = bytearray()
    while len(out) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            raise _Timeout
        block = os.read(fd, min(_READ_STEP, size - len(out)))
        if not block:
            raise _Died
        out += block
    return bytes(out)


# -- inside the reader process ---------------------------------------------------------------


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _peak_rss_kb() -> int:
    # VmHWM, not ru_maxrss: that one keeps the parent's peak across fork and exec.
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _watch_parent(parent: int) -> None:
    # A reader whose main process is gone stops at once, even in the middle of a file.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(3)


def _send(replies: BinaryIO, data: bytes) -> None:
    replies.write(_HEADER.pack(len(data)))
    replies.write(data)
    replies.flush()


def main(argv: list[str]) -> int:
    import resource

    limits = SimpleNamespace(**json.loads(argv[1]))
    cap = int(limits.max_memory_mb) << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    # Replies go out on a private copy of stdout; anything a library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # The libraries nearly every batch needs, loaded before the first file's time starts.
    import lxml.etree  # noqa: F401
    import pypdfium2  # noqa: F401

    from kbqa.loaders import load, ocr

    def progress(done: int, total: int) -> None:
        _send(replies, b'{"progress": [%d, %d]}' % (done, total))

    _send(replies, b'{"ready": true}')
    for line in sys.stdin.buffer:
        request = json.loads(line)
        leave = False
        try:
            if request.get("modules"):
                reply: dict[str, Any] = {
                    "modules": sorted({name.split(".")[0] for name in sys.modules})
                }
            else:
                with ocr.reporting(progress):
                    sections = load(request["path"], limits)
                reply = {"sections": [s.to_json() for s in sections]}
                del sections
            data = json.dumps(reply).encode("ascii")  # \u escapes: lone surrogates survive
            del reply
        except UnsupportedFormat as exc:
            data = json.dumps({"error": str(exc), "unsupported": True}).encode("ascii")
        except LoaderError as exc:
            data = json.dumps({"error": str(exc)}).encode("ascii")
        except MemoryError:
            data = json.dumps({"error": memory_message(limits), "recycle": True}).encode("ascii")
            leave = True
        except Exception as exc:  # a loader bug: reported for this file, the reader goes on
            message = f"unexpected error: {type(exc).__name__}: {exc}"[:500]
            data = json.dumps({"error": message}).encode("ascii")
        if not leave and _address_space() > _RECYCLE_SHARE * cap:
            data = data[:-1] + b', "recycle": true}'
            leave = True
        data = data[:-1] + b', "peak_kb": %d}' % _peak_rss_kb()
        _send(replies, data)
        del data
        if leave:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
