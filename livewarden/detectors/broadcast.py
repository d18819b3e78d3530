"""The broadcast itself, not what is on camera: is this room live, and is it its own?

Each room's frames are hashed (PDQ, detectors/frame_hash.py) at most every `every_s`:

* `loop`: the room repeats an earlier run of itself at a constant period (detectors/loops.py);
* `frozen`: the picture has not changed (bar a clock or counter) for `frozen_after_s`;
* `broadcast_match`: the room's recent frames match a registered broadcast in the bank at one offset into
  it (most of the last `bank_window_s`, looked up whole, mirrored and by the centre of the frame; a frame
  the hashes cannot place is looked up among the recordings' keyframes by its local features, which see
  through crops, banners and picture-in-picture: detectors/keyframes.py); the policy decides whether that
  is a restream (someone else's) or a replay (the owner's recording);
* `stream_frame`: the frame's fingerprint, for the policy's cross-room check (the same stream live in two
  rooms at once: detectors know nothing of other rooms).

The bank is built from the registry's recordings (hashed every 0.5 s, keyframes described every 1 s, both
kept in the index cache) and from its registered live rooms, whose frame hashes are banked as they air
(not their keyframes: a live room's copy is found by hashes and the policy's cross-room check).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livewarden.config import BroadcastSettings
from livewarden.detectors.base import Detector, RoomDetector, tunables
from livewarden.detectors.frame_hash import FrameHash, centre, distance, hash_image, variants
from livewarden.detectors.hash_bank import BroadcastBank
from livewarden.detectors.keyframes import KeyframeBank, describe_keyframe
from livewarden.detectors.index_cache import IndexCache, fetch, for_settings, versions
from livewarden.detectors.loops import FrozenWatch, SelfMatcher
from livewarden.detectors.table import kinds_of
from livewarden.errors import InputError
from livewarden.model import Frame, Signal

LIVE = "@live"  # bank name suffix of frames a registered live room aired (a recording's frames have none)
RECORDING_EVERY_S = 0.5  # a registered recording is banked at two frames a second
KEYFRAME_EVERY_S = 1.0  # and described by local features once a second
OFFSET_TOLERANCE_S = 2.5  # matched frames agree on the offset into a broadcast within this (a 1.1x speed-up
# drifts 1.2 s over a 12 s window)


def hash_recording(path: str | Path, every_s: float = RECORDING_EVERY_S,
                   keyframe_every_s: float = KEYFRAME_EVERY_S) -> dict[str, np.ndarray]:
    """A recording's frames every `every_s` (times, whole and centre hashes) and its keyframes every
    `keyframe_every_s` (described as it is and mirrored, detectors/keyframes.py). A file that is not a video,
    or has no frame, is refused naming it."""
    import av

    times, whole, middle = [], [], []
    kf: dict[str, list] = {"kf_times": [], "kf_mirrored": [], "kf_counts": [], "kf_area": [], "kf_points": [],
                           "kf_descriptors": []}
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path}: the recording has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            due, key_due = 0.0, 0.0
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else due
                if t + 1e-6 < due:
                    continue
                image = frame.to_ndarray(format="bgr24")
                times.append(t)
                whole.append(hash_image(image).bits)
                middle.append(hash_image(centre(image)).bits)
                due = t + every_s
                if t + 1e-6 >= key_due:
                    for mirrored, (points, descriptors, area) in zip((False, True), describe_keyframe(image)):
                        for key, value in (("kf_times", t), ("kf_mirrored", mirrored), ("kf_counts", len(points)),
                                           ("kf_area", area), ("kf_points", points),
                                           ("kf_descriptors", descriptors)):
                            kf[key].append(value)
                    key_due = t + keyframe_every_s
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: the recording cannot be decoded ({exc})") from None
    if not times:
        raise InputError(f"{path}: the recording has no frame to bank")
    return {"times": np.asarray(times, np.float32), "whole": np.stack(whole), "centre": np.stack(middle),
            **{k: np.asarray(kf[k], np.float32) for k in ("kf_times", "kf_area")},
            "kf_mirrored": np.asarray(kf["kf_mirrored"], bool), "kf_counts": np.asarray(kf["kf_counts"], np.int64),
            "kf_points": np.concatenate(kf["kf_points"]).astype(np.float32),
            "kf_descriptors": np.concatenate(kf["kf_descriptors"]).astype(np.uint8)}


@dataclass
class _Sighting:
    time: float  # room stream time
    broadcast: str
    at: float  # time in the broadcast
    variant: str
    distance: int  # bits (frame hashes); -1 for a keyframe match
    inliers: int = 0  # keypoints one transform explains (keyframe matches)


class BroadcastDetector(Detector):
    name = "broadcast"
    kinds = kinds_of("broadcast")

    def __init__(self, bank: BroadcastBank, live_rooms: dict[str, str], keyframes: KeyframeBank | None = None,
                 **tunable: Any):
        self.bank = bank
        self.keyframes = keyframes if keyframes is not None else KeyframeBank()
        self.live_rooms = live_rooms  # registered live room -> its broadcast
        self.settings = BroadcastSettings(**tunable)

    @classmethod
    def from_registry(cls, registry: Any, settings: Any) -> "BroadcastDetector":
        tunable = tunables(settings, "broadcast")
        cache = for_settings(settings)
        bank = BroadcastBank.load(tunable["bank_dir"]) if tunable.get("bank_dir") else BroadcastBank()
        keyframes = KeyframeBank()
        for broadcast in registry.broadcasts:
            for recording in broadcast.recordings:
                bank_recording(bank, broadcast.id, recording, cache, keyframes)
        live = {room: b.id for b in registry.broadcasts for room in b.rooms}
        return cls(bank, live, keyframes, **tunable)

    def open_room(self, room_id: str) -> "BroadcastRoom":
        return BroadcastRoom(self, room_id)


def bank_recording(bank: BroadcastBank, broadcast: str, path: Path, cache: IndexCache | None = None,
                   keyframes: KeyframeBank | None = None) -> int:
    """Bank one recording of `broadcast` (hashed once: the index cache keeps it); returns its frames."""
    data = Path(path).read_bytes()
    arrays = fetch(cache, "broadcast", f"pdq-frames-2 orb-keyframes-1 {versions('pdqhash', 'opencv-python-headless')}",
                   {"every_s": RECORDING_EVERY_S, "keyframe_every_s": KEYFRAME_EVERY_S}, data,
                   lambda: hash_recording(path), Path(path).name)
    bank.add(broadcast, arrays["times"], arrays["whole"], "whole")
    bank.add(broadcast, arrays["times"], arrays["centre"], "centre")
    if keyframes is not None:
        ends = np.cumsum(arrays["kf_counts"])
        for i, (t, mirrored, area) in enumerate(zip(arrays["kf_times"], arrays["kf_mirrored"], arrays["kf_area"])):
            part = slice(int(ends[i] - arrays["kf_counts"][i]), int(ends[i]))
            keyframes.add(broadcast, float(t), bool(mirrored), arrays["kf_points"][part],
                          arrays["kf_descriptors"][part], float(area))
    return len(arrays["times"])


class BroadcastRoom(RoomDetector):
    def __init__(self, detector: BroadcastDetector, room_id: str):
        s = detector.settings
        self.detector, self.room_id = detector, room_id
        self.own_broadcast = detector.live_rooms.get(room_id)
        self.matcher = SelfMatcher(max_period_s=s.loop_max_period_s, min_period_s=s.loop_min_period_s,
                                   window_s=s.loop_window_s)
        self.frozen = FrozenWatch(after_s=s.frozen_after_s)
        self.sightings: deque[_Sighting] = deque()
        self.hashed: deque[float] = deque()  # times of usable frames hashed in the bank window
        self._next = self._next_keyframe = -1e18
        self._looked_at: tuple[float, FrameHash] | None = None  # (time, whole hash) of the last keyframe lookup

    def close(self) -> None:
        self.matcher.reset()
        self.sightings.clear()
        self.hashed.clear()
        self.matcher = self.frozen = self._looked_at = None  # type: ignore[assignment]

    def process(self, frame: Frame) -> list[Signal]:
        s = self.detector.settings
        t = frame.stream_time
        if t < self._next - s.every_s * 4:  # the clock went back: a new source
            self.sightings.clear()
            self.hashed.clear()
            self._next_keyframe = -1e18
            self._looked_at = None
        elif t < self._next:
            return []
        self._next = t + s.every_s
        out: list[Signal] = []
        still = self.frozen.add(t, frame.image)
        hashes = variants(frame.image)
        whole = hashes["whole"]
        if still is not None and whole.quality > 0:  # a black or flat picture is no broadcast at all
            out.append(self._signal(frame, "frozen", "frozen", min(0.8, 0.6 + 0.2 * (still / s.frozen_after_s - 1)),
                                    {"still_s": round(still, 1), "since": round(t - still, 2)}))
        if not whole.usable:
            return out
        loop = self.matcher.add(t, whole, frame.image)
        if loop is not None:
            out.append(self._loop_signal(frame, loop))
        if self.own_broadcast is not None:  # a registered live room: banked as it airs
            self.detector.bank.add(self.own_broadcast + LIVE, [t], whole.bits[None], "whole")
            self.detector.bank.add(self.own_broadcast + LIVE, [t], hashes["centre"].bits[None], "centre")
        match = self._bank_match(frame, hashes)
        if match is not None:
            out.append(match)
        out.append(self._signal(frame, "stream_frame", "frame", whole.quality / 100.0,
                                {name: h.hex() for name, h in hashes.items()}))
        return out

    def _signal(self, frame: Frame, kind: str, subject: str, confidence: float, evidence: dict) -> Signal:
        return Signal(self.room_id, frame.stream_time, kind, subject, round(float(confidence), 4), "broadcast",
                      evidence, frame=frame, wall_time=frame.wall_time)

    def _loop_signal(self, frame: Frame, loop) -> Signal:
        """A loop, its evidence the current frame beside the one a period earlier."""
        confidence = 0.6 + 0.3 * min(1.0, loop.held_s / 60.0)
        evidence = {"period_s": loop.period, "window": [round(loop.start, 2), round(loop.end, 2)],
                    "earlier": [round(loop.start - loop.period, 2), round(loop.end - loop.period, 2)],
                    "match_ratio": loop.ratio, "distance": loop.distance, "margin": loop.margin,
                    "held_s": loop.held_s}
        earlier = self.matcher.earlier_thumb(frame.stream_time - loop.period)
        shown = frame
        if earlier:
            before = cv2.imdecode(np.frombuffer(earlier, np.uint8), cv2.IMREAD_COLOR)
            h = 360
            now = cv2.resize(frame.image, (max(1, round(frame.width * h / frame.height)), h))
            before = cv2.resize(before, (max(1, round(before.shape[1] * h / before.shape[0])), h))
            shown = replace(frame, image=np.hstack([before, now]))
        return self._signal(shown, "loop", "loop", confidence, evidence)

    def _bank_match(self, frame: Frame, hashes) -> Signal | None:
        s = self.detector.settings
        t = frame.stream_time
        bank = self.detector.bank
        while self.hashed and t - self.hashed[0] > s.bank_window_s:
            self.hashed.popleft()
        while self.sightings and t - self.sightings[0].time > s.bank_window_s:
            self.sightings.popleft()
        self.hashed.append(t)
        if not len(bank):
            return None
        names = list(hashes)
        found = bank.lookup(np.stack([hashes[n].bits for n in names]))
        best: dict[str, _Sighting] = {}
        for name, matches in zip(names, found):
            for m in matches:
                if m.broadcast in self._own():
                    continue
                if m.broadcast not in best or m.distance < best[m.broadcast].distance:
                    best[m.broadcast] = _Sighting(t, m.broadcast, m.time, f"{name}/{m.variant}", m.distance)
        if not best and self.detector.keyframes and s.keyframe_every_s and t + 1e-6 >= self._next_keyframe \
                and self._new_picture(t, hashes["whole"]):
            self._next_keyframe = t + s.keyframe_every_s
            self._looked_at = (t, hashes["whole"])
            kf = self.detector.keyframes.lookup(frame.image)
            if kf is not None and kf.broadcast not in self._own():
                self._next_keyframe = t  # a stolen picture is on screen: look at every frame until it is judged
                self._looked_at = None
                best[kf.broadcast] = _Sighting(t, kf.broadcast, kf.time, "keyframe" + ("/mirror" if kf.mirrored else ""),
                                               -1, kf.inliers)
        self.sightings.extend(best.values())
        return self._judge(frame)

    def _new_picture(self, t: float, whole) -> bool:
        """Worth a keyframe lookup: the picture moved on from the last one looked up (which found nothing), or
        `keyframe_recheck_s` passed. A room's own scene costs one lookup, not one a second (~15 ms each)."""
        if self._looked_at is None:
            return True
        at, seen = self._looked_at
        s = self.detector.settings
        return t - at >= s.keyframe_recheck_s or distance(whole.bits, seen.bits) > s.keyframe_same_bits

    def _own(self) -> tuple[str, ...]:
        return () if self.own_broadcast is None else (self.own_broadcast, self.own_broadcast + LIVE)

    def _judge(self, frame: Frame) -> Signal | None:
        """The broadcast most of the window matched at one offset (room time - broadcast time), if any."""
        s = self.detector.settings
        by_broadcast: dict[str, list[_Sighting]] = {}
        for x in self.sightings:
            by_broadcast.setdefault(x.broadcast, []).append(x)
        verdict = None
        for broadcast, seen in by_broadcast.items():
            offsets = np.array([x.time - x.at for x in seen])
            median = float(np.median(offsets))
            agree = [x for x, o in zip(seen, offsets) if abs(o - median) <= OFFSET_TOLERANCE_S]
            span = max(x.at for x in agree) - min(x.at for x in agree) if agree else 0.0
            # the matched frames must move through the broadcast (a still picture matches any moment of it)
            if len(agree) < s.bank_min_frames or span < 1.0:
                continue
            ratio = len(agree) / max(1, len(self.hashed))
            confidence = min(0.95, 0.5 + 0.45 * ratio)
            if verdict is None or confidence > verdict[0]:
                last = agree[-1]
                registered = broadcast.removesuffix(LIVE)
                verdict = (confidence, registered, {
                    "broadcast": registered, "live": broadcast.endswith(LIVE), "offset_s": round(median, 2), "match_ratio": round(ratio, 3),
                    "frames": len(agree), "broadcast_time": round(last.at, 2), "variant": last.variant,
                    "distance": last.distance, "keyframe_inliers": last.inliers})
        if verdict is None:
            return None
        confidence, broadcast, evidence = verdict
        return self._signal(frame, "broadcast_match", broadcast, confidence, evidence)
