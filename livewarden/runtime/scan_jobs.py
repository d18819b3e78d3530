"""Self-check scans for the server: a seller uploads a clip, one worker scans it as one of the seller's rooms,
the seller follows the progress and gets the same report as `livewarden scan`.

A scan is a check, not a finding about a live room: it runs on the server's detectors (nothing built again)
with its own policy and an in-memory case store, so it never opens cases or alerts on the platform. Jobs are
kept in memory (the reports on disk under `<data_dir>/scans/<job>/`); a restart forgets queued jobs.
"""

from __future__ import annotations

import logging
import queue
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livewarden.cases.evidence import kept_file
from livewarden.errors import InputError

log = logging.getLogger(__name__)


@dataclass
class ScanJob:
    id: str
    room_id: str
    owner: tuple[str, str]  # (role, tenant) of who asked
    clip: Path
    state: str = "queued"  # queued, scanning, done, failed
    done_s: float = 0.0
    total_s: float = 0.0
    error: str | None = None
    report: dict[str, Any] | None = None
    submitted_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.room_id, "state": self.state, "error": self.error,
                "progress": {"done_s": round(self.done_s, 1), "total_s": round(self.total_s, 1),
                             "fraction": round(self.done_s / self.total_s, 3) if self.total_s else 0.0},
                "submitted_at": self.submitted_at, "report": self._report_for_caller()}

    def _report_for_caller(self) -> dict[str, Any] | None:
        """The report as the seller reads it over the API: evidence as URLs of this job, no server paths."""
        if self.report is None:
            return None
        findings = [{**f, "evidence": [f"/scans/{self.id}/findings/{k}/evidence/{i}" for i in range(len(f["evidence"]))]}
                    for k, f in enumerate(self.report["findings"])]
        return {**self.report, "clip": "upload", "findings": findings}

    def evidence_file(self, finding: int, index: int) -> Path | None:
        """The kept file behind one evidence URL, only if it lies under this job's folder."""
        findings = (self.report or {}).get("findings", [])
        if not 0 <= finding < len(findings) or not 0 <= index < len(findings[finding]["evidence"]):
            return None
        return kept_file(self.clip.parent, findings[finding]["evidence"][index])


class ScanJobs:
    def __init__(self, system: Any, folder: Path, max_seconds: float, max_upload_bytes: int = 500 << 20,
                 max_queued: int = 20):
        self.system, self.folder, self.max_seconds, self.max_queued = system, Path(folder), max_seconds, max_queued
        self.max_upload_bytes = max_upload_bytes
        self.jobs: dict[str, ScanJob] = {}
        self._queue: queue.Queue[ScanJob] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, owner: tuple[str, str], room_id: str, clip: Path) -> ScanJob:
        """Queue a clip already written to disk (the caller moved it under `new_upload()`); checks it first."""
        from livewarden.runtime.scan import probe_clip

        try:
            duration, _ = probe_clip(clip)
        except InputError:
            shutil.rmtree(clip.parent, ignore_errors=True)
            raise
        if duration > self.max_seconds:
            shutil.rmtree(clip.parent, ignore_errors=True)
            raise InputError(f"the clip is {duration:.0f} s long; scans take at most {self.max_seconds:.0f} s")
        if self._queue.qsize() >= self.max_queued:
            shutil.rmtree(clip.parent, ignore_errors=True)
            raise InputError(f"{self.max_queued} scans are waiting already: try again later")
        job = ScanJob(clip.parent.name, room_id, owner, clip, total_s=duration)
        with self._lock:
            self.jobs[job.id] = job
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="scans", daemon=True)
                self._worker.start()
        self._queue.put(job)
        return job

    def new_upload(self) -> Path:
        """A fresh folder for an upload (its name is the job id)."""
        folder = self.folder / secrets.token_hex(8)
        folder.mkdir(parents=True)
        return folder

    def _work(self) -> None:
        from livewarden.cases import MemoryCaseRepository
        from livewarden.runtime.build import System
        from livewarden.runtime.scan import clip_settings, scan_clip

        while True:
            job = self._queue.get()
            job.state = "scanning"
            out = job.clip.parent
            system = System.of(self.system.registry, self.system.detectors, self.system.policy.rules,
                               store=MemoryCaseRepository(out / "evidence"),
                               settings=clip_settings(self.system.settings, out))
            try:
                job.report = scan_clip(job.clip, job.room_id, system, out,
                                       on_progress=lambda done, total: setattr(job, "done_s", done))
                job.done_s, job.state = job.total_s, "done"
            except Exception as exc:  # a bad clip, a detector failure: the job says so, the worker goes on
                job.state, job.error = "failed", str(exc)
                log.warning("scan %s failed: %s", job.id, exc)
            finally:
                job.clip.unlink(missing_ok=True)  # the clip is the seller's; the report stays
