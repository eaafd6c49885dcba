"""Run the app under uvicorn (`kbqa serve`): the binding checked first, one process, one
`Service`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from kbqa.service.access import check_token_binding

if TYPE_CHECKING:
    from kbqa.settings import Settings


def serve(settings: Settings, *, host: str, port: int, token: str | None) -> None:
    """Serve until interrupted. Refuses (UnsafeBinding) a non-loopback `host` without a token,
    before anything is loaded."""
    token = check_token_binding(host, token)
    import uvicorn

    from kbqa.server.app import create_app

    app = create_app(settings, token=token)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"kbqa serve: http://{shown}:{port} (spec: /openapi.json; "
        f"{'bearer token required' if token else 'no token: loopback only'})",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=10,
        server_header=False,
    )
