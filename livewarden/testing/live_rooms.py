"""Rooms pushed live through a private nginx-rtmp and watched by a system (tests and benchmarks).

Each room's clip is published by stream copy at real-time pace, the system is built on the live URLs, and
the run ends when `until(store)` holds or after `seconds`. What went on the wire when is kept, so a
benchmark can measure an alert from the moment its room went live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livewarden.testing.publish import start_publisher
from livewarden.testing.rtmp_server import RtmpServer


@dataclass
class LiveRun:
    alerts: dict[tuple[str, str, str], Any]  # (room, rule, subject) -> AlertRecord
    took_s: float
    went_live: dict[str, float] = field(default_factory=dict)  # room -> time.time() its clip's time 0 went out


def watch_live(registry: Any, build: Callable[[Any], Any], rooms: list[str], until: Callable[[Any], bool],
               seconds: float = 45.0, delays: dict[str, float] | None = None) -> LiveRun:
    """Publish each room's `source` clip to RTMP (after its delay, in order), run `build(live_registry)`'s
    pipeline until `until(store)` or `seconds`, and return the alerts by (room, rule, subject)."""
    delays = delays or {}
    went_live: dict[str, float] = {}
    with RtmpServer() as server:
        publishers, live = [], []
        for room_id in rooms:
            room = registry.room(room_id)
            if delays.get(room_id):
                time.sleep(delays[room_id])
            publishers.append(start_publisher(room.source, server.url(room_id),
                                              on_start=lambda wall, r=room_id: went_live.setdefault(r, wall)))
            live.append(room.model_copy(update={"source": server.url(room_id)}))
        system = build(registry.model_copy(update={"rooms": live}))
        pipeline = system.pipeline()
        started = time.monotonic()
        try:
            pipeline.start()
            while time.monotonic() - started < seconds and not until(system.store):
                time.sleep(0.25)
        finally:
            pipeline.stop()
            for _, stop in publishers:
                stop.set()
    alerts = {(a.room_id, a.rule, a.subject): a for a in system.store.alerts()}
    return LiveRun(alerts, time.monotonic() - started, went_live)


def rtmp_or_skip() -> None:
    """Skip the calling test when nginx-rtmp is not installed here (the reason names what is missing)."""
    import pytest

    ok, why = RtmpServer.available()
    if not ok:
        pytest.skip(why)

