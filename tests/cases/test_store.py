"""The case store on a real SQLite file: evidence before commit, updates not copies, audit chain."""

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import update as sql_update

from livewarden.cases import AuditEntry, CaseStore
from livewarden.model import Frame, Signal
from livewarden.policy import Policy
from livewarden.policy.rules import Rule
from livewarden.registry import load_registry

POLY = [[600, 200], [900, 220], [880, 480], [610, 460]]


@pytest.fixture
def setup(two_brand_registry: Path, tmp_path: Path):
    registry = load_registry(two_brand_registry)
    rule = Rule(id="unauthorized_brand", signal="mark", when="seller_not_authorized", hits=2, window_s=3,
                instant_confidence=0.9, severity="red_flag", review_below=0.7, close_after_s=10)
    return Policy(registry, [rule]), CaseStore.at(tmp_path / "data")


def signal_at(t: float, conf: float) -> Signal:
    image = np.full((720, 1280, 3), 90, np.uint8)
    image[200:480, 600:900] = (0, 200, 255)
    frame = Frame("deals", t, image)
    return Signal("deals", t, "mark", "nova", conf, "marks", {"polygon": POLY}, frame=frame)


def record_all(policy, store, signals):
    return [store.record(u) for s in signals for u in policy.observe(s)]


def test_alert_is_committed_with_evidence_files(setup):
    policy, store = setup
    [alert] = record_all(policy, store, [signal_at(1.0, 0.95)])
    reopened = CaseStore.at(Path(store.evidence_dir).parent)  # a second connection sees the committed row
    [row] = reopened.alerts()
    assert (row.id, row.room_id, row.rule, row.subject, row.status) == (alert.id, "deals", "unauthorized_brand", "nova", "open")
    crop, full = row.evidence
    assert Path(crop).is_file() and Path(full).is_file()
    import cv2

    crop_img = cv2.imread(crop)
    # the crop is the polygon's box plus a margin, and shows the orange patch
    assert 280 < crop_img.shape[0] < 400 and 300 < crop_img.shape[1] < 420
    assert crop_img[crop_img.shape[0] // 2, crop_img.shape[1] // 2].tolist() == pytest.approx([0, 200, 255], abs=12)


def test_updates_change_one_row(setup):
    policy, store = setup
    alerts = record_all(policy, store, [signal_at(t * 0.5, 0.6 + t * 0.02) for t in range(10)])
    rows = store.alerts()
    assert len(rows) == 1 and {a.id for a in alerts} == {rows[0].id}
    assert rows[0].hits == 10 and rows[0].last_stream_time == 4.5
    assert rows[0].severity == "red_flag"  # escalated once confidence passed review_below
    actions = [e.action for e in store.audit_entries()]
    assert actions == ["alert_opened", "severity_changed"]


def test_reopen_closes_the_stale_alert(setup):
    policy, store = setup
    record_all(policy, store, [signal_at(0.0, 0.95), signal_at(60.0, 0.95)])
    assert [(a.status) for a in store.alerts()] == ["closed", "open"]


def test_audit_chain_detects_tampering(setup):
    policy, store = setup
    record_all(policy, store, [signal_at(0.0, 0.95), signal_at(60.0, 0.95)])
    assert store.verify_audit() == (True, None)
    entries = store.audit_entries()
    assert len(entries) == 3
    with store.engine.begin() as conn:
        conn.execute(sql_update(AuditEntry).where(AuditEntry.id == entries[1].id).values(at=entries[1].at - 3600))
    assert store.verify_audit() == (False, entries[1].id)


def test_several_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path):
    """A `watch` creating the database while consoles (or other watches) open it: no "table already exists",
    no "database is locked" from switching the new file to WAL (SQLite does not wait there)."""
    import subprocess
    import sys

    code = "import sys; from livewarden.cases import CaseStore; CaseStore.at(sys.argv[1]).alerts()"
    for attempt in range(3):
        data = tmp_path / f"data{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(data)], stderr=subprocess.PIPE, text=True)
                 for _ in range(12)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), "\n".join(errors)
