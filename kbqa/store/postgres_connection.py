"""Connections to the PostgreSQL server a base lives on (kbqa/store/postgres.py).

The password given in the URI, else `KBQA_STORE_PASSWORD`, else libpq's own (`PGPASSWORD`,
`~/.pgpass`) is used to connect and never written down; every error names the URI without it.
"""

from __future__ import annotations

import os
from typing import Any

from kbqa.errors import KnowledgeBaseError
from kbqa.store.postgres_schema import conninfo
from kbqa.store.remote import Remote


def connect(psycopg: Any, remote: Remote) -> Any:
    """A new autocommit connection; a clear error naming the URI (never its password)."""
    options: dict[str, Any] = {}
    password = remote.password()
    if password:
        options["password"] = password
    try:
        return psycopg.connect(
            conninfo(remote.uri),
            autocommit=True,
            connect_timeout=int(os.environ.get("KBQA_STORE_CONNECT_TIMEOUT", "10")),
            application_name="kbqa",
            **options,
        )
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        if password:
            reason = str(reason).replace(password, "***")
        raise KnowledgeBaseError(
            f"cannot connect to PostgreSQL at {remote.kept_uri}: {reason}"
        ) from None


def lost_connection(where: str, error: BaseException) -> KnowledgeBaseError:
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return KnowledgeBaseError(f"lost the connection to PostgreSQL at {where} ({reason}); try again")


class Guarded:
    """A connection or cursor whose lost connection (server restarted, network gone, session
    killed) is a KnowledgeBaseError naming the server, not a driver traceback; the next use of
    `PostgresRecordStore.db` connects again."""

    def __init__(self, target: Any, where: str, lost: type[BaseException]) -> None:
        self._target, self._where, self._lost = target, where, lost

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            result = getattr(self._target, method)(*args, **kwargs)
        except self._lost as error:
            raise lost_connection(self._where, error) from error
        return self if result is self._target else result

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("execute", *args, **kwargs)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        return self._call("executemany", *args, **kwargs)

    def cursor(self, *args: Any, **kwargs: Any) -> Guarded:
        return Guarded(self._target.cursor(*args, **kwargs), self._where, self._lost)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)
