"""Server-sent events as OpenAI streams them: `data: {json}\n\n` per chunk, `data: [DONE]\n\n`
at the end."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
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
    """The events, then the end marker (also after an error event)."""
    for item in events:
        yield event(item)
    yield DONE
