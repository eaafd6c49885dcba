"""`kbqa ingest PATH... [--kb NAME] [--prune] [--no-ocr]`."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ingest", help="add documents and folders to a knowledge base")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    add_kb_argument(parser)
    parser.add_argument(
        "--prune", action="store_true", help="remove files that are gone from the given folders"
    )
    parser.add_argument("--embedder", help="embedding model for a new knowledge base")
    parser.add_argument(
        "--no-ocr",
        action="store_true",
        help="do not OCR scanned PDF pages and image files (setting ingest.ocr)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler="kbqa.cli.ingest:run")


def add_kb_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb", help="knowledge base name (default: 'default')")


def run(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.knowledge_base import KnowledgeBase

    overrides = {"embedder.name": args.embedder, "ingest.ocr": False if args.no_ocr else None}
    settings = load_settings(args, kb=args.kb, **overrides)
    kb = KnowledgeBase.open(settings.kb, settings, create=True)
    report = kb.add(args.paths, prune=args.prune, progress=not args.json)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        print(f"knowledge base {kb.name!r}: {report.summary()}")
    # Exit 1 when some files failed, so scripts notice; the others were still ingested.
    return 1 if report.failed else 0
