"""Transformers backends: LLaMA, BLOOM and GLM-4 checkpoints (and converted GGUF files).

One `TransformersBackend` runs any causal LM transformers can load; the helpers here decide where the
weights come from (local folder or hub), the compute dtype, and bitsandbytes INT8/NF4 quantisation.
The load sequence that uses them is `checkpoint.load_checkpoint`.
Heavy imports (torch, transformers) happen inside functions: `kbqa --help` never pays for them.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from kbqa.errors import ModelError
from kbqa.llm.base import ChatBackend, GenerationConfig, LoadInfo, Message
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.chat_format import FileTemplate, normalise
from kbqa.llm.context import fit_messages
from kbqa.llm.special import safe_messages, tokenizer_specials
from kbqa.llm.streaming import IncrementalDecoder, StopFilter

log = logging.getLogger(__name__)

# Special tokens that end a turn in the chat formats kbqa knows; generation stops on any present.
END_OF_TURN_TOKENS = (
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "<|user|>",
    "<|observation|>",
    "<|endoftext|>",
    "<eop>",
    "</s>",
)
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_END = object()


# -- the backend ---------------------------------------------------------------------------------


class _QueueStreamer:
    """Receives token ids from `generate()` (in its thread) and hands them to the consumer."""

    def __init__(self, out: queue.Queue[Any]):
        self.out = out
        self.prompt_seen = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() first pushes the prompt
            self.prompt_seen = True
            return
        self.out.put(value.reshape(-1).tolist())

    def end(self) -> None:
        pass


class TransformersBackend(ChatBackend):
    """A causal LM and its tokenizer, streaming through `generate()` in a worker thread."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        model_name: str,
        context_length: int,
        template: FileTemplate | None = None,
        encode_chat: Callable[[list[Message]], list[int]] | None = None,
        threads: int | None = None,
        info: LoadInfo | None = None,
        parameters: int | None = None,
    ):
        self.model = model.eval()
        # Counted by the loader before any quantisation packs the weights (checkpoint.py).
        self.parameters = parameters
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.context_length = context_length
        # The tokenizer's own chat template wins; a file template is the fallback (see registry).
        self.template = None if (template is None or _has_chat_template(tokenizer)) else template
        self._encode_chat = encode_chat  # a checkpoint's own prompt builder (ChatGLM3)
        self.threads = threads
        self.info = info
        self.eos_ids = self._end_token_ids()
        # Strings the tokenizer would read as special tokens: broken in message text (special.py).
        self.specials = tokenizer_specials(tokenizer)
        self.decode_threads = _decode_threads(model, threads)
        self.pad_id = _first_int(tokenizer.pad_token_id, *self.eos_ids, 0)

    # -- prompts -------------------------------------------------------------------------------
    @property
    def chat_format(self) -> str:
        if self._encode_chat is not None:
            return "checkpoint"
        return self.template.name if self.template else "tokenizer"

    def format(self, messages: list[Message]) -> str:
        """The prompt text for `messages`, ending where the reply starts. Message text never
        holds a special token: only the template writes them (special.py)."""
        messages = safe_messages(messages, self.specials)
        if self.template is not None:
            return self.template.render(messages)
        normal = normalise(messages)
        try:
            return self.tokenizer.apply_chat_template(
                normal, tokenize=False, add_generation_prompt=True
            )
        except (
            Exception
        ) as error:  # some templates refuse a system role: fold it into the user turn
            if normal and normal[0]["role"] == "system" and len(normal) > 1:
                folded = [
                    {
                        "role": normal[1]["role"],
                        "content": normal[0]["content"] + "\n\n" + normal[1]["content"],
                    }
                ]
                return self.tokenizer.apply_chat_template(
                    folded + normal[2:], tokenize=False, add_generation_prompt=True
                )
            raise ModelError(f"the chat template of {self.model_name} failed: {error}") from error

    def encode_messages(self, messages: list[Message]) -> list[int]:
        if self._encode_chat is not None:
            return self._encode_chat(safe_messages(messages, self.specials))
        text = self.format(messages)
        # Chat templates write their special tokens themselves; file templates say what they need.
        special = self.template.special_tokens if self.template is not None else False
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_tokens(self, text: str) -> int:
        return len(self._ids(text))

    def continuation_logprobs(
        self, prefixes: list[str], continuation: str, max_prefix_tokens: int, suffix: str = ""
    ) -> list[list[float]] | None:
        import torch

        tail, after = self._ids(suffix), self._ids(continuation)
        rows = [self._ids(prefix)[:max_prefix_tokens] + tail for prefix in prefixes]
        length = max(len(row) for row in rows) + len(after)
        batch = torch.full((len(rows), length), self.pad_id or 0, dtype=torch.long)
        mask = torch.zeros_like(batch)
        for index, row in enumerate(rows):
            batch[index, : len(row) + len(after)] = torch.tensor(row + after)
            mask[index, : len(row) + len(after)] = 1
        device = _model_device(self.model)
        with torch.inference_mode():
            logits = self.model(input_ids=batch.to(device), attention_mask=mask.to(device)).logits
        logp = torch.log_softmax(logits.float(), -1).cpu()
        target = torch.tensor(after)
        return [
            logp[index, torch.arange(len(row) - 1, len(row) + len(after) - 1), target].tolist()
            for index, row in enumerate(rows)
        ]

    def count_message_tokens(self, messages: list[Message]) -> int:
        return len(self.encode_messages(messages))

    def _end_token_ids(self) -> list[int]:
        ids: list[int] = []
        gen = getattr(self.model, "generation_config", None)
        for value in (getattr(gen, "eos_token_id", None), self.tokenizer.eos_token_id):
            ids.extend(value if isinstance(value, list) else [value] if value is not None else [])
        vocab = self.tokenizer.get_vocab()
        stops = self.template.stop if self.template else ()
        for token in (*END_OF_TURN_TOKENS, *stops):
            if token in vocab and token in self.tokenizer.all_special_tokens + list(
                getattr(self.tokenizer, "added_tokens_encoder", {})
            ):
                ids.append(vocab[token])
        return list(dict.fromkeys(int(i) for i in ids))

    # -- generation ----------------------------------------------------------------------------
    def stream(self, messages: list[Message], config: GenerationConfig) -> Iterator[str]:
        kept, budget = fit_messages(self, messages, config.max_new_tokens)
        ids = self.encode_messages(kept)
        yield from self.stream_ids(ids, config, max_new_tokens=budget)

    def stream_ids(
        self,
        ids: list[int],
        config: GenerationConfig,
        *,
        max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> Iterator[str]:
        """Stream the continuation of the token ids `ids` (benchmarks use `min_new_tokens`)."""
        import torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        stop_event = threading.Event()
        pieces: queue.Queue[Any] = queue.Queue()

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full((input_ids.shape[0],), stop_event.is_set(), dtype=torch.bool)

        device = _model_device(self.model)
        input_ids = torch.tensor([ids], dtype=torch.long, device=device)
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "max_new_tokens": max_new_tokens or config.max_new_tokens,
            "min_new_tokens": min_new_tokens or None,
            "eos_token_id": self.eos_ids or None,
            "pad_token_id": self.pad_id,
            "streamer": _QueueStreamer(pieces),
            "stopping_criteria": StoppingCriteriaList([_Stop()]),
        }
        if getattr(self.model, "_can_compile_fullgraph", False):
            # A static KV cache, preallocated for this prompt and answer: transformers' default
            # cache grows by concatenation, copying every layer's keys and values at each token;
            # after a 1,000-token RAG prompt decoding was 25-30% faster without those copies.
            # No torch.compile: it would need a compiler at run time (and pays off on GPUs only).
            kwargs.update(cache_implementation="static", disable_compile=True)
        if config.temperature > 0:
            kwargs.update(
                do_sample=True, temperature=config.temperature, top_p=config.top_p, top_k=0
            )
        else:  # greedy: clear the checkpoint's sampling defaults so generate() does not warn
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)

        if self.decode_threads:
            kwargs["logits_processor"] = LogitsProcessorList([_DecodeThreads(self.decode_threads)])

        def work() -> None:
            # A new thread starts with torch's process-wide count (restored below after decoding).
            prefill_threads = self.threads or torch.get_num_threads()
            try:
                if self.threads or self.decode_threads:
                    torch.set_num_threads(prefill_threads)
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.model.generate(**kwargs)
            except BaseException as error:  # handed to the consumer, raised there
                pieces.put(error)
            finally:
                if self.decode_threads:
                    # torch hands the last count set to threads started later (an embedder's)
                    torch.set_num_threads(prefill_threads)
                pieces.put(_END)

        decoder = IncrementalDecoder(self.tokenizer, ids)
        stopper = StopFilter(config.stop + (self.template.stop if self.template else ()))
        worker = threading.Thread(target=work, name="kbqa-generate", daemon=True)
        worker.start()
        try:
            while True:
                item = pieces.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise ModelError(f"{self.model_name} failed while generating: {item}") from item
                text = stopper.push(decoder.push(item))
                if text:
                    yield text
                if stopper.stopped:
                    break
            if not stopper.stopped:
                tail = stopper.push(decoder.flush()) + stopper.flush()
                if tail:
                    yield tail
        finally:
            stop_event.set()  # the consumer stopped early (stop string, closed generator)
            worker.join()


# Below this size of weights a decoding step is a few milliseconds of work in ~200 small ops:
# splitting each op over 2 threads costs more in wake-ups than it saves. SmolLM2 (117 MiB as
# int4) decoded at 29-32 tokens/s on 1 thread, idle or beside a busy core, against 18-27 on 2
# with OpenMP's threads sleeping between ops and 12 beside a busy core with them spinning
# (docs/bench/llm.md). The prompt's prefill, hundreds of tokens at once, keeps every thread.
SINGLE_THREAD_DECODE_BELOW = 1 << 30


def _decode_threads(model: Any, threads: int | None) -> int | None:
    """Threads for the decoding steps (None: the same as the prefill's)."""
    if _model_device(model).type != "cpu" or (threads is not None and threads <= 1):
        return None
    return 1 if weights_bytes(model) < SINGLE_THREAD_DECODE_BELOW else None


class _DecodeThreads:
    """A logits processor that switches the generating thread to `threads` after the prefill.

    generate() calls it once per new token, first right after the prompt's forward pass: the
    one place it offers between the prefill and the decoding steps.
    """

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.switched = False

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if not self.switched:
            import torch

            torch.set_num_threads(self.threads)
            self.switched = True
        return scores


def _has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _first_int(*values: Any) -> int:
    return next(int(v) for v in values if v is not None)


def _model_device(model: Any) -> Any:
    try:
        return next(model.parameters()).device
    except StopIteration:  # pragma: no cover - a model without parameters
        import torch

        return torch.device("cpu")


# -- where the weights come from ------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    ref: str  # what from_pretrained gets: an absolute folder or a hub name
    local: bool  # True: never touch the network (a folder, or a hub name already in the cache)


def looks_like_path(name: str) -> bool:
    return (
        name.startswith(("/", "./", "../", "~", "\\"))
        or name.endswith((".gguf", ".bin", ".safetensors"))
        or os.sep in name.strip("/").replace("/", "", 1)  # more than one slash: not owner/name
        or (len(name) > 1 and name[1] == ":")  # a Windows drive
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers, found out in seconds rather than minutes of retries."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection(
            (endpoint.hostname or "huggingface.co", port), timeout=timeout
        ):
            return True
    except OSError:
        return False


def resolve_source(model: str, spec: ModelSpec | None = None) -> Source:
    """A local folder, or a hub name that is cached or reachable; a clear ModelError otherwise."""
    path = Path(model).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path} is a file; a transformers model is a folder with config.json")
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} has no config.json: it is not a transformers model folder")
        return Source(str(path.resolve()), local=True)
    if looks_like_path(model):
        raise ModelError(f"model not found: {path} does not exist")
    hub = spec.hub if spec is not None else model
    if spec is not None and not hub:
        raise ModelError(
            f"{spec.name} has no checkpoint to download ({spec.notes or 'not published on the hub'});"
            " build it and pass its folder as the model"
        )
    assert hub is not None
    if not _HUB_NAME.match(hub):
        raise ModelError(
            f"unknown model '{model}': not in `kbqa models`, not an existing path, not a hub name"
        )
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(hub, "config.json"), str):
        return Source(hub, local=True)
    if not hub_reachable():
        raise ModelError(
            f"'{hub}' is not downloaded and the Hugging Face hub cannot be reached (offline?). "
            f"Download it on a connected machine and pass its folder as the model."
        )
    return Source(hub, local=False)


# -- precision and quantisation -------------------------------------------------------------------


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cpu_supports_bf16() -> bool:
    """Native bf16 dot products (AVX512-BF16 or AMX): bf16 then halves memory traffic for free."""
    try:
        import torch

        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except Exception:
        return False


def pick_dtype(device: str, requested: str | None = None, quantize: str = "none") -> Any:  # noqa: ARG001
    """The compute dtype: what was asked for, else the fastest this device runs well."""
    import torch

    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if requested and requested != "auto":
        if requested not in table:
            raise ModelError(f"unknown dtype '{requested}' (fp32, bf16, fp16 or auto)")
        return table[requested]
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # With native bf16 (AVX512-BF16/AMX) bf16 halves memory traffic, and a prefill's matmuls run
    # about twice as fast as fp32; bitsandbytes' CPU 4-bit kernel computes in bf16 anyway.
    return torch.bfloat16 if cpu_supports_bf16() else torch.float32


def dtype_name(dtype: Any) -> str:
    return {"torch.float32": "fp32", "torch.bfloat16": "bf16", "torch.float16": "fp16"}.get(
        str(dtype), str(dtype)
    )


_QUANT_CHECKED: dict[tuple[str, str], str | None] = {}


def int4_kernel(device: str) -> str:
    """Which kernel runs `--quantize int4` here: torch's packed int4 on CPU, else bitsandbytes NF4.

    On CPU its matrix-vector products took 15-31 us against bitsandbytes' 190-290 us, and SmolLM2
    decoded at 30.4 against 24.2 tokens/s (`kbqa bench llm`, docs/bench/llm.md); `--quantize nf4`
    still asks for bitsandbytes explicitly.
    """
    if device == "cpu":
        from kbqa.llm.packed_int4 import packed_int4_available

        if packed_int4_available():
            return "torch"
    return "bitsandbytes"


def check_quantization(quantize: str, device: str) -> None:
    """Raise a clear ModelError if `quantize` cannot run here (tried on a tiny layer)."""
    if quantize == "none" or (quantize == "int4" and int4_kernel(device) == "torch"):
        return
    key = (quantize, device)
    if key not in _QUANT_CHECKED:
        _QUANT_CHECKED[key] = _probe_bitsandbytes(quantize, device)
    problem = _QUANT_CHECKED[key]
    if problem:
        raise ModelError(problem)


def _probe_bitsandbytes(quantize: str, device: str) -> str | None:
    _quiet_bitsandbytes()  # before the import: it logs about an optional kernel while importing
    try:
        import bitsandbytes as bnb
        import torch
    except Exception as error:  # ImportError, or a broken native library
        return (
            f"--quantize {quantize} needs bitsandbytes, which cannot be imported here ({error}). "
            "Install it (pip install bitsandbytes==0.50.2) or use --quantize none."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if quantize in ("int4", "nf4"):
                layer = bnb.nn.Linear4bit(
                    64, 64, bias=False, compute_dtype=torch.float32, quant_type="nf4"
                )
            else:
                layer = bnb.nn.Linear8bitLt(64, 64, bias=False, has_fp16_weights=False)
            layer = layer.to(device)
            layer(torch.ones(1, 64, device=device))
    except Exception as error:
        return (
            f"bitsandbytes cannot run {quantize} on this platform ({device}): {error}. "
            "Use --quantize none."
        )
    return None


def quiet_transformers() -> None:
    """No per-tensor progress bars or advisory warnings from transformers on kbqa's stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _quiet_bitsandbytes() -> None:
    # bitsandbytes logs that it could not fetch an optional CPU kernel from the hub (offline here),
    # and warns on every INT8 matmul that it casts fp32 inputs to fp16: neither is actionable.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")


def quantization_config(quantize: str, compute_dtype: Any) -> Any:
    from transformers import BitsAndBytesConfig

    if quantize in ("int4", "nf4"):
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=False,  # double quantisation saves 0.4 bit/weight, costs speed
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def quantize_note(quantize: str, packed: bool) -> str:
    if packed:
        return "int4 through torch's packed CPU kernel (groups of 32, scale and zero point)"
    return "4-bit weights as bitsandbytes NF4"


def weights_bytes(model: Any) -> int:
    try:
        return int(model.get_memory_footprint())
    except Exception:
        return sum(p.numel() * p.element_size() for p in model.parameters())


def context_from_config(config: Any, spec: ModelSpec | None, default: int = 2048) -> int:
    for attr in ("max_position_embeddings", "seq_length", "max_sequence_length", "n_positions"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return spec.max_length if spec is not None else default


def _wrap_load_error(what: str, source: str, error: BaseException) -> ModelError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, ModelError):
        return error
    hint = ""
    lowered = text.lower()
    if any(
        w in lowered
        for w in (
            "header",
            "truncat",
            "deserializ",
            "invalid",
            "corrupt",
            "eof",
            "unpickl",
            "incomplete",
        )
    ):
        hint = " The file looks truncated or corrupt: download it again."
    return ModelError(f"could not load the {what} from {source}: {text}.{hint}")
