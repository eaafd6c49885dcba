"""The per-file limits' messages and checks, shared by the loaders and the reader process.

`limits` is an IngestSettings, or any object with its fields (the reader process gets them as a
plain namespace, so it needs no pydantic).
"""

from __future__ import annotations

from typing import Any

from kbqa.errors import LoaderError


def memory_message(limits: Any) -> str:
    return f"needs more than {limits.max_memory_mb} MB to read (ingest.max_memory_mb)"


def time_message(limits: Any) -> str:
    return f"over the {limits.max_seconds:g} s per-file time limit (ingest.max_seconds)"


def chars_error(limits: Any) -> LoaderError:
    return LoaderError(
        f"more than {limits.max_chars:,} characters of text, over the per-file limit "
        "(ingest.max_chars)"
    )


def check_chars(count: int, limits: Any) -> None:
    """Raise the max_chars LoaderError when `count` characters are over the limit."""
    if count > limits.max_chars:
        raise chars_error(limits)


def inflated_error(limits: Any, what: str = "its compressed parts") -> LoaderError:
    return LoaderError(
        f"{what} inflate to more than {limits.max_inflated_mb} MB, over the per-file limit "
        "(ingest.max_inflated_mb)"
    )


def pages_error(pages: int, limits: Any) -> LoaderError:
    return LoaderError(
        f"has {pages:,} pages, over the {limits.max_pages}-page limit (ingest.max_pages)"
    )
