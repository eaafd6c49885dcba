"""`kbqa bench embedders`: all-MiniLM-L6-v2 through torch (fp32, bf16) and ONNX Runtime (fp32, int8).

The question it answers: is an ONNX Runtime int8 path fast enough, and faithful enough, to replace
torch bf16 for ingestion (a 2 MB mixed corpus is ~650k MiniLM tokens; 30 s needs ~22k tokens/s)?

Every variant embeds the same texts in the same process, interleaved round by round, because the
machine is shared and only same-process ratios mean anything. Per variant it reports:
  - wall tokens/s (median over rounds) and its ratio to torch bf16 in the same round (median);
  - tokens per CPU-second of the process (less sensitive to other load; see docs/bench/embedders.md);
  - cosine of every vector to torch fp32's for the same text (mean, min; min over zh and en chunks);
  - top-5 retrieval agreement with torch fp32: the dev-set questions (eval/dev) against the real
    chunks of knowledge/ + eval/corpus/ (loaded and split as ingestion does).

The ONNX models are exported here (torch.onnx.export of the whole SentenceTransformer, i.e.
transformer + mean pooling + normalise), fused with onnxruntime.transformers, then quantised with
onnxruntime.quantization. Needs: pip install onnxruntime==1.31.1 onnx==1.23.2 (and onnx-ir for
the block-wise variant, which is skipped without it). None of them is a kbqa dependency: the int8
path was not adopted (docs/bench/embedders.md), so this is the only code that uses them.

    python -m kbqa.bench.embedders --chunks 500 --rounds 2 --threads 1 --workdir /tmp/emb
    python -m kbqa.bench.embedders --chunks 500 --rounds 2 --threads 2 --workdir /tmp/emb --reuse

`add_arguments` and `run` are the hooks for a `kbqa bench embedders` subcommand.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kbqa.bench.common import REPO, machine
from kbqa.text.cjk import HAN_RE

MODEL = "all-MiniLM-L6-v2"
#: what ingestion packs into a MiniLM chunk: min(254, 256) - 24 heading tokens (kbqa/ingest.py)
CHUNK_TOKENS = 232
SWEEPABLE = ("fused", "int8", "int8-pc", "int8-pc-ffn32", "int8-block")


# --------------------------------------------------------------------------- texts


def speed_sample(count_tokens: Callable[[list[str]], list[int]], n: int, seed: int) -> list[str]:
    """`n` chunks of up to CHUNK_TOKENS tokens packed from consecutive sentences of the project's
    Chinese and English documents (from a random start, so most chunks are one language and some
    straddle both)."""
    from kbqa.splitter import split_sentences

    sentences: list[str] = []
    for path in sorted([*REPO.glob("knowledge/*.md"), *REPO.glob("eval/corpus/*.md")]):
        text = re.sub(r"^[#>|\-*\s]+", "", path.read_text(encoding="utf-8"), flags=re.M)
        sentences += [s.strip() for s in split_sentences(text) if len(s.strip()) > 3]
    lengths = count_tokens(sentences)
    rng = random.Random(seed)
    chunks: list[str] = []
    while len(chunks) < n:
        start = rng.randrange(len(sentences))
        parts: list[str] = []
        size = 0
        for offset in range(len(sentences)):
            index = (start + offset) % len(sentences)
            if size + lengths[index] > CHUNK_TOKENS:
                break
            parts.append(sentences[index])
            size += lengths[index]
        if parts:
            # join like the splitter does: no space between Chinese sentences
            chunks.append("".join(p if HAN_RE.search(p[-1:]) else p + " " for p in parts).strip())
    return chunks


def real_chunks(count_tokens: Callable[[list[str]], list[int]]) -> list[str]:
    """The chunks ingestion would embed for knowledge/ + eval/corpus/ (all formats), heading included."""
    from kbqa import loaders
    from kbqa.ingest import embedding_text
    from kbqa.splitter import ChineseAwareSplitter

    splitter = ChineseAwareSplitter(
        chunk_size=CHUNK_TOKENS,
        chunk_overlap=32,
        count_tokens=lambda text: count_tokens([text])[0],
        count_tokens_batch=count_tokens,
    )
    texts: list[str] = []
    for path in sorted([*REPO.glob("knowledge/*"), *REPO.glob("eval/corpus/*")]):
        if loaders.is_supported(path):
            chunks = splitter.split(loaders.load(path), source=path.name, path=path.name)
            texts += [embedding_text(chunk) for chunk in chunks]
    return texts


def dev_questions() -> list[str]:
    lines = (REPO / "eval/dev/questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


# --------------------------------------------------------------------------- ONNX export


def export_onnx(model_path: str, out: Path) -> None:
    """The whole SentenceTransformer (transformer, pooling, normalise) as one ONNX graph.

    Eager attention: SDPA exports to a pattern onnxruntime's BERT fusion does not recognise, so the
    attention would stay unfused (slower, and not quantisable as QAttention)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(
        model_path, device="cpu", model_kwargs={"attn_implementation": "eager"}
    )
    tokenizer = model[0].tokenizer
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in tokenizer("a")]

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(names, tensors, strict=True))
            return self.model({**features, "modality": "text"})["sentence_embedding"]

    # A padded batch, so the traced graph keeps the attention mask path.
    sample = tokenizer(
        ["a longer sample sentence, padded", "短句"], padding=True, return_tensors="pt"
    )
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.no_grad():
        torch.onnx.export(
            Wrapped().eval(),
            tuple(sample[name] for name in names),
            str(out),
            dynamo=False,  # the TorchScript exporter needs no onnxscript
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**axes, "embedding": {0: "batch"}},
            opset_version=17,
        )


def fuse(source: Path, out: Path, num_heads: int, hidden_size: int) -> None:
    """onnxruntime's BERT fusions: Attention, SkipLayerNorm, BiasGelu, EmbedLayerNorm."""
    from onnxruntime.transformers.optimizer import optimize_model

    fused = optimize_model(
        str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size
    )
    fused.save_model_to_file(str(out))


def ffn_down_projections(model_file: Path, intermediate_size: int) -> list[str]:
    """MatMuls whose weight is (intermediate, hidden): the FFN output projections. Their input (the
    GELU output) has outliers that per-tensor dynamic activation scales cannot represent."""
    import onnx

    model = onnx.load(str(model_file))
    weights = {
        init.name
        for init in model.graph.initializer
        if len(init.dims) == 2 and init.dims[0] == intermediate_size
    }
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def quantize(source: Path, out: Path, *, per_channel: bool, exclude: Sequence[str] = ()) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(out),
        weight_type=QuantType.QInt8,  # u8 activations x s8 weights: the AVX-512 VNNI kernel
        per_channel=per_channel,
        nodes_to_exclude=list(exclude),
        extra_options={
            "MatMulConstBOnly": True,  # never quantise activation x activation products
            "DefaultTensorType": 1,  # float: fused ops defeat the quantiser's type inference
        },
    )


def quantize_blockwise(source: Path, out: Path) -> bool:
    """8-bit weights in blocks of 32 with int8 compute (accuracy_level 4): the activations are
    quantised per block too, which keeps outliers local. Needs onnx-ir."""
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    except ImportError:
        return False
    quantizer = MatMulNBitsQuantizer(
        str(source), bits=8, block_size=32, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), False)
    return True


def mha_fuse(source: Path, out: Path, num_heads: int, hidden_size: int) -> None:
    """Fusion with MultiHeadAttention (projections stay MatMuls, so MatMulNBits can take them)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.use_multi_head_attention = True
    fused = optimize_model(
        str(source),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        optimization_options=options,
    )
    fused.save_model_to_file(str(out))


# --------------------------------------------------------------------------- variants


@dataclass
class Variant:
    label: str
    encode: Callable[[list[str]], np.ndarray]
    wall: list[float] = field(default_factory=list)  # tokens/s per round
    cpu: list[float] = field(default_factory=list)  # tokens per CPU-second per round
    vectors: np.ndarray | None = None
    real_vectors: np.ndarray | None = None


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def torch_variant(model: Any, label: str, bf16: bool, batch_size: int) -> Variant:
    import contextlib

    import torch

    def encode(texts: list[str]) -> np.ndarray:
        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with torch.inference_mode(), autocast:  # as SentenceTransformerEmbedder does
            vectors = model.encode(
                texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
            )
        return _normalise(vectors)

    return Variant(label, encode)


def ort_variant(
    path: Path,
    label: str,
    tokenizer: Any,
    max_length: int,
    threads: int,
    batch_size: int,
    sort: bool,
) -> Variant:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # Spinning workers take CPU from other processes on a shared 2-core machine; measured within
    # 3% of spinning on here, and the CPU-time figures then count work, not waiting.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]

    def encode(texts: list[str]) -> np.ndarray:
        order = list(range(len(texts)))
        if sort:  # similar lengths together: less padding
            order.sort(key=lambda i: len(texts[i]))
        parts = []
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            features = tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="np",
            )
            feed = {name: features[name].astype(np.int64) for name in inputs}
            parts.append((index, session.run(None, feed)[0]))
        out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for index, vectors in parts:
            out[index] = vectors
        return _normalise(out)

    return Variant(label, encode)


# --------------------------------------------------------------------------- measuring


def cosines(vectors: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.sum(vectors * reference, axis=1)


def top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> list[list[int]]:
    return [list(np.argsort(-row, kind="stable")[:k]) for row in queries @ corpus.T]


def run(args: argparse.Namespace) -> int:
    import torch
    from sentence_transformers import SentenceTransformer

    from kbqa.embedders.sentence_transformer import resolve_model_path

    unknown = [name for name in args.sweep if name not in SWEEPABLE]
    if unknown:
        raise SystemExit(f"--sweep: unknown model(s) {unknown}; choose from {SWEEPABLE}")
    torch.set_num_threads(args.threads)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kbqa-bench-embedders-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    print(f"model: {MODEL}, threads: {args.threads}, workdir: {work}")

    model_path = resolve_model_path(MODEL)
    model = SentenceTransformer(model_path, device="cpu")
    tokenizer = model[0].tokenizer
    max_length = int(model.max_seq_length)
    config = model[0].auto_model.config

    def count_tokens(texts: list[str]) -> list[int]:
        encoded = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    texts = speed_sample(count_tokens, args.chunks, seed=args.seed)
    lengths = count_tokens(texts)
    tokens = sum(lengths)
    zh = np.array([len(HAN_RE.findall(t)) > len(t) / 4 for t in texts])
    corpus = real_chunks(count_tokens)
    questions = dev_questions()
    print(
        f"speed sample: {len(texts)} chunks ({int(zh.sum())} mostly Chinese), {tokens} tokens "
        f"(mean {tokens / len(texts):.0f}, min {min(lengths)}, max {max(lengths)}); "
        f"retrieval: {len(corpus)} real chunks, {len(questions)} dev questions"
    )

    # Export, fuse, quantise (timed: the one-off cost a cached path would pay once per model).
    heads, hidden = config.num_attention_heads, config.hidden_size
    files = {
        name: work / f"{name}.onnx"
        for name in ("raw", "fused", "int8", "int8-pc", "int8-pc-ffn32", "mha", "int8-block")
    }
    steps: list[tuple[str, Callable[[], object]]] = [
        ("raw", lambda: export_onnx(model_path, files["raw"])),
        ("fused", lambda: fuse(files["raw"], files["fused"], heads, hidden)),
        ("int8", lambda: quantize(files["fused"], files["int8"], per_channel=False)),
        ("int8-pc", lambda: quantize(files["fused"], files["int8-pc"], per_channel=True)),
        (
            "int8-pc-ffn32",
            lambda: quantize(
                files["fused"],
                files["int8-pc-ffn32"],
                per_channel=True,
                exclude=ffn_down_projections(files["fused"], config.intermediate_size),
            ),
        ),
        ("mha", lambda: mha_fuse(files["raw"], files["mha"], heads, hidden)),
        ("int8-block", lambda: quantize_blockwise(files["mha"], files["int8-block"])),
    ]
    for name, step in steps:
        if args.reuse and files[name].exists():
            continue
        started = time.perf_counter()
        if step() is False:
            print(f"{name}: skipped (pip install onnx-ir)")
        else:
            print(f"build {name}: {time.perf_counter() - started:.1f} s")
    has_block = files["int8-block"].exists()
    sizes = {name: path.stat().st_size / 2**20 for name, path in files.items() if path.exists()}

    bs = args.batch_size
    ort_args = dict(tokenizer=tokenizer, max_length=max_length, threads=args.threads)
    variants = [
        torch_variant(model, f"torch fp32 (bs {bs})", bf16=False, batch_size=bs),
        torch_variant(model, f"torch bf16 autocast (bs {bs})", bf16=True, batch_size=bs),
        ort_variant(
            files["fused"], f"ORT fp32 (bs {bs}, sorted)", **ort_args, batch_size=bs, sort=True
        ),
    ]
    for name in ["int8", "int8-pc", "int8-pc-ffn32"] + (["int8-block"] if has_block else []):
        label = f"ORT {name} (bs {bs}, sorted)"
        variants.append(ort_variant(files[name], label, **ort_args, batch_size=bs, sort=True))
    for sweep in args.sweep:  # batch size and sorting, on the int8 models named by --sweep
        for size in args.batch_sizes:
            for sort in (True, False):
                if size == bs and sort:
                    continue  # already in the main table
                label = f"ORT {sweep} (bs {size}, {'sorted' if sort else 'unsorted'})"
                variants.append(
                    ort_variant(files[sweep], label, **ort_args, batch_size=size, sort=sort)
                )

    # Quality first (the real chunks; also warms every variant up).
    for variant in variants:
        variant.real_vectors = variant.encode(corpus)
    reference = variants[0]
    reference_top = top_k(reference.encode(questions), reference.real_vectors, 5)

    for round_number in range(args.rounds):
        order = variants if round_number % 2 == 0 else variants[::-1]  # no fixed position bias
        for variant in order:
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = variant.encode(texts)
            variant.wall.append(tokens / (time.perf_counter() - wall))
            variant.cpu.append(tokens / (time.process_time() - cpu))
            if variant.vectors is None:  # the speed sample's vectors, for the cosines
                variant.vectors = vectors
        print(f"round {round_number + 1}/{args.rounds} done", flush=True)

    bf16 = variants[1]
    rows = []
    for variant in variants:
        cos = cosines(variant.vectors, reference.vectors)
        # the variant embeds the questions too: both sides of a search change
        own_queries = variant.encode(questions)
        top = top_k(own_queries, variant.real_vectors, 5)
        overlap = statistics.mean(
            len(set(a) & set(b)) / 5 for a, b in zip(top, reference_top, strict=True)
        )
        top1 = float(np.mean([a[0] == b[0] for a, b in zip(top, reference_top, strict=True)]))
        rows.append(
            {
                "variant": variant.label,
                "tokens_per_s": statistics.median(variant.wall),
                "vs_bf16": statistics.median(
                    w / b for w, b in zip(variant.wall, bf16.wall, strict=True)
                ),
                "tokens_per_cpu_s": statistics.median(variant.cpu),
                "cpu_vs_bf16": statistics.median(
                    c / b for c, b in zip(variant.cpu, bf16.cpu, strict=True)
                ),
                "cos_mean": float(cos.mean()),
                "cos_min": float(cos.min()),
                "cos_min_zh": float(cos[zh].min()) if zh.any() else None,
                "cos_min_en": float(cos[~zh].min()) if (~zh).any() else None,
                "top5_overlap": overlap,
                "top1_same": top1,
            }
        )

    print()
    print(
        "| variant | tokens/s | x bf16 | tokens/CPU-s | x bf16 (CPU) | cos mean | cos min "
        "| min zh / en | top-5 overlap | top-1 same |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['variant']} | {row['tokens_per_s']:,.0f} | {row['vs_bf16']:.2f} "
            f"| {row['tokens_per_cpu_s']:,.0f} | {row['cpu_vs_bf16']:.2f} "
            f"| {row['cos_mean']:.5f} | {row['cos_min']:.5f} "
            f"| {row['cos_min_zh']:.4f} / {row['cos_min_en']:.4f} "
            f"| {row['top5_overlap']:.3f} | {row['top1_same']:.3f} |"
        )
    print()
    print("model files (MiB): " + ", ".join(f"{k} {v:.0f}" for k, v in sizes.items()))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": machine(),
                    "threads": args.threads,
                    "chunks": len(texts),
                    "tokens": tokens,
                    "rounds": args.rounds,
                    "rows": rows,
                    "sizes_mib": sizes,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunks", type=int, default=500, help="chunks in the speed sample")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (medians reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch and ORT intra-op threads")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the main table")
    parser.add_argument(
        "--batch-sizes",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[16, 32, 64],
        help="batch sizes of the sweep",
    )
    parser.add_argument(
        "--sweep",
        type=lambda s: [x for x in s.split(",") if x],
        default=["int8-pc"],
        help="int8 models to sweep over batch sizes and sorting ('' for none)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", help="where the ONNX files go (default: a temporary folder)")
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the ONNX files already in --workdir"
    )
    parser.add_argument("--json", help="also write the figures to this file")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kbqa.bench.embedders",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
