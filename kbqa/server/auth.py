"""Bearer-token auth: a dependency on every /v1 route, the token compared in constant time
(`kbqa.service.access.check_bearer`). No token configured (loopback only, checked at start-up by
`check_token_binding`): every request passes."""

from __future__ import annotations

from fastapi import Request

from kbqa.server.errors import APIError
from kbqa.service.access import check_bearer


def require_token(request: Request) -> None:
    token: str | None = request.app.state.kbqa.token
    if not check_bearer(request.headers.get("authorization"), token):
        raise APIError(
            401,
            "invalid_api_key",
            "missing or wrong bearer token: send `Authorization: Bearer TOKEN`",
            headers={"WWW-Authenticate": "Bearer"},
        )
