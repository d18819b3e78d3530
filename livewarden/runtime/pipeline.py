"""The in-process pipeline: many rooms, one machine.

One reader thread per room decodes and samples its stream (PyAV releases the
GIL while decoding); a small pool of detector workers, one per core, takes
the newest changed frame of whichever room is waiting, runs the detectors,
feeds the policy and commits alerts to the store before telling anyone.
A room whose stream fails is marked so in its status; the others go on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from livewarden.cases.store import Alert, CaseStore
from livewarden.detectors.base import Detector
from livewarden.media.sampler import ChangeGate
from livewarden.media.sources import RoomHealth, SourceError, VideoSource
from livewarden.policy.engine import Policy, Update
from livewarden.registry.schema import Registry
from livewarden.runtime.slots import LatestFrames
from livewarden.runtime.timeline import Timeline

log = logging.getLogger(__name__)

AlertCallback = Callable[[Alert, Update], None]


@dataclass
class RoomStatus:
    """What the console shows per room: the source's health plus what analysis did with it."""

    room_id: str
    source: VideoSource
    analysed: int = 0
    unchanged: int = 0
    detector_errors: int = 0
    alerts: int = 0
    last_stream_time: float = 0.0
    error: str = ""
    done: bool = False

    @property
    def health(self) -> RoomHealth:
        return self.source.health


@dataclass
class PipelineOptions:
    sample_fps: float = 2.0
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    realtime: bool | None = None  # None: live URLs in real time, files as fast as possible
    offline: bool = False  # True for scans: never drop a sampled frame
    change_gate: bool = True


class Pipeline:
    def __init__(self, registry: Registry, detectors: list[Detector], policy: Policy, store: CaseStore,
                 options: PipelineOptions | None = None, on_alert: AlertCallback | None = None,
                 rooms: list[str] | None = None):
        self.registry = registry
        self.detectors = detectors
        self.policy = policy
        self.store = store
        self.options = options or PipelineOptions()
        self.on_alert = on_alert
        self.stop_event = threading.Event()
        self.slots = LatestFrames()
        self.recent_alerts: deque[Alert] = deque(maxlen=200)
        self.timeline = Timeline()  # what was on camera in each room, when
        self._threads: list[threading.Thread] = []
        wanted = set(rooms) if rooms else None
        self.rooms: dict[str, RoomStatus] = {}
        for room in registry.rooms:
            if wanted is None or room.id in wanted:
                source = VideoSource(room.id, room.source, sample_fps=self.options.sample_fps,
                                     realtime=self.options.realtime)
                self.rooms[room.id] = RoomStatus(room.id, source)

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "Pipeline":
        for status in self.rooms.values():
            t = threading.Thread(target=self._read_room, args=(status,), name=f"room-{status.room_id}", daemon=True)
            t.start()
            self._threads.append(t)
        for i in range(self.options.workers):
            t = threading.Thread(target=self._work, name=f"detector-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def all_done(self) -> bool:
        """True when every room's source has ended (files) and no frame waits for analysis."""
        return all(s.done for s in self.rooms.values()) and self.slots.idle()  # idle: nothing pending or in analysis

    def run_until_done(self, poll: float = 0.1) -> None:
        while not self.all_done() and not self.stop_event.is_set():
            time.sleep(poll)

    # -- threads ---------------------------------------------------------------
    def _read_room(self, status: RoomStatus) -> None:
        gate = ChangeGate() if self.options.change_gate else None
        try:
            for frame in status.source.frames(self.stop_event):
                status.last_stream_time = frame.stream_time
                if gate is not None and not gate.changed(frame):
                    status.unchanged += 1
                    continue
                self.slots.put(frame, block=self.options.offline, stop=self.stop_event)
        except SourceError as exc:
            status.error = str(exc)
            log.warning("room %s: %s", status.room_id, exc)
        except Exception as exc:  # a broken room must not take the process down
            status.error = f"{type(exc).__name__}: {exc}"
            log.exception("room %s: reader crashed", status.room_id)
        finally:
            status.done = True

    def _work(self) -> None:
        while not self.stop_event.is_set():
            frame = self.slots.take()
            if frame is None:
                continue
            try:
                self._analyse(frame)
            finally:
                self.slots.done(frame.room_id)

    def _analyse(self, frame) -> None:
        status = self.rooms[frame.room_id]
        status.analysed += 1
        for detector in self.detectors:
            try:
                signals = detector.detect(frame)
            except Exception:
                status.detector_errors += 1
                log.exception("detector %s failed on room %s at %.2fs", detector.name, frame.room_id, frame.stream_time)
                continue
            for signal in signals:
                self.timeline.observe(signal)
                for update in self.policy.observe(signal):
                    alert = self.store.record(update)  # committed before anyone is told
                    if update.opened:
                        status.alerts += 1
                        self.recent_alerts.appendleft(alert)
                    if self.on_alert:
                        self.on_alert(alert, update)

    def dropped_busy(self, room_id: str) -> int:
        return self.slots.replaced.get(room_id, 0)
