"""Errors as OpenAI-style JSON: `{"error": {"message", "type", "code", "param"}}` with a 4xx status
for every bad request (the service's codes and statuses from `error_info`), never a traceback.
An unexpected failure is a 500 that names only the exception's type; the traceback is logged."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kbqa.errors import KBQAError
from kbqa.server.schemas import ErrorResponse
from kbqa.service.errors import error_info

log = logging.getLogger("kbqa.server")

#: documented on every route (schemathesis checks the bodies against it)
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "a bad request: OpenAI-style error"},
    "5XX": {"model": ErrorResponse, "description": "the server failed or is closing"},
}

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    423: "conflict_error",
    429: "rate_limit_error",
}


class APIError(Exception):
    """An error a handler answers with: HTTP `status`, a stable `code`, a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = headers


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "code": code, "param": param}}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(status, code, message, param), status, headers=headers)


def from_exception(error: BaseException) -> APIError:
    """Any exception as an APIError: the service's code and status, "internal" (500) else."""
    if isinstance(error, APIError):
        return error
    info = error_info(error)
    if not info.user_error:
        log.error("internal error", exc_info=error)
        return APIError(500, "internal", f"internal error ({type(error).__name__}); see the log")
    return APIError(info.status, info.code, info.message)


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    problems = []
    first_param = None
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in {"body", "query", "path"}]
        where = ".".join(loc)
        first_param = first_param or where or None
        problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "; ".join(problems) or "invalid request", first_param


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into the JSON above."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, error: APIError) -> JSONResponse:
        return error_response(
            error.status, error.code, error.message, param=error.param, headers=error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(error)
        return error_response(400, "invalid_request", message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        status = error.status_code
        code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
        message = str(error.detail) if error.detail else "error"
        if status == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        return error_response(status, code, message, headers=getattr(error, "headers", None))

    @app.exception_handler(KBQAError)
    async def _kbqa(request: Request, error: KBQAError) -> JSONResponse:
        api = from_exception(error)
        return error_response(api.status, api.code, api.message)

    @app.exception_handler(Exception)
    async def _internal(request: Request, error: Exception) -> JSONResponse:
        api = from_exception(error)
        return error_response(api.status, api.code, api.message)
