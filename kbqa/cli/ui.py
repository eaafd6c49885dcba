"""`kbqa ui`: start the web app (Gradio, in `ui/`)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ui",
        help="start the web app in the browser",
        description="Start the web app: upload documents, chat with citations, search, settings.",
    )
    parser.add_argument("--kb", help="knowledge base to open first (created when missing)")
    parser.add_argument(
        "--host",
        help="address to listen on (default 127.0.0.1; any other address needs --auth)",
    )
    parser.add_argument("--port", type=int, help="port (default 7860)")
    parser.add_argument(
        "--auth",
        metavar="USER:PASSWORD",
        help="require this login (or set KBQA_UI__AUTH, which other users of this machine "
        "cannot read in the process list)",
    )
    parser.add_argument(
        "--lang",
        choices=["auto", "en", "zh"],
        default="auto",
        help="interface language (default: the browser's)",
    )
    parser.set_defaults(handler="kbqa.cli.ui:run")


def run(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings

    settings = load_settings(
        args,
        kb=args.kb,
        **{"ui.host": args.host, "ui.port": args.port, "ui.auth": args.auth},
    )
    from kbqa.service.access import check_binding

    # Before importing Gradio (seconds): a refusal or a malformed --auth answers at once.
    check_binding(settings.ui.host, settings.ui.auth)
    from kbqa.ui.app import launch

    launch(settings, lang=None if args.lang == "auto" else args.lang)
    return 0
