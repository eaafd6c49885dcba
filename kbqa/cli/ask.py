"""`kbqa ask "question"` (one answer, streamed, then its sources) and `kbqa chat` (multi-turn).

Both default to the sample knowledge base (built from knowledge/ on first use) and the embedded
model, so they work on a fresh machine with no other step.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbqa.chain.conversation import Conversation
    from kbqa.chain.types import Answer


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kb", help="knowledge base name (default: 'default', the sample one)")
    parser.add_argument("-k", type=int, help="passages to retrieve (default: 5)")
    parser.add_argument("--mode", choices=["hybrid", "dense", "bm25"], help="retrieval mode")
    parser.add_argument("--model", help="chat model (default: the embedded SmolLM2-135M)")
    parser.add_argument("--backend", help="LLM backend (default: inferred from the model)")
    parser.add_argument(
        "--min-similarity",
        type=float,
        help="refusal cut-off: cosine similarity in [0, 1] the best passage must reach",
    )
    parser.add_argument(
        "--prompt",
        metavar="FILE_OR_DIR",
        help="your own QA template file, or a folder of templates overriding prompts/",
    )
    parser.add_argument(
        "--rewrite",
        choices=["auto", "llm", "history", "off"],
        help="how follow-up questions become standalone queries (default: auto)",
    )
    parser.add_argument("--max-new-tokens", type=int, help="longest reply, in tokens")


def register(subparsers: argparse._SubParsersAction) -> None:
    ask = subparsers.add_parser("ask", help="answer a question from a knowledge base")
    ask.add_argument("question")
    _common(ask)
    ask.add_argument("--json", action="store_true", help="print the answer as one JSON object")
    ask.add_argument("--show-context", action="store_true", help="print the retrieved passages")
    ask.set_defaults(handler="kbqa.cli.ask:run_ask")

    chat = subparsers.add_parser("chat", help="multi-turn chat with a knowledge base")
    _common(chat)
    chat.set_defaults(handler="kbqa.cli.ask:run_chat")


def _settings(args: argparse.Namespace):
    from kbqa.cli import load_settings

    return load_settings(
        args,
        kb=args.kb,
        **{
            "retrieval.k": args.k,
            "retrieval.mode": args.mode,
            "llm.model": args.model,
            "llm.backend": args.backend,
            "llm.max_new_tokens": args.max_new_tokens,
            "chain.min_similarity": args.min_similarity,
            "chain.prompt_dir": args.prompt,
            "chain.rewrite": args.rewrite,
        },
    )


@contextmanager
def _open(args: argparse.Namespace) -> Iterator[Conversation]:
    from kbqa.service import Service

    settings = _settings(args)
    with Service(settings) as service:
        # The model loads in the background while the knowledge base opens and retrieves.
        service.preload(settings)
        service.kbs.open(settings.kb, quiet=False)
        yield service.conversation(settings.kb, settings)


def _sources_block(answer: Answer) -> str:
    if answer.refused or not answer.citations:
        return ""
    title = "来源：" if answer.language == "zh" else "Sources:"
    lines = [title]
    for citation in answer.sources:
        lines.append(f"  {citation.label()}")
    return "\n".join(lines)


def _print_stream(conversation: Conversation, question: str, show_context: bool = False) -> Answer:
    answer = None
    out = sys.stdout
    for event in conversation.stream(question):
        if event.kind == "retrieved" and show_context and event.answer:
            for rank, hit in enumerate(event.answer.hits, start=1):
                page = f", p. {hit.page}" if hit.page is not None else ""
                text = " ".join(hit.text.split())[:200]
                print(
                    f"  ({rank}) {hit.score:.3f} {hit.path or hit.source}{page}: {text}", file=out
                )
            print(file=out)
        elif event.kind == "token":
            out.write(event.text)
            out.flush()
        elif event.kind == "done":
            answer = event.answer
    assert answer is not None  # the stream's last token ended the line
    block = _sources_block(answer)
    if block:
        out.write("\n" + block + "\n")
    out.flush()
    return answer


def run_ask(args: argparse.Namespace) -> int:
    with _open(args) as conversation:
        if args.json:
            answer = conversation.ask(args.question)
            print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
            return 0
        _print_stream(conversation, args.question, show_context=args.show_context)
    return 0


CHAT_HELP = "Type a question; /reset forgets the conversation, /sources shows the last passages, /quit ends."


def run_chat(args: argparse.Namespace) -> int:
    with _open(args) as conversation:
        return _chat_loop(conversation)


def _chat_loop(conversation: Conversation) -> int:
    print(f"kbqa chat: knowledge base {conversation.kb.name!r}. {CHAT_HELP}", flush=True)
    last: Answer | None = None
    while True:
        try:
            line = input("\n> ")
        except EOFError:
            print()
            return 0
        question = line.strip()
        if not question:
            continue
        if question in {"/quit", "/exit", "/q"}:
            return 0
        if question == "/reset":
            conversation.reset()
            print("(history cleared)")
            continue
        if question == "/sources":
            for citation in last.citations if last else []:
                print(f"{citation.label()}\n    {' '.join(citation.text.split())[:300]}")
            continue
        last = _print_stream(conversation, question)
