"""End to end: generated rooms pushed through a real nginx-rtmp server, watched by the pipeline.

The unauthorized room must alert soon after the mark appears, the authorized
room must not, and a room whose stream cannot be reached must not stall them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from livewarden.assets.marks import generate_mark
from livewarden.cases import CaseStore
from livewarden.cli import app
from livewarden.testing.clips import write_clip
from livewarden.testing.publish import start_publisher
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.model import Frame
from livewarden.registry import load_registry

from .conftest import FPS, MARK_ON, SECONDS, build


@pytest.mark.rtmp
def test_live_rooms_through_nginx_rtmp(rooms: Path, tmp_path: Path):
    ok, why = RtmpServer.available()
    if not ok:
        pytest.skip(why)
    registry = load_registry(rooms)
    with RtmpServer() as server:
        publishers = [start_publisher(registry.room(r).source, server.url(r), loop=True) for r in ("official", "deals")]
        live_rooms = [registry.room(r).model_copy(update={"source": server.url(r)}) for r in ("official", "deals")]
        dead = registry.room("deals").model_copy(update={"id": "dead", "source": server.url("nobody-publishes")})
        live = registry.model_copy(update={"rooms": live_rooms + [dead]})
        system = build(live, tmp_path, sample_fps=4.0)
        store, pipeline = system.store, system.pipeline()
        try:
            pipeline.start()
            deadline = time.monotonic() + 40
            official = pipeline.rooms["official"]
            # run until the unauthorized room alerted and the authorized one was watched for a whole loop
            # (so its mark was on screen too and had every chance to (wrongly) alert)
            while time.monotonic() < deadline and not (
                    store.alerts("deals") and (official.last_stream_time or 0) > SECONDS + 1):
                time.sleep(0.2)
            official_status = pipeline.rooms["official"]
            dead_status = pipeline.rooms["dead"]
            dead_state, dead_error = dead_status.health.state, dead_status.health.last_error
        finally:
            pipeline.stop()
            for _, stop in publishers:
                stop.set()
    alerts = store.alerts()
    assert [(a.room_id, a.rule, a.subject) for a in alerts] == [("deals", "unauthorized_brand", "nova")], server.error_log
    alert = alerts[0]
    assert alert.severity in ("red_flag", "review")
    # a live join starts the stream clock at 0; the alert's times are on that clock and ordered
    assert 0.0 <= alert.first_stream_time <= alert.last_stream_time
    assert all(Path(p).is_file() for p in alert.evidence) and len(alert.evidence) == 2
    assert official_status.analysed > 5  # the authorized room was really watched
    assert dead_status.analysed == 0 and dead_state in ("connecting", "reconnecting", "failed")
    assert "nobody-publishes" in dead_error  # the health says which URL fails
    assert store.verify_audit() == (True, None)


def test_a_card_held_still_keeps_counting_as_seen_while_the_gate_skips_its_frames(rooms: Path, tmp_path: Path):
    """The change gate spares the detectors a still picture; what they saw in it must still count at every
    sampled frame, or a still product or face would take the rule K times 2 s to alert instead of K samples."""
    import cv2

    from livewarden.assets.marks import generate_background, place_mark
    from livewarden.testing.scenes import product_card

    still, _ = place_mark(generate_background(4), product_card(generate_mark("NOVA", 11)), center=(900, 380), scale=0.24)
    clip = tmp_path / "still.mp4"
    write_clip(clip, (still.copy() for _ in range(FPS * 5)), FPS)
    registry = load_registry(rooms)
    registry = registry.model_copy(update={"rooms": [registry.room("deals").model_copy(update={"source": str(clip)})]})
    system = build(registry, tmp_path / "store", sample_fps=2.0, offline=True)
    store, pipeline = system.store, system.pipeline().start()
    pipeline.run_until_done()
    pipeline.stop()
    status = pipeline.rooms["deals"]
    [alert] = store.alerts()
    assert status.analysed <= 4 and status.unchanged >= 6  # the gate let only the first and keep-alive frames in
    assert alert.hits >= 9  # ... yet every one of the ~10 sampled frames counted as a sighting
    assert alert.last_stream_time >= 4.0
    assert cv2.imread(alert.evidence[0]) is not None


def test_scan_cli_reports_findings_with_stream_times(rooms: Path, tmp_path: Path):
    runner = CliRunner()
    out = tmp_path / "scan-deals"
    result = runner.invoke(app, ["scan", str(rooms.parent / "deals.mp4"), "--room", "deals",
                                 "--registry", str(rooms), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["room"] == "deals" and report["duration_s"] == pytest.approx(SECONDS, abs=0.2)
    [finding] = report["findings"]
    assert (finding["rule"], finding["subject"]) == ("unauthorized_brand", "nova")
    assert MARK_ON[0] - 0.1 <= finding["first_stream_time"] <= MARK_ON[0] + 1.5
    assert MARK_ON[1] - 1.5 <= finding["last_stream_time"] <= MARK_ON[1] + 0.1
    assert all(Path(p).is_file() for p in finding["evidence"])
    assert "unauthorized_brand nova" in result.output

    clean = runner.invoke(app, ["scan", str(rooms.parent / "official.mp4"), "--room", "official",
                                "--registry", str(rooms), "--out", str(tmp_path / "scan-official")])
    assert clean.exit_code == 0, clean.output
    assert json.loads((tmp_path / "scan-official" / "report.json").read_text())["findings"] == []


def test_scan_rejects_bad_input_clearly(rooms: Path, tmp_path: Path):
    runner = CliRunner()
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01not a video at all" * 100)
    result = runner.invoke(app, ["scan", str(garbage), "--room", "deals", "--registry", str(rooms),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "garbage.mp4" in result.output and "not a readable video" in result.output
    result = runner.invoke(app, ["scan", str(rooms.parent / "deals.mp4"), "--room", "nope", "--registry", str(rooms)])
    assert result.exit_code == 2 and "'nope' is not in" in result.output


def test_watch_runs_until_ctrl_c_and_stops_cleanly(rooms: Path, tmp_path: Path):
    """`livewarden watch` as a user runs it: a real process, rooms played in real time, then Ctrl-C."""
    import os
    import signal
    import subprocess
    import sys

    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "livewarden.cli", "watch", "--registry", str(rooms),
                             "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        db = data / "livewarden.db"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (db.exists() and CaseStore.at(data).alerts("deals")):
            time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    assert "1 alert(s)" in output and "deals unauthorized_brand nova" in output, output
    assert "Traceback" not in output


def test_a_room_removed_while_running_leaves_nothing_behind_and_can_come_back(rooms: Path, tmp_path: Path):
    """Rooms come and go (serve, Ray workers): removing one drops its state in the pipeline, the detectors'
    rooms, the policy and the evidence spool; the store keeps its alerts; the same id can be watched again."""
    # (a second alert when it comes back after close_after_s: tests/policy/test_policy.py)
    registry = load_registry(rooms)
    system = build(registry, tmp_path / "store", sample_fps=2.0)
    pipeline = system.pipeline(rooms=[]).start()
    hits: list[int] = []
    try:
        for _ in range(2):
            status = pipeline.add_room(registry.room("deals"))
            [(_, marks_room)] = status.detectors[Frame]
            deadline = time.monotonic() + 30
            while not (status.done and pipeline.slots.idle()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert status.done and status.analysed > 5
            assert any(k[0] == "deals" for k in system.policy._state)  # the policy held the room's hits
            pipeline.remove_room("deals")
            assert "deals" not in pipeline.rooms and "deals" not in pipeline.slots.replaced
            assert not any(k[0] == "deals" for k in system.policy._state)
            assert not any(k[0] == "deals" for k in system.spool._last)
            assert marks_room.keypoints.gray is None  # the detector's room was closed
            [alert] = [a for a in system.store.alerts("deals") if a.rule == "unauthorized_brand"]
            hits.append(alert.hits)
        # watched again within the rule's close_after_s, on a new stream clock: the store continued the open
        # alert (one episode, its hits added up), as for a room moved to another worker
        assert hits[1] > hits[0]
    finally:
        pipeline.stop()


def test_a_registry_reload_while_running_starts_new_rooms_on_rebuilt_detectors(rooms: Path, tmp_path: Path):
    """A live pipeline on one room; the file gains a room and a brand's mark changes: the reload rebuilds the
    detectors, restarts the running room on them and starts the new one, which alerts as any room would."""
    import shutil

    import cv2
    import yaml

    from livewarden.runtime.reload import RegistryReload

    folder = tmp_path / "registry"
    shutil.copytree(rooms.parent, folder)
    path = folder / rooms.name
    data = yaml.safe_load(path.read_text())
    deals = next(r for r in data["rooms"] if r["id"] == "deals")
    data["rooms"] = [r for r in data["rooms"] if r["id"] != "deals"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    registry = load_registry(path)
    system = build(registry, tmp_path / "store", sample_fps=2.0)
    system.settings = system.settings.with_overrides({"detectors.language.enabled": False})
    pipeline = system.pipeline().start()
    reload = RegistryReload(path, system, pipeline)  # as `serve` makes it at start
    try:
        assert set(pipeline.rooms) == {"official"}
        old_detectors = list(system.detectors)
        cv2.imwrite(str(folder / "marks" / "koru.png"), generate_mark("KORU", 31))  # a new koru mark
        data["rooms"].append(deals)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        summary = reload()
        assert summary["detectors_rebuilt"] and summary["rooms_added"] == ["deals"]
        assert summary["rooms_restarted"] == ["official"]
        assert [d.name for d in system.detectors] == ["marks", "broadcast"] and system.detectors[0] is not old_detectors[0]
        status = pipeline.rooms["deals"]
        deadline = time.monotonic() + 30
        while not (status.done and pipeline.slots.idle()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status.analysed > 5
        assert [a.rule for a in system.store.alerts("deals")] == ["unauthorized_brand"]
        assert system.store.alerts("official") == []
    finally:
        pipeline.stop()
