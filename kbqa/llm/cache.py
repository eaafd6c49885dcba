"""The one model cache: loaded chat backends, their lifetime and who may use them when.

Every loaded model in kbqa lives in a `ModelCache`: the service layer owns one per `Service` (the
CLI, the UI and the REST server), and the library's conveniences that have no service
(`KnowledgeBase.ask`, a `Conversation` given no model, LangChain's `ChatKBQA`) share the process's
`shared_models()`. `kbqa.llm.registry.load_llm` itself never caches.

Policy:
- One entry per loaded model (keyed by what changes the loaded weights, not by generation
  settings). At most `max_loaded` entries; the least recently used is evicted first.
- A backend is used by one request at a time: `use()` holds the backend's lock (the same lock
  `backend_lock` gives for that backend) while the caller generates.
- A lease keeps its backend alive: an evicted backend is closed only once its last lease is
  released, never under a request that is using it.
- One load at a time (two loads at once would hold two models' memory); a second request for a
  model being loaded waits for that load instead of starting another.
- `preload()` loads in a background thread that is not a daemon, so the interpreter waits for it
  at exit instead of aborting under it; `close()` waits for it, then closes every backend.

Heavy imports stay in the loader (`kbqa.llm.registry.load_llm`), so importing this is cheap.
"""

from __future__ import annotations

import atexit
import gc
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kbqa.errors import ModelCacheClosed

if TYPE_CHECKING:
    from kbqa.llm.base import ChatBackend
    from kbqa.settings import Settings

log = logging.getLogger(__name__)

MAX_LOADED = 2
Loader = Callable[["Settings"], "ChatBackend"]


def model_key(settings: Settings) -> tuple[Any, ...]:
    """What identifies a loaded model: its LLM settings less the generation ones (max_new_tokens,
    temperature, top_p do not change the weights), its file resolved, and the data directory its
    converted copies live under. Raises ModelError for an unknown model."""
    from kbqa.llm.registry import infer_backend

    llm = settings.llm
    fields = llm.model_dump(exclude={"max_new_tokens", "temperature", "top_p"})
    path = Path(llm.model).expanduser()
    if path.exists():
        fields["model"] = str(path.resolve())
    fields["backend"] = infer_backend(llm)
    return (str(Path(settings.home).expanduser().resolve()), *sorted(fields.items()))


def _load(settings: Settings) -> ChatBackend:
    from kbqa.llm.registry import load_llm

    # Converted copies of the model live under the settings' home (so --home moves them).
    return load_llm(settings)


_locks_guard = threading.Lock()
_backend_locks: dict[int, threading.Lock] = {}


def backend_lock(backend: ChatBackend) -> threading.Lock:
    """The one lock of `backend` in this process: whoever generates with it holds it, so two
    requests never run one backend at once (backends keep state across a generation)."""
    with _locks_guard:
        lock = _backend_locks.get(id(backend))
        if lock is None:
            lock = _backend_locks[id(backend)] = threading.Lock()
            # Forget the lock with its backend (an id can be reused by a later object).
            weakref.finalize(backend, _backend_locks.pop, id(backend), None)
        return lock


@dataclass(frozen=True)
class ModelStatus:
    """One cache entry, as data (for a UI's model list or a REST `GET /v1/models`)."""

    model: str  # the name it was asked for (settings.model)
    state: Literal["loading", "ready"]
    leases: int  # requests holding it now
    backend: str = ""  # the loaded backend's model_name once ready


class _Entry:
    def __init__(self, key: tuple[Any, ...], settings: Settings) -> None:
        self.key = key
        self.settings = settings
        self.backend: ChatBackend | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.leases = 0
        self.evicted = False
        self.closed = False


class Lease:
    """A hold on one loaded backend: it is not closed while held. `release()` (or leaving the
    `with` block) gives it back; releasing twice is harmless."""

    def __init__(self, cache: ModelCache, entry: _Entry) -> None:
        self._cache = cache
        self._entry = entry
        self._released = False

    @property
    def backend(self) -> ChatBackend:
        assert self._entry.backend is not None
        return self._entry.backend

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._cache._release(self._entry)

    def __enter__(self) -> ChatBackend:
        return self.backend

    def __exit__(self, *exc: object) -> None:
        self.release()


class ModelCache:
    """Loaded chat backends shared by every caller of one service (see the module docstring)."""

    def __init__(self, max_loaded: int = MAX_LOADED, loader: Loader | None = None) -> None:
        if max_loaded < 1:
            raise ValueError("max_loaded must be at least 1")
        self.max_loaded = max_loaded
        self._loader = loader
        self._lock = threading.Lock()  # guards the fields below (never held while loading)
        self._load_lock = threading.Lock()  # one load at a time
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()  # oldest use first
        self._threads: list[threading.Thread] = []
        self._closed = False

    # -- leasing --------------------------------------------------------------------------------

    def lease(self, settings: Settings) -> Lease:
        """A lease on the model `settings` describe, loading it first if needed (the caller waits;
        a load error is raised here, as a ModelError for a user's mistake)."""
        key = model_key(settings)
        with self._lock:
            if self._closed:
                raise ModelCacheClosed("the model cache is closed")
            entry = self._entries.get(key)
            if entry is None:
                entry = _Entry(key, settings)
                self._entries[key] = entry
                load = True
            else:
                self._entries.move_to_end(key)
                load = False
            entry.leases += 1
        if load:
            self._load(entry)
        entry.ready.wait()
        if entry.error is not None:
            error = entry.error
            self._release(entry)
            raise error
        return Lease(self, entry)

    @contextmanager
    def use(self, settings: Settings) -> Iterator[ChatBackend]:
        """The backend for `settings`, leased and locked for this caller alone until the block
        ends: two requests never run one backend at once."""
        with self.lease(settings) as backend, backend_lock(backend):
            yield backend

    def preload(self, settings: Settings) -> None:
        """Start loading the model of `settings` in a background thread (nothing when it is loaded or
        loading). A failure is logged; the first request that leases it gets the error."""
        key = model_key(settings)
        with self._lock:
            if self._closed or key in self._entries:
                return
            entry = _Entry(key, settings)
            self._entries[key] = entry
            # Not a daemon: the interpreter joins it at exit instead of aborting under it.
            thread = threading.Thread(
                target=self._load, args=(entry,), name="kbqa-model-preload", daemon=False
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    # -- state, as data ---------------------------------------------------------------------------

    def status(self) -> list[ModelStatus]:
        """Every entry, most recently used first."""
        with self._lock:
            entries = list(reversed(self._entries.values()))
        return [
            ModelStatus(
                model=entry.settings.llm.model,
                state="ready" if entry.ready.is_set() and entry.error is None else "loading",
                leases=entry.leases,
                backend=entry.backend.model_name if entry.backend is not None else "",
            )
            for entry in entries
            if entry.error is None
        ]

    def is_ready(self, settings: Settings) -> bool:
        """Whether a request for `settings` would start at once (no load to wait for)."""
        key = model_key(settings)
        with self._lock:
            entry = self._entries.get(key)
        return entry is not None and entry.ready.is_set() and entry.error is None

    def loading(self) -> bool:
        """Whether a model is being loaded now (in the background or for a request)."""
        with self._lock:
            return any(not entry.ready.is_set() for entry in self._entries.values())

    # -- lifetime -------------------------------------------------------------------------------

    def evict(self, settings: Settings) -> bool:
        """Forget `settings`'s model; it is closed now, or when its last lease is released."""
        key = model_key(settings)
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None:
                return False
            entry.evicted = True
            close = entry.leases == 0 and entry.ready.is_set()
        if close:
            self._close_entry(entry)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Stop: no new leases; wait for background loads; close every backend not in use (one in
        use is closed when its lease is released). Safe to call twice."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout)
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            for entry in entries:
                entry.evicted = True
            idle = [e for e in entries if e.leases == 0 and e.ready.is_set()]
        for entry in idle:
            self._close_entry(entry)

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------

    def _load(self, entry: _Entry) -> None:
        try:
            with self._load_lock:
                entry.backend = (self._loader or _load)(entry.settings)
        except BaseException as error:  # handed to whoever leases it, in their thread
            entry.error = error
            with self._lock:
                if self._entries.get(entry.key) is entry:
                    del self._entries[entry.key]
            if threading.current_thread().name == "kbqa-model-preload":
                log.warning("preloading %s failed: %s", entry.settings.llm.model, error)
        finally:
            entry.ready.set()
        if entry.error is None:
            self._evict_over_limit()
            with self._lock:
                # Evicted (or the cache closed) while it loaded, and nobody holds it.
                close = entry.evicted and entry.leases == 0
            if close:
                self._close_entry(entry)

    def _evict_over_limit(self) -> None:
        to_close: list[_Entry] = []
        with self._lock:
            ready = [e for e in self._entries.values() if e.ready.is_set()]
            while len(ready) > self.max_loaded:
                oldest = ready.pop(0)
                del self._entries[oldest.key]
                oldest.evicted = True
                if oldest.leases == 0:
                    to_close.append(oldest)
        for entry in to_close:
            self._close_entry(entry)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.leases -= 1
            close = entry.evicted and entry.leases == 0 and entry.ready.is_set()
        if close:
            self._close_entry(entry)

    def _close_entry(self, entry: _Entry) -> None:
        with self._lock:
            if entry.closed or entry.backend is None:
                return
            entry.closed = True
            backend = entry.backend
        log.info("unloading %s", backend.model_name)
        close = getattr(backend, "close", None)
        if callable(close):
            close()
        gc.collect()


_shared: ModelCache | None = None
_shared_guard = threading.Lock()


def shared_models() -> ModelCache:
    """The process's cache for callers without a service of their own (`KnowledgeBase.ask`, a
    `Conversation` given no model, LangChain's `ChatKBQA`); closed at interpreter exit."""
    global _shared
    with _shared_guard:
        if _shared is None:
            _shared = ModelCache()
            atexit.register(_shared.close)
        return _shared
