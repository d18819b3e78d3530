"""Two processes writing one SQLite store at the same time: one audit chain, nothing lost, nothing forked."""

from pathlib import Path

from livewarden.cases import CaseStore
from tests.cases.support import two_writers_one_chain


def test_two_processes_append_to_one_chain(tmp_path: Path):
    CaseStore.at(tmp_path / "data").close()  # the schema made before the writers start
    two_writers_one_chain(f"sqlite:///{tmp_path / 'data' / 'livewarden.db'}", tmp_path / "sync")
