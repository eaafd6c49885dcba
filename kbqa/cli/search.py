"""`kbqa search "query" [--kb NAME] [-k N] [--json]`: retrieval only, no model."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbqa.types import Hit


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
    print(format_hits(hits, args.mode or settings.retrieval.mode))
    return 0


_ORDER = {
    "hybrid": "best first by fused rank (reciprocal-rank fusion of the dense and BM25 lists), "
    "so the cosine does not always fall",
    "dense": "best first by cosine similarity",
    "bm25": "best first by BM25 rank",
}


def format_hits(hits: list[Hit], mode: str) -> str:
    """Hits for a terminal: a line saying how they are ordered, then each hit with its rank in
    each list, so an order that is not by cosine explains itself."""
    if not hits:
        return "no passages found"
    calibrated = any(hit.relevance is not None for hit in hits)
    meaning = "cosine = similarity to the query in [0, 1]"
    if calibrated:
        meaning += "; relevance = estimated probability that the passage holds the answer"
    lines = [
        f"{len(hits)} passage{'s' if len(hits) != 1 else ''}, {_ORDER.get(mode, mode)}; {meaning}"
    ]
    for rank, hit in enumerate(hits, start=1):
        where = f"{hit.path}" + (f", page {hit.page}" if hit.page else "")
        ranks = ", ".join(
            f"{name} #{value}" if value else f"{name} -"
            for name, value in (("dense", hit.dense_rank), ("bm25", hit.bm25_rank))
        )
        text = " ".join(hit.text.split())
        relevance = f"relevance {hit.relevance:.2f}  " if hit.relevance is not None else ""
        lines.append(
            f"[{rank}] {relevance}cosine {hit.score:.3f}  ({ranks})  {where}\n    {text[:300]}"
        )
    return "\n".join(lines)
