"""Helpers for the case tests that reach behind a repository."""

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text

from livewarden.cases import CaseRepository, CaseStore, MemoryCaseRepository, SqlCaseRepository


def reopen(store: CaseRepository) -> CaseRepository:
    """A second connection to the same store (the memory one has only itself)."""
    return SqlCaseRepository.at(store.evidence_dir.parent) if isinstance(store, SqlCaseRepository) else store


def tamper(store: CaseRepository, entry_id: int, **values) -> None:
    """Change a stored audit entry behind the repository's back (None: delete it)."""
    if isinstance(store, MemoryCaseRepository):
        i = next(i for i, e in enumerate(store._audit) if e.id == entry_id)
        if values:
            store._audit[i] = replace(store._audit[i], **values)
        else:
            del store._audit[i]
        return
    with store.engine.begin() as conn:
        if values:
            sets = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(text(f"UPDATE audit_log SET {sets} WHERE id = :id"), {**values, "id": entry_id})
        else:
            conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entry_id})


APPENDS = 250
WRITER = r"""
import sys, time
from pathlib import Path
from livewarden.cases import CaseStore
from livewarden.model import Finding, Signal
from livewarden.policy.engine import Update

url, sync, tag, appends = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = CaseStore(url, sync / "evidence")
store.alerts()  # connected before the start line
(sync / f"ready-{tag}").touch()
while not (sync / "go").exists():  # start together, so the appends interleave
    time.sleep(0.001)
for i in range(appends):
    store.append_audit(f"writer-{tag}", "note", None, {"i": i})
    if i % 25 == 0:
        signal = Signal(f"room-{tag}", float(i), "mark", "nova", 0.95, "marks")
        finding = Finding(f"room-{tag}", "unauthorized_brand", f"s{i}", "red_flag", float(i), float(i), 0.95, 1,
                          signals=[signal])
        store.record(Update(finding, opened=True, signal=signal))
    time.sleep(0.002)  # a writer's pace, not a busy loop: SQLite's lock is not fair to a writer that sleeps
store.close()
"""


# a writer that, like a policy process, waits out an unreachable database and tries the same append again
WRITER_THROUGH_OUTAGES = r"""
import sys, time
from pathlib import Path
from sqlalchemy.exc import DBAPIError
from livewarden.cases import CaseStore, db

url, sync, tag, appends = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = CaseStore(url, sync / "evidence")
store.alerts()
(sync / f"ready-{tag}").touch()
while not (sync / "go").exists():
    time.sleep(0.001)
waits = 0
for i in range(appends):
    while True:
        try:
            store.append_audit(f"writer-{tag}", "note", None, {"i": i})
            break
        except DBAPIError as exc:
            if db.unreachable(exc) is None:
                raise
            waits += 1
            time.sleep(0.1)
    time.sleep(0.01)
print(waits)
store.close()
"""


def run_together(script: str, sync: Path, *args: str) -> list[str]:
    """Two processes of `script` (tags a and b), released at the same moment -> their standard outputs."""
    sync.mkdir(parents=True, exist_ok=True)
    procs = [subprocess.Popen([sys.executable, "-c", script, args[0], str(sync), tag, *args[1:]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in "ab"]
    try:
        deadline = time.monotonic() + 30
        while not all((sync / f"ready-{tag}").exists() for tag in "ab") and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.005)
        (sync / "go").touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n".join(err for _out, err in outputs)
    return [out for out, _err in outputs]




def two_writers_one_chain(url: str, sync: Path) -> None:
    """Two processes append to the store at `url` at once: one audit chain, nothing lost, nothing forked."""
    run_together(WRITER, sync, url, str(APPENDS))
    store = CaseStore(url, sync / "evidence")
    try:
        entries = store.audit_entries()
        notes = [e for e in entries if e.action == "note"]
        assert len(notes) == 2 * APPENDS
        assert {(e.actor, e.detail["i"]) for e in notes} == {(f"writer-{t}", i) for t in "ab" for i in range(APPENDS)}
        assert len(store.alerts()) == 2 * len(range(0, APPENDS, 25))
        assert sum(e.action == "alert_opened" for e in entries) == len(store.alerts())
        assert store.verify_audit() == (True, None)
        assert store._chain_head() == (entries[-1].hash, len(entries))
        # they overlapped (a, then b, then a again): a test where one writer finished before the other began
        # would prove nothing
        actors = [e.actor for e in notes]
        assert sum(a != b for a, b in zip(actors, actors[1:])) >= 10, actors
    finally:
        store.close()


def fill_case_ids_of_existing_entries(url: str) -> list[tuple]:
    """0004 copies detail.case_id of the entries already in the log into the indexed column."""
    from sqlalchemy import text

    from livewarden.cases import db, migrate

    migrate.upgrade(url, to="0003")
    engine = db.engine(url)
    with engine.begin() as conn:
        for k, detail in enumerate(['{"case_id": 7, "action_id": 1}', '{"rule": "x"}'], start=1):
            conn.execute(text("INSERT INTO audit_log (id, at, actor, action, alert_id, detail, prev_hash, hash) "
                              "VALUES (:id, 1.0, 'a', 'b', NULL, :detail, 'p', 'h')"), {"id": k, "detail": detail})
    migrate.upgrade(url)
    with engine.connect() as conn:
        rows = list(conn.execute(text("SELECT id, case_id FROM audit_log ORDER BY id")))
    engine.dispose()
    return rows
