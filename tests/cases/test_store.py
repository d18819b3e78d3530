"""The case repository, SQL (a real SQLite file) and memory: evidence before commit, updates not copies,
plain records, the audit chain."""

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from livewarden.cases import AlertRecord, AuditRecord, CaseStore
from livewarden.model import Frame, Signal
from livewarden.policy import Policy
from livewarden.policy.rules import Rule
from livewarden.registry import load_registry
from tests.cases.support import reopen, tamper

POLY = [[600, 200], [900, 220], [880, 480], [610, 460]]
ALERT_COLUMNS = ["id", "room_id", "rule", "subject", "severity", "status", "shadow", "message", "first_stream_time",
                 "last_stream_time", "confidence", "hits", "first_signal_wall_time", "opened_at", "updated_at",
                 "evidence", "signals", "platform", "seller", "brand", "person", "case_id"]


def make_rule(**kw) -> Rule:
    return Rule(**{"id": "unauthorized_brand", "signal": "mark", "when": "seller_not_authorized", "hits": 2,
                   "window_s": 3, "instant_confidence": 0.9, "severity": "red_flag", "review_below": 0.7,
                   "close_after_s": 10, **kw})


@pytest.fixture
def setup(two_brand_registry: Path, repo):
    return Policy(load_registry(two_brand_registry), [make_rule()]), repo


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
    [row] = reopen(store).alerts()  # a second connection sees the committed row
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
    tamper(store, entries[1].id, at=entries[1].at - 3600)
    assert store.verify_audit() == (False, entries[1].id)


def test_a_log_cut_short_at_its_end_no_longer_matches_its_head(setup):
    policy, store = setup
    record_all(policy, store, [signal_at(0.0, 0.95), signal_at(60.0, 0.95)])
    tamper(store, store.audit_entries()[-1].id)  # the chain of what is left still verifies on its own
    assert store.verify_audit() == (False, None)


def test_records_are_plain_frozen_dataclasses(setup):
    policy, store = setup
    [alert] = record_all(policy, store, [signal_at(1.0, 0.95)])
    assert type(alert) is AlertRecord and type(store.audit_entries()[0]) is AuditRecord
    assert list(alert.to_dict()) == ALERT_COLUMNS
    assert alert.to_dict()["signals"][0]["subject"] == "nova" and alert.to_dict()["shadow"] is False
    assert store.alert(alert.id) == alert and store.alert(alert.id + 99) is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.status = "closed"


def test_shadow_alerts_are_recorded_and_can_be_left_out(two_brand_registry: Path, repo):
    policy = Policy(load_registry(two_brand_registry), [make_rule(shadow=True)])
    [alert] = record_all(policy, repo, [signal_at(1.0, 0.95)])
    assert alert.shadow and repo.alerts() == [alert]
    assert repo.alerts(include_shadow=False) == [] and repo.alerts("deals") == [alert] and repo.alerts("x") == []
    assert [e.action for e in repo.audit_entries()] == ["alert_shadowed"]


def test_append_audit_continues_the_chain(setup):
    policy, store = setup
    record_all(policy, store, [signal_at(1.0, 0.95)])
    entry = store.append_audit("moderator:ana", "case_note", 1, {"note": "seen"})
    first, last = store.audit_entries()
    assert last == entry and (entry.actor, entry.action, entry.alert_id, entry.detail) == (
        "moderator:ana", "case_note", 1, {"note": "seen"})
    assert entry.prev_hash == first.hash and store.verify_audit() == (True, None)


def test_a_failed_record_leaves_nothing_behind(setup, monkeypatch):
    policy, store = setup
    [first] = record_all(policy, store, [signal_at(0.0, 0.95)])
    [update] = policy.observe(signal_at(60.0, 0.95))  # would close `first` and open a new alert

    def disk_full(*_):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(store, "_keep_evidence", disk_full)
        with pytest.raises(OSError):
            store.record(update)
    assert store.alerts() == [first] and len(store.audit_entries()) == 1  # not closed, nothing appended
    update.finding.alert_id = None
    store.record(update)
    assert [a.status for a in store.alerts()] == ["closed", "open"] and store.verify_audit() == (True, None)


def test_a_batch_is_recorded_whole_or_not_at_all(setup):
    """A policy consumer commits a batch's updates in one transaction: an update that fails undoes the batch and
    leaves its findings as they were, so the same updates are recorded again once the bad one is left out."""
    from livewarden.policy.engine import Update

    policy, store = setup
    [opening] = policy.observe(signal_at(0.0, 0.95))
    bad = Update(dataclasses.replace(opening.finding, alert_id=999, subject="koru"), opened=False,
                 signal=opening.signal)  # an update of an alert that is not there
    with pytest.raises(LookupError, match="no alert 999"):
        store.record_many([opening, bad])
    assert store.alerts() == [] and store.audit_entries() == []
    assert opening.opened and opening.finding.alert_id is None and opening.finding.hits == 1
    [update] = policy.observe(signal_at(0.5, 0.95))  # the same finding, a second hit
    first, second = store.record_many([opening, update])  # opened, then updated, in one transaction
    assert first.id == second.id and (second.hits, second.last_stream_time) == (2, 0.5)
    assert [a.hits for a in store.alerts()] == [2] and store.verify_audit() == (True, None)


def test_threads_appending_at_once_keep_one_chain(repo):
    def append(n):
        for i in range(40):
            repo.append_audit(f"thread-{n}", "note", None, {"i": i})

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(repo.audit_entries()) == 160 and repo.verify_audit() == (True, None)


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
        assert CaseStore.at(data).verify_audit() == (True, None)
