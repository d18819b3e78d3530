"""The repositories under test: every behaviour test runs on the SQL (SQLite file) and the memory one (the
PostgreSQL server and databases are in tests/conftest.py)."""

from pathlib import Path

import pytest

from livewarden.cases import CaseRepository, MemoryCaseRepository, SqlCaseRepository


@pytest.fixture(params=["sql", "memory"])
def repo(request, tmp_path: Path) -> CaseRepository:
    data = tmp_path / "data"
    store = SqlCaseRepository.at(data) if request.param == "sql" else MemoryCaseRepository(data / "evidence")
    yield store
    store.close()
