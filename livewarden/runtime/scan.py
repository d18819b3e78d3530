"""Offline scan of a recorded clip: the same pipeline as live, but nothing is dropped.

Sellers check a broadcast before or after going live and regulators check a
recording afterwards; both want every sampled frame analysed as fast as the
machine allows, a progress bar, and a JSON report they can keep.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import av
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from livewarden.errors import InputError
from livewarden.model import AudioChunk

if TYPE_CHECKING:
    from livewarden.config import Settings
    from livewarden.runtime.build import System


class ScanError(InputError):
    pass


def probe_clip(clip: Path) -> tuple[float, bool]:
    """(duration in seconds, whether it has audio), or a ScanError that says why the clip cannot be read."""
    if not clip.is_file():
        raise ScanError(f"{clip}: file not found")
    try:
        with av.open(str(clip)) as container:
            if not container.streams.video:
                raise ScanError(f"{clip}: no video stream in this file")
            stream = container.streams.video[0]
            if container.duration:
                duration = container.duration / av.time_base
            elif stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = 0.0
            audio = bool(container.streams.audio)
            if next(container.decode(stream), None) is None:  # a header alone (or a renamed image) is no clip
                raise ScanError(f"{clip}: not a readable video (no picture could be decoded)")
            return duration, audio
    except av.error.FFmpegError as exc:
        raise ScanError(f"{clip}: not a readable video ({exc})") from None


def clip_settings(settings: "Settings", out: Path) -> "Settings":
    """A clip is scanned alone, in this process: offline (no frame dropped), not paced, its store under `out`,
    and never on the deployment's signal bus: a seller's self-check must not reach the live policy (nor take a
    share of its partitions as one more consumer)."""
    scanning = settings.with_overrides({"runtime.offline": True, "runtime.realtime": False, "store.data_dir": out})
    return scanning.model_copy(update={"bus": scanning.bus.model_copy(update={"url": None})})


def scan_clip(clip: Path, room_id: str, system: "System", out: Path, *, console: Console | None = None,
              on_progress: Callable[[float, float], None] | None = None) -> dict:
    """Run the pipeline over `clip` as room `room_id`; write and return the report.

    The system is built for an offline run (settings.runtime.offline: nothing dropped). The report has a
    transcript when readers of words run (speech when the clip has audio, on-screen text, ...).
    """
    duration, audio = probe_clip(clip)
    registry = system.registry
    room = registry.room(room_id)
    already = {a.id for a in system.store.alerts(room_id)}
    speech = any(d.reads is AudioChunk for d in system.detectors)
    if speech and not audio:
        system = replace(system, detectors=[d for d in system.detectors if d.reads is not AudioChunk])
    pipeline = system.pipeline(rooms=[])
    pipeline.add_room(room.model_copy(update={"source": str(clip.resolve())}))
    status = pipeline.rooms[room_id]
    started = time.monotonic()
    pipeline.start()
    progress = Progress(TextColumn("[bold]scanning[/bold] {task.description}"), BarColumn(),
                        TextColumn("{task.completed:.0f}/{task.total:.0f}s"), TimeElapsedColumn(),
                        TimeRemainingColumn(), console=console, transient=True, disable=console is None)
    try:
        with progress:
            task = progress.add_task(clip.name, total=max(duration, 0.1))
            while not pipeline.all_done():
                done = min(status.last_stream_time, duration)
                progress.update(task, completed=done)
                if on_progress is not None:
                    on_progress(done, duration)
                time.sleep(0.1)
            progress.update(task, completed=duration)
    finally:
        pipeline.stop()
    elapsed = time.monotonic() - started
    if status.error and status.analysed == 0:
        raise ScanError(status.error)

    findings = [a.to_dict() for a in system.store.alerts(room_id) if a.id not in already]
    report = {
        "clip": str(clip),
        "room": room_id,
        "seller": room.seller,
        "duration_s": round(duration, 3),
        "on_camera": pipeline.timeline.spans(room_id),
        "transcript": pipeline.transcript.lines(room_id),
        "speech": ("transcribed" if audio else "no audio stream") if speech else "off",
        "elapsed_s": round(elapsed, 3),
        "speed_x": round(duration / elapsed, 2) if elapsed > 0 else None,
        "sample_fps": system.settings.runtime.sample_fps,
        "frames_decoded": status.health.frames_decoded,
        "frames_analysed": status.analysed,
        "frames_unchanged": status.unchanged,
        "source_errors": status.error or status.health.last_error or None,
        "findings": findings,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return report
