"""The request-size limit: a body over `max_bytes` is answered 413 (JSON) without being read
further, whether its size is announced (Content-Length) or not (chunked). Each uploaded file is
also held to `ui.max_upload_mb` by the service, as in the web app."""

from __future__ import annotations

import json
from typing import Any

from kbqa.server.errors import error_body

Scope = dict[str, Any]


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: requests whose body exceeds `max_bytes` get a 413."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _message(self) -> str:
        return f"request body too large (the limit is {self.max_bytes / 2**20:.0f} MiB)"

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    announced = int(value)
                except ValueError:
                    announced = -1
                if announced < 0 or announced > self.max_bytes:
                    await self._refuse(send, 413 if announced >= 0 else 400)
                    return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a body it could not read: ours goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(send, 413)

    async def _refuse(self, send: Any, status: int) -> None:
        if status == 413:
            body = error_body(413, "request_too_large", self._message())
        else:
            body = error_body(400, "invalid_request", "invalid Content-Length header")
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
