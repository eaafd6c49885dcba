"""GGUF files: validate, then run with llama-cpp-python (when installed) or transformers.

transformers' GGUF loader dequantises the file into a regular model, which costs tens of seconds
(it parses the file three times: config, tokenizer, weights). kbqa does that once per file and keeps
the result as a safetensors folder under the settings' data directory, `<home>/cache/llm/` (never a
pickle), so later loads are a plain `from_pretrained` of a local folder: a few seconds.

Which runtime runs a GGUF file is decided in one place, `choose_runtime`. Reading the file itself
(header, tensor table) is gguf_file.py, shared with llamacpp.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.catalog import ModelSpec
from kbqa.llm.gguf_file import GGUFInfo, read_gguf_info, resolve_gguf

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the converted folder's layout changes


def transformers_supports(arch: str) -> bool:
    from transformers.integrations.gguf import GGUF_ARCHS
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return arch in GGUF_SUPPORTED_ARCHITECTURES or arch in GGUF_ARCHS


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


# -- conversion cache ----------------------------------------------------------------------------


def cache_root(data_dir: Path | None = None) -> Path:
    """Converted models' folder under `data_dir`, the settings' home (`Settings.home`); None:
    the default settings' home (KBQA_HOME or ~/.kbqa), for callers without settings.

    KBQA_MODEL_CACHE names one folder for every home instead (several homes on one machine,
    the test run: converting the default model takes about 30 s). Conversions are written to a
    temporary folder and renamed, so processes sharing it never see half a model."""
    shared = os.environ.get("KBQA_MODEL_CACHE")
    if shared:
        return Path(shared).expanduser()
    if data_dir is None:
        from kbqa.settings import default_home

        data_dir = default_home()
    return Path(data_dir).expanduser() / "cache" / "llm"


def cache_dir_for(info: GGUFInfo, data_dir: Path | None = None) -> Path:
    stat = info.path.stat()
    key = f"{info.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_FORMAT}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root(data_dir) / f"{info.path.stem}-{digest}"


@contextmanager
def _new_folder(target: Path, prefix: str) -> Iterator[Path]:
    """A temporary folder beside `target`, moved into its place when the block ends without an
    error (atomic: a reader sees no folder or a whole one) and removed otherwise."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "kbqa-source.json").is_file():  # not another process winning the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def converted_folder(info: GGUFInfo, data_dir: Path | None = None) -> Path:
    """The safetensors folder for this GGUF under `data_dir`, converting it on first use."""
    target = cache_dir_for(info, data_dir)
    if (target / "kbqa-source.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    log.info("converting %s to a safetensors folder (once): %s", info.path.name, target)
    try:
        with _new_folder(target, ".convert-") as tmp:
            _convert(info, tmp)
            (tmp / "kbqa-source.json").write_text(
                json.dumps(
                    {"gguf": str(info.path), "size": info.size, "format": CACHE_FORMAT}, indent=1
                )
            )
    except ModelError:
        raise
    except Exception as error:
        raise ModelError(f"could not convert {info.path}: {error}") from error
    log.info("converted in %.1f s", time.perf_counter() - start)
    return target


def _convert(info: GGUFInfo, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kbqa.llm.hf import quiet_transformers

    quiet_transformers()
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    folder, name = str(info.path.parent), info.path.name
    progress = gguf_utils.tqdm
    # Its per-tensor progress bar is noise on the CLI's stderr and in logs; kbqa logs the step.
    gguf_utils.tqdm = lambda iterable, *args, **kwargs: iterable  # type: ignore[assignment]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            loaded = AutoModelForCausalLM.from_pretrained(
                folder, gguf_file=name, dtype=torch.float32
            )
    finally:
        gguf_utils.tqdm = progress
    # A GGUF-loaded model refuses save_pretrained: copy its weights into a plain model instead.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.architectures = [type(loaded).__name__]
    with torch.device("meta"):
        fresh = type(loaded)(config)
    fresh.load_state_dict(loaded.state_dict(), assign=True, strict=False)
    fresh.tie_weights()
    missing = [n for n, p in fresh.named_parameters() if p.device.type == "meta"]
    if missing:
        raise ModelError(f"converting {info.path.name} left weights unset: {missing[:3]}")
    if loaded.generation_config is not None:
        fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def quantized_folder(base: Path, quantize: str, compute: Any) -> Path:
    """`base` saved again as bitsandbytes NF4 (once): a later load skips quantising (seconds, not tens)."""
    from kbqa.llm.hf import dtype_name

    target = base.with_name(f"{base.name}-nf4-{dtype_name(compute)}")
    if (target / "kbqa-source.json").is_file():
        return target
    from transformers import AutoModelForCausalLM

    from kbqa.llm.hf import _quiet_bitsandbytes, quantization_config, quiet_transformers

    quiet_transformers()
    start = time.perf_counter()
    log.info("quantising %s to NF4 (once): %s", base.name, target)
    try:
        with _new_folder(target, ".nf4-") as tmp:
            _quiet_bitsandbytes()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = AutoModelForCausalLM.from_pretrained(
                    base,
                    dtype=compute,
                    quantization_config=quantization_config(quantize, compute),
                    device_map={"": "cpu"},
                )
                model.save_pretrained(tmp, safe_serialization=True)
            for item in base.iterdir():  # tokenizer and the source note travel along
                if (
                    item.is_file()
                    and not (tmp / item.name).exists()
                    and item.suffix != ".safetensors"
                ):
                    shutil.copy2(item, tmp / item.name)
    except Exception as error:
        raise ModelError(f"could not save the NF4 copy of {base}: {error}") from error
    log.info("quantised in %.1f s", time.perf_counter() - start)
    return target


# -- loading -------------------------------------------------------------------------------------


def choose_runtime(runtime: str | None, quantize: str) -> str:
    """The one place a GGUF file's runtime is chosen: "llamacpp" or "transformers".

    `runtime` forces one (the llamacpp backend, the benchmark); otherwise llama.cpp when it is
    installed and no re-quantisation is asked (it runs the file's own), else transformers.
    """
    if runtime not in (None, "llamacpp", "transformers"):
        raise ModelError(f"unknown GGUF runtime '{runtime}' (llamacpp or transformers)")
    chosen = runtime or (
        "llamacpp" if quantize == "none" and llama_cpp_available() else "transformers"
    )
    if chosen == "llamacpp" and quantize != "none":
        raise ModelError(
            "llama.cpp runs the GGUF file's own quantisation: --quantize applies to the "
            "transformers runtime only (use --quantize none with llama.cpp)"
        )
    return chosen


def load_gguf(
    ref: str,
    *,
    model_name: str,
    spec: ModelSpec | None = None,
    quantize: str = "none",
    context_length: int | None = None,
    threads: int | None = None,
    dtype: str | None = None,
    runtime: str | None = None,
    requantize: bool = True,
    data_dir: Path | None = None,
) -> Any:
    """A GGUF model, run by the runtime `choose_runtime` picks.

    With transformers, the file is converted once into a folder under `data_dir` (the settings'
    home), and a catalogue model's `default_quantize` applies when --quantize is none, unless
    `requantize` is False (the benchmark's fp32 column).
    """
    start = time.perf_counter()
    path = resolve_gguf(ref)
    info = read_gguf_info(path)
    if choose_runtime(runtime, quantize) == "llamacpp":
        from kbqa.llm.llamacpp import load_llamacpp

        return load_llamacpp(
            path,
            model_name=model_name,
            spec=spec,
            context_length=context_length,
            threads=threads,
            info=info,
        )
    # Asked only before a conversion: importing transformers' GGUF tables costs seconds per load.
    converted = (cache_dir_for(info, data_dir) / "kbqa-source.json").is_file()
    if not converted and not transformers_supports(info.architecture):
        hint = (
            " (install llama-cpp-python to run it: pip install 'kbqa[llamacpp]')"
            if not llama_cpp_available()
            else ""
        )
        raise ModelError(
            f"{path.name} is a '{info.architecture}' model, which transformers' GGUF loader does not read{hint}"
        )
    folder = converted_folder(info, data_dir)
    from kbqa.llm.checkpoint import Family, load_checkpoint
    from kbqa.llm.hf import Source, check_quantization, int4_kernel, pick_device, pick_dtype

    notes: list[str] = []
    if quantize == "none" and requantize and spec is not None and spec.default_quantize:
        try:
            check_quantization(spec.default_quantize, pick_device())
            quantize = spec.default_quantize
            notes.append(f"the GGUF's 4-bit weights run as int4 ({spec.name}'s fastest path)")
        except ModelError as error:  # no bitsandbytes here: run the dequantised weights
            notes.append(f"not re-quantised: {error}")
    prequantized = None
    device = pick_device()
    if quantize == "nf4" or (quantize == "int4" and int4_kernel(device) == "bitsandbytes"):
        # bitsandbytes: quantise once and keep the NF4 copy (torch's int4 packs in under a second)
        check_quantization(quantize, device)
        folder = quantized_folder(folder, quantize, pick_dtype(device, dtype, quantize))
        prequantized = quantize
    backend = load_checkpoint(
        model_name,
        Family("gguf"),
        spec=spec,
        quantize=quantize,
        context_length=context_length or info.context_length,
        threads=threads,
        dtype=dtype,
        source=Source(str(folder), local=True),
        prequantized=prequantized,
    )
    assert backend.info is not None
    backend.parameters = info.parameters or backend.parameters  # the file's tensor table
    backend.info.source = str(path)
    backend.info.load_seconds = time.perf_counter() - start
    backend.info.notes.extend(notes)
    return backend
