"""`kbqa search "query" [--kb NAME] [-k N] [--json]`: retrieval only, no model."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="retrieve the best passages for a query")
    parser.add_argument("query")
    parser.add_argument("--kb", help="knowledge base name (default: 'default')")
    parser.add_argument("-k", type=int, help="number of passages (default: 5)")
    parser.add_argument("--mode", choices=["hybrid", "dense", "bm25"])
    parser.add_argument(
        "--threshold", type=float, help="minimum cosine similarity in [0, 1] (default: 0)"
    )
    parser.add_argument("--source", action="append", help="only search this file (repeatable)")
    parser.add_argument("--expand", type=int, help="add N neighbouring chunks around each hit")
    parser.add_argument("--json", action="store_true", help="print a JSON list of hits")
    parser.set_defaults(handler="kbqa.cli.search:run")


def run(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.knowledge_base import KnowledgeBase

    settings = load_settings(args, kb=args.kb)
    kb = KnowledgeBase.open(settings.kb, settings)
    hits = kb.search(
        args.query,
        k=args.k,
        mode=args.mode,
        threshold=args.threshold,
        sources=args.source,
        expand=args.expand,
    )
    if args.json:
        print(json.dumps([hit.to_json() for hit in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no passages found")
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.path}" + (f", page {hit.page}" if hit.page else "")
        text = " ".join(hit.text.split())
        print(f"[{rank}] {hit.score:.3f}  {where}\n    {text[:300]}")
    return 0
