"""`kbqa eval QUESTIONS --kb NAME --out PREDICTIONS`: run a question set, write predictions, score.

With `--retrieval-only` no model runs: each prediction holds the retrieved chunks and an empty
answer, and the table shows hit@k and MRR. Otherwise every item gets a full answer (multi-turn items
as one conversation) and the table adds answer accuracy, refusal accuracy and false refusals.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kbqa.eval.dataset import Question
    from kbqa.service import Service
    from kbqa.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval", help="run a question set and score the predictions")
    parser.add_argument("questions", help="question file (JSONL, see eval/README.md)")
    parser.add_argument("--kb", help="knowledge base name (default: 'default', the sample one)")
    parser.add_argument("--out", required=True, help="prediction file to write (JSONL)")
    parser.add_argument(
        "--retrieval-only", action="store_true", help="retrieve only: no model, empty answers"
    )
    parser.add_argument(
        "-k", type=int, help="chunks retrieved per question (default: 10 retrieval-only, else 5)"
    )
    parser.add_argument("--mode", choices=["hybrid", "dense", "bm25"], help="retrieval mode")
    parser.add_argument(
        "--rewrite",
        choices=["auto", "llm", "history", "off"],
        help="follow-up rewriting (off = retrieve with the raw last turn, as the peers do)",
    )
    parser.add_argument("--model", help="chat model (default: the embedded SmolLM2-135M)")
    parser.add_argument("--min-similarity", type=float, help="refusal cut-off in [0, 1]")
    parser.add_argument("--prompt", metavar="FILE_OR_DIR", help="QA template file or folder")
    parser.add_argument("--limit", type=int, help="only the first N questions")
    parser.add_argument("--lang", choices=["zh", "en"], help="only questions in this language")
    parser.add_argument("--quiet", action="store_true", help="no per-question progress lines")
    parser.set_defaults(handler="kbqa.cli.eval:run")


def run(args: argparse.Namespace) -> int:
    from kbqa.cli import load_settings
    from kbqa.errors import KBQAError
    from kbqa.eval.dataset import read_questions
    from kbqa.service import Service

    if args.k is not None and args.k < 1:
        raise KBQAError("-k must be at least 1")
    questions = read_questions(args.questions)
    if args.lang:
        questions = [q for q in questions if q.lang == args.lang]
    if args.limit:
        questions = questions[: args.limit]
    overrides: dict[str, object] = {
        "kb": args.kb,
        "retrieval.mode": args.mode,
        "llm.model": args.model,
        "chain.min_similarity": args.min_similarity,
        "chain.prompt_dir": args.prompt,
        "chain.rewrite": args.rewrite,
    }
    if not args.retrieval_only:
        overrides["retrieval.k"] = args.k
    settings = load_settings(args, **overrides)
    with Service(settings) as service:
        return _run(args, questions, settings, service)


def _run(
    args: argparse.Namespace, questions: list[Question], settings: Settings, service: Service
) -> int:
    from kbqa.eval.dataset import prediction_line
    from kbqa.eval.metrics import answer_matches, compute_metrics, format_table
    from kbqa.eval.runner import Progress, run_answers, run_retrieval

    kb = service.kbs.open(settings.kb, quiet=False)

    model_only: dict[str, list[bool]] = {}
    notes = 0

    def show(progress: Progress) -> None:
        nonlocal notes
        if progress.answer is not None and progress.question.answerable:
            # The model's own words, whether or not the reply shows them (a small model's reply
            # opens with the quoted source; its words follow only when they pass the checks).
            correct = answer_matches(progress.question, progress.answer.model_text)
            model_only.setdefault(progress.question.lang, []).append(correct)
            notes += bool(progress.answer.note)
        if args.quiet:
            return
        item = progress.question
        detail = ""
        if progress.answer is not None:
            reply = " ".join(progress.answer.text.split())
            detail = f" | {reply[:100]}"
        print(
            f"[{progress.index}/{progress.total}] {item.id} {progress.seconds:.1f}s{detail}",
            file=sys.stderr,
            flush=True,
        )

    if args.retrieval_only:
        predictions = run_retrieval(
            kb,
            questions,
            k=args.k or 10,
            mode=args.mode,
            rewrite_mode=args.rewrite or "history",
            on_item=show,
        )
    else:
        predictions = run_answers(
            kb, questions, settings=settings, models=service.models, on_item=show
        )

    written = []
    with open(args.out, "w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction_line(prediction))
            handle.flush()
            written.append(prediction)
    prompt_dirs = [settings.chain.prompt_dir] if settings.chain.prompt_dir else []
    report = compute_metrics(questions, written, prompt_dirs=[p for p in prompt_dirs if p.is_dir()])
    print(format_table(report))
    if model_only:
        # Shown because a small model's reply is built from the source (kbqa/chain/extract.py):
        # this is how often the model alone had the answer.
        scores = ", ".join(
            f"{lang} {sum(v) / len(v):.3f}" for lang, v in sorted(model_only.items())
        )
        total = [c for v in model_only.values() for c in v]
        print(
            f"answer accuracy of the model's own words (shown or not): "
            f"overall {sum(total) / len(total):.3f}, {scores}; "
            f"its words withheld by the grounding checks in {notes} of {len(total)} answerable replies"
        )
    print(f"predictions: {args.out} ({len(written)} questions, knowledge base {kb.name!r})")
    return 0
