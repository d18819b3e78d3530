"""The repositories under test: every behaviour test runs on the SQL (SQLite file) and the memory one; the
PostgreSQL tests get one real server per session (the Debian binaries in a temp dir) and a new database each."""

import re
from itertools import count
from pathlib import Path

import pytest

from livewarden.cases import CaseRepository, MemoryCaseRepository, SqlCaseRepository
from livewarden.testing.postgres import PostgresServer


@pytest.fixture(params=["sql", "memory"])
def repo(request, tmp_path: Path) -> CaseRepository:
    data = tmp_path / "data"
    store = SqlCaseRepository.at(data) if request.param == "sql" else MemoryCaseRepository(data / "evidence")
    yield store
    store.close()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session; the tests that need it are skipped, saying why, without it."""
    ok, why = PostgresServer.available()
    if not ok:
        pytest.skip(why)
    with PostgresServer() as server:
        yield server


_databases = count(1)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request) -> str:
    """The URL of a new, empty database on the session's server (named after the test, for its log)."""
    name = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())
    return postgres_server.new_database(f"t{next(_databases)}_{name}"[:63])
