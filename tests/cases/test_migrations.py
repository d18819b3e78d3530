"""Alembic migrations: a store made by yesterday's `create_all` is upgraded in place, rows and chain intact."""

import json
import sqlite3
from pathlib import Path

from livewarden.cases import CaseStore, migrate
from livewarden.cases.audit import GENESIS, entry_hash
from livewarden.model import Finding, Signal
from livewarden.policy.engine import Update

# what `Base.metadata.create_all` made before migrations (SQLAlchemy 2.x on SQLite), as sqlite_master holds it
LEGACY_DDL = [
    """CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	room_id VARCHAR(64) NOT NULL, 
	rule VARCHAR(64) NOT NULL, 
	subject VARCHAR(128) NOT NULL, 
	severity VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	shadow BOOLEAN NOT NULL, 
	message VARCHAR(512) NOT NULL, 
	first_stream_time FLOAT NOT NULL, 
	last_stream_time FLOAT NOT NULL, 
	confidence FLOAT NOT NULL, 
	hits INTEGER NOT NULL, 
	first_signal_wall_time FLOAT NOT NULL, 
	opened_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	evidence JSON NOT NULL, 
	signals JSON NOT NULL, 
	PRIMARY KEY (id)
)""",
    "CREATE INDEX ix_alerts_room_id ON alerts (room_id)",
    "CREATE INDEX ix_alerts_status ON alerts (status)",
    "CREATE INDEX ix_alerts_rule ON alerts (rule)",
    """CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at FLOAT NOT NULL, 
	actor VARCHAR(64) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	alert_id INTEGER, 
	detail JSON NOT NULL, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	PRIMARY KEY (id)
)""",
    "CREATE INDEX ix_audit_log_alert_id ON audit_log (alert_id)",
]


def legacy_store(data: Path) -> None:
    """A pre-migration store: two alerts (one closed) and their three chained audit entries."""
    data.mkdir(parents=True)
    db = sqlite3.connect(data / "livewarden.db")
    for ddl in LEGACY_DDL:
        db.execute(ddl)
    for i, status in ((1, "closed"), (2, "open")):
        db.execute("INSERT INTO alerts VALUES (?, 'deals', 'unauthorized_brand', 'nova', 'red_flag', ?, 0, 'm',"
                   " ?, ?, 0.95, 3, 1000.0, 1001.0, 1002.0, ?, '[]')",
                   (i, status, 10.0 * i, 10.0 * i + 4, json.dumps([f"evidence/deals/{i:06d}_crop.jpg"])))
    prev = GENESIS
    for i, (action, alert_id, detail) in enumerate([("alert_opened", 1, {"rule": "unauthorized_brand"}),
                                                    ("alert_closed", 1, {"reason": "no hit within close_after_s"}),
                                                    ("alert_opened", 2, {"rule": "unauthorized_brand"})], 1):
        at = 1700000000.0 + i
        digest = entry_hash(prev, at, "system", action, alert_id, detail)
        db.execute("INSERT INTO audit_log VALUES (?, ?, 'system', ?, ?, ?, ?, ?)",
                   (i, at, action, alert_id, json.dumps(detail), prev, digest))
        prev = digest
    db.commit()
    db.close()


def schema(path: Path, tables=("alerts", "audit_log")) -> set[tuple[str, str]]:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name IN (%s)" % ",".join("?" * len(tables)),
                      tables).fetchall()
    db.close()
    return set(rows)


def test_a_store_made_before_migrations_is_upgraded_in_place(tmp_path: Path):
    data = tmp_path / "data"
    legacy_store(data)
    url = f"sqlite:///{data / 'livewarden.db'}"
    assert migrate.current(url) is None

    store = CaseStore.at(data)  # the repository upgrades an embedded store at open
    assert migrate.current(url) == migrate.head() == "0004"
    a1, a2 = store.alerts()
    assert (a1.id, a1.status, a2.id, a2.status, a2.evidence) == (1, "closed", 2, "open", ["evidence/deals/000002_crop.jpg"])
    entries = store.audit_entries()
    assert [e.action for e in entries] == ["alert_opened", "alert_closed", "alert_opened"]
    assert store.verify_audit() == (True, None)

    # record() continues the old chain through the new head
    signal = Signal("deals", 60.0, "mark", "nova", 0.95, "marks")
    finding = Finding("deals", "unauthorized_brand", "nova", "red_flag", 60.0, 60.0, 0.95, 1, signals=[signal])
    new = store.record(Update(finding, opened=True, signal=signal))
    after = store.audit_entries()
    assert [e.action for e in after[3:]] == ["alert_closed", "alert_opened"]  # a2 was still open
    assert after[3].prev_hash == entries[-1].hash and store.verify_audit() == (True, None)
    assert [a.status for a in store.alerts()] == ["closed", "closed", "open"] and new.id == 3


def test_upgrade_reports_where_it_started(tmp_path: Path):
    legacy_store(tmp_path / "old")
    old, new = f"sqlite:///{tmp_path / 'old' / 'livewarden.db'}", f"sqlite:///{tmp_path / 'new.db'}"
    assert migrate.upgrade(old) == ("0001", "0004")
    assert migrate.upgrade(new) == (None, "0004")
    assert migrate.upgrade(new) == ("0004", "0004")


def test_the_first_revision_makes_exactly_the_schema_create_all_made(tmp_path: Path):
    legacy_store(tmp_path / "old")
    migrate.upgrade(f"sqlite:///{tmp_path / 'new.db'}", to="0001")
    assert schema(tmp_path / "new.db") == schema(tmp_path / "old" / "livewarden.db")


def test_0004_fills_the_case_of_existing_audit_entries(tmp_path: Path):
    from tests.cases.support import fill_case_ids_of_existing_entries

    assert fill_case_ids_of_existing_entries(f"sqlite:///{tmp_path / 'old.db'}") == [(1, 7), (2, None)]


def test_head_is_the_newest_migration_script():
    """`migrate.HEAD` spares opening a store an Alembic import; a new migration script must move it."""
    assert migrate.HEAD == migrate._scripts().get_current_head()
