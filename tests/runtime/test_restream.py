"""Stolen and non-live broadcasts end to end, through a real nginx-rtmp: a registered recording restreamed by
another seller (scaled to 360p, re-encoded, mirrored, under a banner) is flagged, the owner's own room showing
its live stream is not; the same stream live in two rooms at once flags the later one; a looping room is
flagged, a room that never repeats is not."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from livewarden.config import Settings
from livewarden.detectors.broadcast import BroadcastDetector
from livewarden.registry import load_registry
from livewarden.runtime.build import System
from livewarden.testing.clips import drifting_shapes, write_clip
from livewarden.testing.live_rooms import rtmp_or_skip, watch_live
from livewarden.testing.restreams import banner, mirror, short_side

FPS = 10


def thief(frames, *, mirrored: bool = False):
    """What a restreaming room sends: 270p, a sale banner and a price sticker, optionally mirrored."""
    small = short_side(list(frames), 270)
    return banner(mirror(small) if mirrored else small)


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("restream")
    recording = list(drifting_shapes(40 * FPS, seed=5, fps=FPS))  # the creator's registered recording
    write_clip(d / "show.mp4", recording, FPS)
    write_clip(d / "stolen.mp4", thief(recording), FPS, crf=32)
    write_clip(d / "mirrored.mp4", thief(recording, mirrored=True), FPS, crf=32)
    write_clip(d / "own.mp4", recording, FPS, crf=28)  # the owner shows it in its own room: a replay
    write_clip(d / "fresh.mp4", drifting_shapes(40 * FPS, seed=9, fps=FPS), FPS)  # never registered, never repeats
    segment = list(drifting_shapes(10 * FPS, seed=11, fps=FPS))
    write_clip(d / "rerun.mp4", (f for _ in range(4) for f in segment), FPS)
    doc = {
        "sellers": [{"id": "creator", "name": "Creator"}, {"id": "thief", "name": "Thief"},
                    {"id": "honest", "name": "Honest"}],
        "rooms": [{"id": r, "seller": s, "source": f"{r}.mp4"} for r, s in
                  (("stolen", "thief"), ("mirrored", "thief"), ("own", "creator"), ("fresh", "honest"),
                   ("rerun", "honest"))],
        "broadcasts": [{"id": "creator-show", "owner": "creator", "recordings": ["show.mp4"]}],
    }
    (d / "registry.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return d / "registry.yaml"


def build(registry, data_dir: Path) -> System:
    settings = Settings().with_overrides({"runtime.sample_fps": 2.0, "store.index_dir": data_dir / "index"})
    return System.of(registry, [BroadcastDetector.from_registry(registry, settings)], data_dir=data_dir,
                     settings=settings)


def watch(registry, tmp_path: Path, rooms: list[str], until, seconds: float = 45.0, delays=None):
    rtmp_or_skip()
    run = watch_live(registry, lambda live: build(live, tmp_path), rooms, until, seconds, delays)
    return run.alerts, run.took_s


@pytest.mark.rtmp
def test_a_registered_recording_restreamed_scaled_mirrored_under_a_banner_is_flagged(registry_path, tmp_path):
    registry = load_registry(registry_path)
    wanted = {("stolen", "restreamed_content", "creator-show"), ("mirrored", "restreamed_content", "creator-show"),
              ("own", "non_live_content", "creator-show"), ("rerun", "non_live_content", "loop")}

    def done(store):
        return wanted <= {(a.room_id, a.rule, a.subject) for a in store.alerts()}

    alerts, took = watch(registry, tmp_path, ["stolen", "mirrored", "own", "fresh", "rerun"], done)
    assert wanted <= set(alerts), sorted(alerts)
    unexpected = set(alerts) - wanted - {("own", "concurrent_restream", "stolen"),
                                         ("stolen", "concurrent_restream", "own"),
                                         ("mirrored", "concurrent_restream", "own"),
                                         ("mirrored", "concurrent_restream", "stolen"),
                                         ("stolen", "concurrent_restream", "mirrored")}
    assert not unexpected, sorted(unexpected)  # the room that never repeats, and nobody's loop but rerun's
    assert not any(room == "fresh" for room, _, _ in alerts)
    stolen = alerts[("stolen", "restreamed_content", "creator-show")]
    assert stolen.first_stream_time <= 10.0  # flagged within 10 s of going live
    assert stolen.signals[0]["evidence"]["broadcast"] == "creator-show" and stolen.evidence


@pytest.mark.rtmp
def test_the_same_stream_in_two_rooms_at_once_flags_the_later_room(registry_path, tmp_path):
    registry = load_registry(registry_path)
    # the creator's room airs its show; a thief's room starts the same stream 3 s later (as a relay would)
    registry = registry.model_copy(update={"broadcasts": []})

    def done(store):
        return any(a.rule == "concurrent_restream" for a in store.alerts())

    alerts, _ = watch(registry, tmp_path, ["own", "stolen"], done, seconds=35.0, delays={"stolen": 3.0})
    flagged = {(room, subject) for room, rule, subject in alerts if rule == "concurrent_restream"}
    assert flagged == {("stolen", "own")}, sorted(alerts)
