"""`kbqa` command line. Each command group lives in its own module beside this one.

A module exposes `register(subparsers)`, which only declares arguments (no heavy imports, so
`kbqa --help` is instant), and sets `handler="kbqa.cli.MODULE:function"` which is imported when the
command runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Order here is the order in `kbqa --help`.
COMMAND_MODULES = ["ingest", "kb", "search", "ask", "eval", "models", "ui", "serve", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbqa",
        description="Ask questions of your own documents with a local language model.",
    )
    parser.add_argument("--config", help="config file (default: $KBQA_HOME/config.toml)")
    parser.add_argument("--home", help="data directory (default: $KBQA_HOME or ~/.kbqa)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kbqa.cli.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"kbqa.cli.{name}":
                raise
            continue  # a command group not written yet
        module.register(subparsers)
    return parser


def load_settings(args: argparse.Namespace, **overrides: object):
    """Settings for a command: config file and environment, then the command's own flags."""
    from pydantic import ValidationError

    from kbqa.errors import KBQAError
    from kbqa.settings import Settings

    if args.home:
        overrides["home"] = args.home
    try:
        return Settings.load(config_file=args.config, overrides=overrides)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise KBQAError(f"invalid settings: {problems}") from None
    except (FileNotFoundError, ValueError) as error:  # missing or malformed config file
        raise KBQAError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Idle OpenMP threads sleep instead of spinning: on 2 cores, spinning threads of the embedder
    # and the model starve each other (decoding 2.5 -> 10.7 tokens/s, docs/bench/llm.md).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # pymilvus's gRPC logs a line at every fork (the reader process) while its threads run.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    module_name, _, function_name = args.handler.partition(":")
    handler = getattr(importlib.import_module(module_name), function_name)
    from kbqa.errors import KBQAError

    try:
        return int(handler(args) or 0)
    except KBQAError as error:
        print(f"kbqa: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kbqa: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The `kbqa` command: `main`, then the process exits.

    A model still loading in the background (a refusal needs none) is waited for: the service
    closes at the end of each command, and its loading thread is no daemon, so the interpreter
    never shuts down under it."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
