"""Errors as data: every error the service raises has a stable `code` a UI translates and a REST
server maps to a status; `error_info()` gives the same for any exception."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kbqa.errors import (
    EmbedderMismatch,
    KBQAError,
    KnowledgeBaseError,
    KnowledgeBaseLocked,
    LoaderError,
    ModelCacheClosed,
    ModelError,
    UnsupportedFormat,
)


class ServiceError(KBQAError):
    """A user-caused error from the service layer, with a code and its parameters."""

    code = "error"
    status = 400  # the HTTP status a REST server answers with

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.params = params


class UnsafeBinding(ServiceError):
    """Serving beyond this machine without a login or token."""

    code = "unsafe_binding"


class InvalidCredentials(ServiceError):
    """A malformed login setting (not USER:PASSWORD), or an empty token."""

    code = "invalid_credentials"


class ModelNotAllowed(ServiceError):
    """A session asked for a model the operator did not allow (ui.allowed_models)."""

    code = "model_not_allowed"
    status = 403


class KnowledgeBaseNotFound(ServiceError):
    code = "kb_not_found"
    status = 404


class KnowledgeBaseExists(ServiceError):
    code = "kb_exists"
    status = 409


@dataclass(frozen=True)
class ErrorInfo:
    """An error as data: `code` (stable, for translation and clients), the English `message`,
    `params` for a translated message, and the HTTP `status`."""

    code: str
    message: str
    status: int = 400
    params: dict[str, Any] = field(default_factory=dict)
    user_error: bool = True  # False: an internal failure (show only what failed, log the rest)


# Most specific first.
_CODES: tuple[tuple[type[BaseException], str, int], ...] = (
    (EmbedderMismatch, "embedder_mismatch", 409),
    (KnowledgeBaseLocked, "kb_locked", 423),
    (KnowledgeBaseError, "kb_error", 400),
    (UnsupportedFormat, "unsupported_format", 415),
    (LoaderError, "unreadable_file", 422),
    (ModelCacheClosed, "closed", 503),  # the service (its model cache) was closed
    (ModelError, "model_error", 400),
    (KBQAError, "error", 400),
)


def error_info(error: BaseException) -> ErrorInfo:
    """The data for `error`: its own code for a ServiceError, one per KBQAError kind, and
    "internal" (status 500) for anything else."""
    if isinstance(error, ServiceError):
        return ErrorInfo(error.code, str(error), error.status, dict(error.params))
    for kind, code, status in _CODES:
        if isinstance(error, kind):
            return ErrorInfo(code, str(error), status)
    return ErrorInfo("internal", f"{type(error).__name__}: {error}", 500, user_error=False)
