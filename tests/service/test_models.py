"""The model cache's policy with the real SmolLM2 and real threads: one request per backend at a
time, no backend closed under a lease, one entry per model, clean shutdown with a preload."""

from __future__ import annotations

import threading
import time

import pytest

from kbqa.errors import ModelError
from kbqa.llm.base import GenerationConfig
from kbqa.service import ModelCache

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name three colours."}]


def _other(settings, **llm):
    """The same settings with another model configuration (a second cache entry)."""
    return settings.model_copy(update={"llm": settings.llm.model_copy(update=llm)})


def _record(backend, log: list[tuple[str, float]], busy: list[int]) -> None:
    """Wrap the real backend's stream to record when generation runs and how many at once."""
    real = backend.stream

    def stream(messages, config):
        busy[0] += 1
        busy[1] = max(busy[1], busy[0])
        log.append(("start", time.perf_counter()))
        try:
            yield from real(messages, config)
        finally:
            log.append(("end", time.perf_counter()))
            busy[0] -= 1

    backend.stream = stream


def test_two_threads_never_run_one_backend_at_once(service_settings) -> None:
    with ModelCache() as cache:
        log: list[tuple[str, float]] = []
        busy = [0, 0]  # now, most at once
        with cache.lease(service_settings) as backend:
            _record(backend, log, busy)
        config = GenerationConfig(max_new_tokens=24)
        replies: list[str] = []
        errors: list[BaseException] = []
        started = threading.Barrier(2)

        def ask() -> None:
            try:
                started.wait()
                with cache.use(service_settings) as llm:
                    replies.append("".join(llm.stream(QUESTION, config)))
            except BaseException as error:  # reported in the main thread
                errors.append(error)

        threads = [threading.Thread(target=ask) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors
        assert len(replies) == 2 and all(replies)
        assert busy[1] == 1, "two generations overlapped on one backend"
        assert [kind for kind, _ in log] == ["start", "end", "start", "end"]


def test_eviction_while_leased_does_not_close(service_settings) -> None:
    closed: list[str] = []
    with ModelCache(max_loaded=1) as cache:
        first = cache.lease(service_settings)
        backend = first.backend
        backend.close = lambda: closed.append("first")  # record the cache's close call
        # A second model evicts the first (max_loaded=1) while the first is still leased.
        second_settings = _other(service_settings, context_length=1024)
        with cache.lease(second_settings) as second:
            assert second is not backend
            assert [s.model for s in cache.status()] == [service_settings.llm.model]
            assert not cache.is_ready(service_settings)  # evicted
            assert closed == []
            # Still usable by its holder.
            assert backend.generate(QUESTION, GenerationConfig(max_new_tokens=4))
        first.release()
        assert closed == ["first"]
        first.release()  # twice is harmless
        assert closed == ["first"]


def test_generation_settings_share_one_backend(service_settings) -> None:
    with ModelCache() as cache:
        with cache.lease(service_settings) as a:
            pass
        hotter = _other(service_settings, temperature=0.7, max_new_tokens=9)
        with cache.lease(hotter) as b:
            assert a is b
        assert len(cache.status()) == 1 and cache.status()[0].state == "ready"


def test_preload_then_close_waits_and_closes(service_settings) -> None:
    cache = ModelCache()
    cache.preload(service_settings)
    (thread,) = cache._threads  # the one background load
    assert not thread.daemon  # the interpreter joins it at exit instead of aborting under it
    cache.close()
    assert not thread.is_alive()
    assert cache.status() == []
    with pytest.raises(Exception, match="closed"):
        cache.lease(service_settings)


def test_a_bad_model_raises_and_is_not_kept(service_settings, tmp_path) -> None:
    with ModelCache() as cache:
        with pytest.raises(ModelError):
            cache.lease(_other(service_settings, model=str(tmp_path / "missing.gguf")))
        assert cache.status() == [] and not cache.loading()
