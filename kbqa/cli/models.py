"""`kbqa models`: the model catalogue with parameter counts and memory advice; `--load` tries one."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list known models with memory estimates per precision",
        description=(
            "List the models kbqa knows (ChatGLM, LLaMA, BLOOM and their derivatives), with parameter "
            "counts computed from their published configurations and estimated memory at FP16, INT8 "
            "and INT4 (weights + key/value cache for 2048 tokens + runtime)."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--fits", type=float, metavar="GB", help="which models fit in GB, at which precision"
    )
    parser.add_argument("--family", help="only this family (chatglm, llama, bloom, glm4, smollm2)")
    parser.add_argument(
        "--load",
        nargs="?",
        const="",
        metavar="MODEL",
        help="load MODEL (default: the configured one) and report load time and memory",
    )
    parser.add_argument("--quantize", choices=["none", "int8", "int4", "nf4"], help="with --load")
    parser.add_argument("--backend", help="with --load: force a backend")
    parser.add_argument(
        "--trust-remote-code",
        action="store_true",
        default=None,
        help="with --load: run Python code shipped with the checkpoint (ChatGLM); "
        "sets llm.trust_remote_code",
    )
    parser.set_defaults(handler="kbqa.cli.models:run")


def run(args: argparse.Namespace) -> int:
    if args.load is not None:
        return _load(args)
    import json

    from kbqa.llm.catalog import CATALOG, fits

    specs = [s for s in CATALOG if not args.family or s.family == args.family.lower()]
    if args.fits is not None:
        verdicts = fits(args.fits, specs)
        if args.json:
            print(
                json.dumps(
                    [{**s.to_json(), "fits": p} for s, p in verdicts], ensure_ascii=False, indent=1
                )
            )
            return 0
        print(
            f"Models that fit in {args.fits:g} GB (estimate: weights + KV cache for 2048 tokens + 0.5 GB):"
        )
        for spec, precision in verdicts:
            if precision:
                print(f"  {spec.name:24} {precision:5} {spec.memory_gb()[precision]:7.1f} GB")
        # A pre-quantised checkpoint runs at its own precision only: say which, not "INT4".
        own = [
            f"{s.name} (int{s.quantization_bit}, {s.memory_gb()[f'int{s.quantization_bit}']:.1f} GB)"
            for s, p in verdicts
            if not p and s.quantization_bit
        ]
        too_big = [s.name for s, p in verdicts if not p and not s.quantization_bit]
        if own:
            print(f"Too big at their own pre-quantised precision: {', '.join(own)}")
        if too_big:
            print(f"Too big even at INT4: {', '.join(too_big)}")
        return 0
    if args.json:
        print(json.dumps([s.to_json() for s in specs], ensure_ascii=False, indent=1))
        return 0
    header = f"{'name':24} {'family':8} {'params':>8} {'ctx':>6} {'fp16':>7} {'int8':>7} {'int4':>7}  hub"
    print(header)
    print("-" * len(header))
    for spec in specs:
        memory = spec.memory_gb()
        print(
            f"{spec.name:24} {spec.family:8} {_params(spec.params):>8} {spec.max_length:>6} "
            f"{memory['fp16']:>6.1f}G {memory['int8']:>6.1f}G {memory['int4']:>6.1f}G  {spec.hub or '-'}"
        )
    print(
        "\nparams: computed from each model's published configuration. Memory (GB = 10^9 bytes):"
        " weights + KV cache for 2048 tokens + 0.5 GB runtime; INT8/INT4 quantise the linear"
        " layers only. Default model: smollm2-135m-instruct (embedded, offline)."
    )
    return 0


def _params(count: int) -> str:
    return f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.0f}M"


def _load(args: argparse.Namespace) -> int:
    import json
    import resource

    from kbqa.cli import load_settings
    from kbqa.llm.registry import load_llm

    overrides: dict[str, object] = {}
    if args.load:
        overrides["llm.model"] = args.load
    if args.quantize:
        overrides["llm.quantize"] = args.quantize
    if args.backend:
        overrides["llm.backend"] = args.backend
    if args.trust_remote_code:
        overrides["llm.trust_remote_code"] = True
    settings = load_settings(args, **overrides)
    backend = load_llm(settings)  # the whole settings: converted models go under its home
    info = backend.info
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        data = {
            "model": backend.model_name,
            "context_length": backend.context_length,
            "parameters": backend.parameters,
            "trusts_free_generation": backend.trusts_free_generation,
            "peak_rss_mb": round(rss_mb),
        }
        data.update(info.to_json() if info else {})
        print(json.dumps(data, ensure_ascii=False, indent=1))
        return 0
    print(f"{backend.model_name}: {info.summary() if info else 'loaded'}")
    print(f"context: {backend.context_length} tokens; peak resident memory {rss_mb:.0f} MiB")
    for note in info.notes if info else []:
        print(f"note: {note}")
    return 0
