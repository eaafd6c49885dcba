"""`kbqa serve`: the REST API (OpenAI-compatible chat, knowledge bases, uploads) on uvicorn."""

from __future__ import annotations

import argparse
import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TOKEN_ENV = "KBQA_SERVE__TOKEN"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="start the REST API (OpenAI-compatible)",
        description="Serve the knowledge bases over HTTP: OpenAI-compatible /v1/chat/completions "
        "(kb:NAME as the model), /v1/models, /v1/embeddings, knowledge-base and upload routes; "
        "the spec at /openapi.json.",
    )
    parser.add_argument("--kb", help="the default knowledge base (for a model not named kb:NAME)")
    parser.add_argument(
        "--host",
        help=f"address to listen on (default {DEFAULT_HOST}; any other address needs a token)",
    )
    parser.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--token",
        help=f"require `Authorization: Bearer TOKEN` (better: set {TOKEN_ENV}, which other "
        "users of this machine cannot read in the process list)",
    )
    parser.set_defaults(handler="kbqa.cli.serve:run")


def run(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.service.access import check_token_binding
    from kbqa.service.errors import UnsafeBinding

    settings = load_settings(args, kb=args.kb)
    configured = getattr(settings, "serve", None)  # a [serve] settings section, if there is one
    host = (
        args.host
        or getattr(configured, "host", None)
        or os.environ.get("KBQA_SERVE__HOST")
        or DEFAULT_HOST
    )
    port = args.port or getattr(configured, "port", None) or os.environ.get("KBQA_SERVE__PORT")
    token = args.token or getattr(configured, "token", None) or os.environ.get(TOKEN_ENV)
    try:
        port = int(port) if port is not None else DEFAULT_PORT
    except ValueError:
        from kbqa.errors import KBQAError

        raise KBQAError(f"invalid port {port!r}") from None
    try:
        # Before FastAPI, uvicorn and the models load: a refusal answers at once (exit 2).
        token = check_token_binding(host, token)
    except UnsafeBinding as error:
        raise UnsafeBinding(f"{error} (or set {TOKEN_ENV})", **error.params) from None
    from kbqa.server.run import serve

    serve(settings, host=host, port=port, token=token)
    return 0
