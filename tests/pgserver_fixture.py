"""A real PostgreSQL 16 + pgvector for the tests: the `pgserver` wheel on a unix socket.

Import the fixtures into a test module (or list this module in a conftest's `pytest_plugins`):

    from tests.pgserver_fixture import pg_database, pg_server  # noqa: F401

- `pg_server` (session): the server, started once (about a second) and stopped when the session
  ends; its URI is `pg_server.uri` (user postgres, no password, database postgres).
- `pg_database` (per test): the URI of a fresh, empty database on it, dropped afterwards, so
  bases of the same name in two tests never meet.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

_numbers = itertools.count()


@dataclass(frozen=True)
class PgServer:
    uri: str  # postgresql://postgres:@/postgres?host=<socket folder>
    folder: Path

    def database_uri(self, database: str) -> str:
        parts = urlsplit(self.uri)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def execute(self, statement: str) -> None:
        """Run one statement on the server's postgres database (autocommit)."""
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as connection:
            connection.execute(statement)


def start_server(folder: Path) -> tuple[PgServer, object]:
    pgserver = pytest.importorskip("pgserver")
    os.environ.setdefault("XDG_RUNTIME_DIR", str(folder))  # platformdirs warns without one
    server = pgserver.get_server(str(folder), cleanup_mode="stop")
    return PgServer(server.get_uri(), folder), server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    pytest.importorskip("psycopg")
    # Not under pytest's basetemp: a pytest session started meanwhile (another checkout's) prunes
    # old basetemps, data directory and socket included. A short path: a socket's path must fit
    # in 107 bytes.
    folder = Path(tempfile.mkdtemp(prefix="kbqa-pg-"))
    found, server = start_server(folder)
    try:
        yield found
    finally:
        cleanup = getattr(server, "cleanup", None)
        if cleanup is not None:
            cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    name = f"kbqa_test_{os.getpid()}_{next(_numbers)}"
    pg_server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_server.database_uri(name)
    finally:
        pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
