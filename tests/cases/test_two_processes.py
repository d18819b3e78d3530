"""Two processes writing one SQLite store at the same time: one audit chain, nothing lost, nothing forked."""

import subprocess
import sys
import time
from pathlib import Path

from livewarden.cases import CaseStore

APPENDS = 250
WRITER = r"""
import sys, time
from pathlib import Path
from livewarden.cases import CaseStore
from livewarden.model import Finding, Signal
from livewarden.policy.engine import Update

data, tag, appends = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = CaseStore.at(data)
(data / f"ready-{tag}").touch()
while not (data / "go").exists():  # start together, so the appends interleave
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


def test_two_processes_append_to_one_chain(tmp_path: Path):
    data = tmp_path / "data"
    CaseStore.at(data).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(data), tag, str(APPENDS)],
                              stderr=subprocess.PIPE, text=True) for tag in "ab"]
    deadline = time.monotonic() + 30
    while not all((data / f"ready-{tag}").exists() for tag in "ab") and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.005)
    (data / "go").touch()
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(errors)

    store = CaseStore.at(data)
    entries = store.audit_entries()
    notes = [e for e in entries if e.action == "note"]
    assert len(notes) == 2 * APPENDS
    assert {(e.actor, e.detail["i"]) for e in notes} == {(f"writer-{t}", i) for t in "ab" for i in range(APPENDS)}
    assert len(store.alerts()) == 2 * len(range(0, APPENDS, 25))
    assert sum(e.action == "alert_opened" for e in entries) == len(store.alerts())
    assert store.verify_audit() == (True, None)
    # they overlapped (a, then b, then a again): a test where one writer finished before the other began
    # would prove nothing
    actors = [e.actor for e in notes]
    assert sum(a != b for a, b in zip(actors, actors[1:])) >= 10, actors
