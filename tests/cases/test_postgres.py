"""The case store on a real PostgreSQL server (started by the tests, see conftest): the migrations and
`livewarden db upgrade`, the repository's behaviour tests as they run on SQLite, the refusal to open a database
not at head, and two processes appending to one audit chain (the chain head locked with SELECT ... FOR UPDATE),
also while the server restarts under them."""

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from livewarden.cases import SqlCaseRepository, migrate
from livewarden.cases.audit import GENESIS, entry_hash
from livewarden.cli import app
from livewarden.errors import LivewardenError
from tests.cases.support import (WRITER_THROUGH_OUTAGES, fill_case_ids_of_existing_entries, run_together,
                                 two_writers_one_chain)
from tests.cases.test_store import record_all, signal_at

# The behaviour tests of test_store, collected here again: in this module `repo` (below) is a PostgreSQL store,
# so each runs the very same checks on the real server. (`setup` is test_store's fixture, built on `repo`.)
from tests.cases.test_store import (  # noqa: F401
    setup,
    test_a_batch_is_recorded_whole_or_not_at_all,
    test_a_failed_record_leaves_nothing_behind,
    test_a_log_cut_short_at_its_end_no_longer_matches_its_head,
    test_append_audit_continues_the_chain,
    test_audit_chain_detects_tampering,
    test_records_are_plain_frozen_dataclasses,
    test_reopen_closes_the_stale_alert,
    test_shadow_alerts_are_recorded_and_can_be_left_out,
    test_threads_appending_at_once_keep_one_chain,
    test_updates_change_one_row,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def repo(postgres_url: str, tmp_path: Path):
    """A PostgreSQL store at head, as an operator has it after `livewarden db upgrade`."""
    migrate.upgrade(postgres_url)
    store = SqlCaseRepository(postgres_url, tmp_path / "data" / "evidence")
    yield store
    store.close()


def test_the_server_is_a_real_postgresql(postgres_url: str):
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar()
        fsync = connection.execute(text("SHOW fsync")).scalar()
    engine.dispose()
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert int(version.split(".")[0]) >= 13 and fsync == "off"


def test_upgrade_from_empty_then_again(postgres_url: str):
    assert migrate.current(postgres_url) is None
    assert migrate.upgrade(postgres_url) == (None, migrate.head())
    assert migrate.current(postgres_url) == migrate.head()
    assert migrate.upgrade(postgres_url) == (migrate.head(), migrate.head())
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        head = connection.execute(text("SELECT id, last_hash, entries FROM audit_head")).all()
    engine.dispose()
    assert {"alerts", "audit_log", "audit_head", "alembic_version", "cases"} <= tables
    assert head == [(1, GENESIS, 0)]


def test_upgrade_in_steps_keeps_the_rows_and_the_chain(postgres_url: str, tmp_path: Path):
    """A database left at the first revision with alerts and a chain in it: 0002 starts the chain head from the
    log, 0003 alters `alerts` in place (plain ALTER TABLE on PostgreSQL, no batch copy)."""
    assert migrate.upgrade(postgres_url, to="0001") == (None, "0001")
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        for i, status in ((1, "closed"), (2, "open")):
            connection.execute(text(
                "INSERT INTO alerts VALUES (:id, 'deals', 'unauthorized_brand', 'nova', 'red_flag', :status, false,"
                " 'm', :t, :t, 0.95, 3, 1000.0, 1001.0, 1002.0, CAST(:evidence AS JSON), CAST('[]' AS JSON))"),
                {"id": i, "status": status, "t": 10.0 * i, "evidence": json.dumps([f"evidence/deals/{i:06d}.jpg"])})
        prev = GENESIS
        for i, (action, alert_id) in enumerate([("alert_opened", 1), ("alert_closed", 1), ("alert_opened", 2)], 1):
            at, detail = 1700000000.0 + i, {"n": i}
            digest = entry_hash(prev, at, "system", action, alert_id, detail)
            connection.execute(text("INSERT INTO audit_log VALUES (:id, :at, 'system', :action, :alert_id,"
                                    " CAST(:detail AS JSON), :prev, :hash)"),
                               {"id": i, "at": at, "action": action, "alert_id": alert_id,
                                "detail": json.dumps(detail), "prev": prev, "hash": digest})
            prev = digest
        # rows inserted with explicit ids: move the sequences on, as rows written through the app would have
        connection.execute(text("SELECT setval(pg_get_serial_sequence('alerts', 'id'), 2)"))
        connection.execute(text("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), 3)"))
    engine.dispose()

    assert migrate.upgrade(postgres_url) == ("0001", migrate.head())
    store = SqlCaseRepository(postgres_url, tmp_path / "evidence")
    try:
        assert [(a.id, a.status, a.platform, a.seller) for a in store.alerts()] == [
            (1, "closed", "default", None), (2, "open", "default", None)]
        assert store.verify_audit() == (True, None)
        entry = store.append_audit("moderator:ana", "case_note", 2, {"note": "seen"})
        assert entry.id == 4 and entry.prev_hash == prev and store.verify_audit() == (True, None)
    finally:
        store.close()


def test_db_upgrade_command_takes_the_url_and_hides_its_password(postgres_url: str, postgres_server):
    runner = CliRunner()
    first = runner.invoke(app, ["db", "upgrade", "--url", postgres_url])
    assert first.exit_code == 0, first.output
    assert "upgraded" in first.output and f"(empty) -> {migrate.head()}" in first.output, first.output
    assert postgres_server.password not in first.output and "livewarden:***@127.0.0.1" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--url", postgres_url])
    assert again.exit_code == 0 and "up to date" in again.output, again.output
    assert migrate.current(postgres_url) == migrate.head()


def test_0004_fills_the_case_of_existing_audit_entries_in_postgres(postgres_url: str):
    assert fill_case_ids_of_existing_entries(postgres_url) == [(1, 7), (2, None)]


def test_a_database_not_at_head_is_refused(postgres_url: str, tmp_path: Path):
    """The repository upgrades only an embedded SQLite store; a server's schema is the operator's to move."""
    with pytest.raises(LivewardenError, match=r"schema none, .* run `livewarden db upgrade`"):
        SqlCaseRepository(postgres_url, tmp_path / "evidence")
    assert migrate.current(postgres_url) is None  # refused, and left alone

    migrate.upgrade(postgres_url, to="0002")
    with pytest.raises(LivewardenError, match=rf"schema 0002, this livewarden needs {migrate.head()}: "
                                              r"run `livewarden db upgrade`"):
        SqlCaseRepository(postgres_url, tmp_path / "evidence")
    assert migrate.current(postgres_url) == "0002"

    migrate.upgrade(postgres_url)
    SqlCaseRepository(postgres_url, tmp_path / "evidence").close()


def test_alert_is_committed_with_evidence_files(setup, postgres_url: str):
    """test_store's first test, with the second connection made to the PostgreSQL database."""
    policy, store = setup
    [alert] = record_all(policy, store, [signal_at(1.0, 0.95)])
    other = SqlCaseRepository(postgres_url, store.evidence_dir)
    try:
        [row] = other.alerts()
    finally:
        other.close()
    assert (row.id, row.room_id, row.rule, row.subject, row.status) == (alert.id, "deals", "unauthorized_brand", "nova", "open")
    assert row.to_dict() == alert.to_dict()
    crop, full = row.evidence
    assert Path(crop).is_file() and Path(full).is_file()


UPGRADER = r"""
import sys, time
from pathlib import Path
from livewarden.cases import migrate

url, sync, tag = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
import alembic.command  # imported before the start line, so the two upgrades race and do not queue on imports
(sync / f"ready-{tag}").touch()
while not (sync / "go").exists():
    time.sleep(0.001)
print(migrate.upgrade(url))
"""

def test_two_processes_upgrading_at_once_take_turns(postgres_url: str, tmp_path: Path):
    """`upgrade` holds an advisory lock: the second waits, then finds the schema at head (no "already exists")."""
    outputs = run_together(UPGRADER, tmp_path / "sync", postgres_url)
    head = migrate.head()
    assert sorted(outputs) == sorted([f"(None, '{head}')\n", f"('{head}', '{head}')\n"]), outputs
    assert migrate.current(postgres_url) == head


def test_two_processes_append_to_one_chain(postgres_url: str, tmp_path: Path):
    migrate.upgrade(postgres_url)
    two_writers_one_chain(postgres_url, tmp_path / "sync")


def test_two_writers_keep_one_chain_across_a_postgres_restart(own_postgres, tmp_path: Path):
    """Two processes append to the audit chain while PostgreSQL is stopped and started again under them (each
    waits out the outage and tries the same append again, as a policy process does): every append is there, and
    the chain verifies as one chain, never forked."""
    import threading
    import time

    from livewarden.cases import CaseStore

    url = own_postgres.new_database("restart")
    migrate.upgrade(url)
    appends, outputs = 300, []
    writers = threading.Thread(target=lambda: outputs.extend(
        run_together(WRITER_THROUGH_OUTAGES, tmp_path / "sync", url, str(appends))))
    writers.start()
    time.sleep(1.5)  # both are appending
    own_postgres.restart(down_s=1.5)
    writers.join(120)
    assert not writers.is_alive() and len(outputs) == 2
    assert all(int(out) > 0 for out in outputs), outputs  # both met the outage
    store = CaseStore(url, tmp_path / "evidence")
    try:
        notes = [e for e in store.audit_entries() if e.action == "note"]
        got = {(e.actor, e.detail["i"]) for e in notes}
        assert got == {(f"writer-{t}", i) for t in "ab" for i in range(appends)}  # nothing acknowledged is lost
        assert len(notes) <= 2 * appends + 2  # an append whose commit answer was lost may be there twice
        assert store.verify_audit() == (True, None)
    finally:
        store.close()
