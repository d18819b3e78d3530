"""Self-check scans on the server: a seller's clip is scanned by the worker with the server's detectors and
gives the `scan` report, with progress; it never opens alerts on the platform; bad clips are refused at once."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from livewarden.errors import InputError
from livewarden.registry import load_registry
from livewarden.runtime.scan_jobs import ScanJobs
from tests.runtime.conftest import MARK_ON, build


def upload(jobs: ScanJobs, source: Path, name: str = "clip.mp4") -> Path:
    target = jobs.new_upload() / name
    shutil.copy(source, target)
    return target


def test_a_scan_job_reports_like_scan_and_leaves_the_platform_alone(rooms: Path, tmp_path: Path):
    registry = load_registry(rooms)
    system = build(registry, tmp_path / "server", sample_fps=4.0)
    jobs = ScanJobs(system, tmp_path / "scans", max_seconds=60)
    job = jobs.submit(("seller", "bargain"), "deals", upload(jobs, rooms.parent / "deals.mp4"))
    assert job.state in ("queued", "scanning") and job.total_s == pytest.approx(7.0, abs=0.2)
    seen_progress = set()
    deadline = time.monotonic() + 60
    while job.state in ("queued", "scanning") and time.monotonic() < deadline:
        seen_progress.add(round(job.to_dict()["progress"]["fraction"], 1))
        time.sleep(0.05)
    assert job.state == "done", job.error
    [finding] = job.report["findings"]
    assert (finding["rule"], finding["subject"]) == ("unauthorized_brand", "nova")
    assert MARK_ON[0] - 0.1 <= finding["first_stream_time"] <= MARK_ON[0] + 1.5
    assert job.to_dict()["progress"]["fraction"] == 1.0 and len(seen_progress) >= 2
    assert (job.clip.parent / "report.json").is_file() and not job.clip.exists()  # the clip is not kept
    assert system.store.alerts() == []  # a self-check opens nothing on the platform


def test_bad_clips_are_refused_with_the_reason(rooms: Path, tmp_path: Path):
    system = build(load_registry(rooms), tmp_path / "server", sample_fps=4.0)
    jobs = ScanJobs(system, tmp_path / "scans", max_seconds=5)
    garbage = jobs.new_upload() / "clip.mp4"
    garbage.write_bytes(b"this is not a video at all" * 100)
    with pytest.raises(InputError, match="not a readable video"):
        jobs.submit(("seller", "bargain"), "deals", garbage)
    with pytest.raises(InputError, match="at most 5 s"):
        jobs.submit(("seller", "bargain"), "deals", upload(jobs, rooms.parent / "deals.mp4"))
    assert list((tmp_path / "scans").iterdir()) == []  # refused uploads are not kept


@pytest.mark.redis
def test_a_scan_on_a_cluster_server_stays_off_the_signal_bus(rooms: Path, tmp_path: Path, redis_server, redis_prefix):
    """The server's signals go through Redis; a seller's self-check is scanned in process all the same: none of
    its signals reaches the live policy, and it never becomes a consumer of the signal partitions."""
    import redis

    from livewarden.runtime.redis_bus import Keys

    registry = load_registry(rooms)
    system = build(registry, tmp_path / "server", sample_fps=4.0)
    system.settings = system.settings.with_overrides({"bus.url": redis_server.url, "bus.prefix": redis_prefix})
    jobs = ScanJobs(system, tmp_path / "scans", max_seconds=60)
    job = jobs.submit(("seller", "bargain"), "deals", upload(jobs, rooms.parent / "deals.mp4"))
    deadline = time.monotonic() + 60
    while job.state in ("queued", "scanning") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.state == "done", job.error
    assert [f["rule"] for f in job.report["findings"]] == ["unauthorized_brand"]
    r, keys = redis.Redis.from_url(redis_server.url), Keys(redis_prefix)
    assert list(r.scan_iter(keys.signals("*"))) == [] and list(r.scan_iter(keys.consumer())) == []
