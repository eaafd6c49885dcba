"""`kbqa serve`: the REST API (OpenAI-compatible chat, knowledge bases, uploads) on uvicorn."""

from __future__ import annotations

import argparse

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
        help="address to listen on (default: serve.host, 127.0.0.1; any other address needs a token)",
    )
    parser.add_argument("--port", type=int, help="port (default: serve.port, 8000)")
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

    settings = load_settings(
        args,
        kb=args.kb,
        **{"serve.host": args.host, "serve.port": args.port, "serve.token": args.token},
    )
    serve = settings.serve
    try:
        # Before FastAPI, uvicorn and the models load: a refusal answers at once (exit 2).
        token = check_token_binding(serve.host, serve.token)
    except UnsafeBinding as error:
        raise UnsafeBinding(f"{error} (or set {TOKEN_ENV})", **error.params) from None
    from kbqa.server.run import serve as run_server

    run_server(settings, host=serve.host, port=serve.port, token=token)
    return 0
