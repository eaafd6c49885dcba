"""Knowledge bases whose records live in a server (PostgreSQL, Milvus), not in their folder.

Such a base's local folder keeps one small file, `remote.json`: the record store's registered
name, the server's URI without its credentials, and the name the base has on the server. The
manifest itself (embedder, backends, generation) lives on the server, so every process that
points at it (replicas of `kbqa serve` on several machines) shares one knowledge base.

Credentials are never written: a password given in the URI is used for the connection this
process makes and dropped from what is kept. Later connections take it from the environment:
`KBQA_STORE_PASSWORD` (any engine), or the engine's own variables (libpq's `PGPASSWORD` and
`~/.pgpass` for PostgreSQL, `MILVUS_TOKEN` for Milvus).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from kbqa.errors import KnowledgeBaseError

POINTER = "remote.json"
PASSWORD_ENV = "KBQA_STORE_PASSWORD"
#: query parameters that carry a secret (dropped from what is kept, like a URI's password)
_SECRET_PARAMS = frozenset({"password", "token", "secret", "api_key", "sslpassword"})


@dataclass(frozen=True)
class Remote:
    """Where a knowledge base's records live on a server: its URI and its name there."""

    uri: str  # as given (may hold a password: never persist this one)
    name: str  # the base's name on the server (tables, collections)

    @property
    def scheme(self) -> str:
        return scheme_of(self.uri)

    @property
    def kept_uri(self) -> str:
        """The URI as it may be written down: no password, no secret query parameters."""
        return redact(self.uri)

    def password(self) -> str | None:
        """The password given in the URI, else the one in the environment."""
        given = urlsplit(self.uri).password
        return given if given else os.environ.get(PASSWORD_ENV) or None


def scheme_of(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if not scheme:
        raise KnowledgeBaseError(
            f"store URI {redact(uri)!r} names no engine: use postgresql://… or milvus://…"
        )
    return scheme.split("+", 1)[0]  # postgresql+psycopg:// is still PostgreSQL


def redact(uri: str) -> str:
    """`uri` without its password and without query parameters that carry secrets."""
    parts = urlsplit(uri)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _SECRET_PARAMS
        ]
    )
    kept = urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))
    if not netloc and uri.startswith(f"{parts.scheme}://"):  # milvus:///abs/path keeps its //
        kept = kept.replace(f"{parts.scheme}:", f"{parts.scheme}://", 1)
    return kept


@dataclass(frozen=True)
class Pointer:
    records: str  # the record store's registered name
    uri: str  # redacted
    name: str  # the base's name on the server


def read_pointer(folder: Path) -> Pointer | None:
    path = Path(folder) / POINTER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pointer(str(data["records"]), str(data["uri"]), str(data["name"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise KnowledgeBaseError(
            f"{path} is damaged ({error}); write it again with kbqa kb create --store"
        ) from error


def write_pointer(folder: Path, records: str, remote: Remote) -> None:
    """Write `remote.json` atomically (never with credentials)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    body = {"records": records, "uri": remote.kept_uri, "name": remote.name}
    temporary = folder / f"{POINTER}.tmp{os.getpid()}"
    with temporary.open("w", encoding="utf-8") as handle:
        json.dump(body, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, folder / POINTER)


def holds_remote(folder: Path, records: str) -> bool:
    """Whether `folder` points at a knowledge base kept by record store `records`."""
    try:
        pointer = read_pointer(folder)
    except KnowledgeBaseError:
        return True  # a damaged pointer is still a base (opening it says what is wrong)
    return pointer is not None and pointer.records == records


def remote_for(folder: Path, given_uri: str = "") -> Remote | None:
    """The server a folder's base lives on: its pointer's URI, or `given_uri` when that names
    the same server (so a password given this time is used)."""
    pointer = read_pointer(folder)
    if pointer is None:
        return None
    uri = given_uri if given_uri and redact(given_uri) == pointer.uri else pointer.uri
    return Remote(uri, pointer.name)
