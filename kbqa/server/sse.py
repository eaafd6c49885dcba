"""Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, `data: [DONE]\n\n`
at the end; and `from_thread`, which runs a blocking generator of events in its own thread and
stops it when the client goes away (so a dropped stream does not keep the model busy)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from pydantic import BaseModel

MEDIA_TYPE = "text/event-stream"
DONE = "data: [DONE]\n\n"
#: no proxy buffering, no caching: each chunk reaches the client when it is made
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(data: BaseModel | dict[str, Any]) -> str:
    if isinstance(data, BaseModel):
        text = data.model_dump_json(exclude_none=False)
    else:
        text = json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


def stream(events: Iterable[BaseModel | dict[str, Any]]) -> Iterator[str]:
    """The events, then the end marker; closing this closes `events` too."""
    try:
        for item in events:
            yield event(item)
        yield DONE
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


async def from_thread(make: Callable[[], Iterator[str]]) -> AsyncIterator[str]:
    """The items of the blocking iterator `make()`, produced in a thread of their own. When
    the consumer stops (the client disconnected: the response task is cancelled), the thread
    closes the iterator after the item it is waiting for, from its own thread, so the chain's
    clean-up (stopping generation, releasing the model) runs there."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def put(item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        iterator = make()
        try:
            for item in iterator:
                if stop.is_set():
                    break
                put(item)
        except BaseException as error:  # handed to the consumer
            put(_Failed(error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            put(_END)

    threading.Thread(target=produce, name="kbqa-stream", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
