"""Streams per core: how many live 720p rooms one machine watches before alerts get late or frames drop.

    python benchmarks/streams_per_core.py [--seconds 34] [--max-rooms 40] [--with-products] [--with-faces]

N publishers push a pre-encoded 720p 30 fps H.264 clip (stream copy, looped,
10.2 s per loop, the NOVA card up from 4.1 s to 8.1 s of each loop) into a private
nginx-rtmp server; every room's seller is unauthorized, so every loop of
every room should open an alert (`close_after_s` is 1.5 s for that).
livewarden watches them with the marks detector at 2 fps. A step passes
when every sighting alerted, p95 time-to-alert (from the card's first frame
being sent to the alert being committed) is <= 2 s, and no sampled frame
was dropped after joining (printed apart). Joining ends 1 s after every
room's first frame has gone to the detectors, and no sooner than 3 s after the start:
a joined stream delivers its last GOP in a burst, and a room's first frame
costs full searches (with faces: finding and describing the person), so with
many rooms joining at once the first analyses queue up for a few seconds.
N grows until a step fails.

Publishers start LOOP_S / N apart, so the rooms' loops (and cards) are spread
over the loop period as independent rooms' would be, not all in step.

In the same run, the naive loop does the same with one thread per room that
decodes and analyses every frame, the obvious first implementation; its N
is the baseline. The publishers and nginx run on the same 2 cores.
Goal (issue 3): >= 16 rooms on 2 cores. With --with-products the products
detector (EfficientNet-Lite0 on changed regions, 5 real pack shots as the
catalog) runs beside the marks detector on every analysed frame; the card
held up is a changed region, so it is embedded whenever it is on screen.
Goal (issue 4): >= 12 rooms on 2 cores. With --with-faces a real portrait of
a protected person is on screen the whole time and the faces detector runs
beside the marks detector. Goal (issue 5): >= 12 rooms on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from rig import FACES, the_mark, trial_rules, with_portrait, write_registry

from livewarden.assets.scenes import room_frames
from livewarden.cases import CaseStore
from livewarden.detectors.marks import MarksDetector
from livewarden.media.clips import write_clip
from livewarden.media.publish import start_publisher
from livewarden.media.rtmp_server import RtmpServer
from livewarden.media.sources import VideoSource
from livewarden.policy import Policy
from livewarden.runtime.pipeline import Pipeline, PipelineOptions

FPS = 30
LOOP_S = 10.2  # not a multiple of the 0.5 s sampling period: the card meets every sampling phase
MARK_ON = (4.1, 8.1)
WARMUP_S = 3.0  # at least: joining a stream delivers its last GOP in a burst; drops then are not overload
P95_LIMIT = 2.0


class NaiveWatcher:
    """One thread per room: decode every frame, run the detector on it, feed policy and store."""

    def __init__(self, registry, detectors, policy, store, on_alert):
        self.stop_event = threading.Event()
        self.sources = [VideoSource(r.id, r.source, sample_fps=None) for r in registry.rooms]
        self.threads = [threading.Thread(target=self._run, args=(s, detectors, policy, store, on_alert), daemon=True)
                        for s in self.sources]

    def _run(self, source, detectors, policy, store, on_alert) -> None:
        for frame in source.frames(self.stop_event):
            for detector in detectors:
                for signal in detector.detect(frame):
                    for update in policy.observe(signal):
                        on_alert(store.record(update), update)

    def start(self) -> "NaiveWatcher":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(5)

    def drops(self) -> int:
        return sum(s.health.drops for s in self.sources)


def step(n: int, mode: str, clip: Path, seconds: float, workdir: Path, products: bool = False,
         faces: bool = False) -> dict:
    """Run n rooms for `seconds`; return latencies of every sighting (inf when missed) and drops."""
    starts: dict[str, float] = {}
    alerts: dict[str, list[float]] = {}
    lock = threading.Lock()

    def on_alert(alert, update) -> None:
        if update.opened and alert.rule == "unauthorized_brand":
            with lock:
                alerts.setdefault(alert.room_id, []).append(time.time())

    with RtmpServer() as server:
        rooms = [f"room{i:02d}" for i in range(n)]
        publishers = []
        for i, room in enumerate(rooms):
            publishers.append(start_publisher(clip, server.url(room), loop=True,
                                              on_start=lambda wall, room=room: starts.__setitem__(room, wall)))
            time.sleep(LOOP_S / n)  # independent rooms: their loops are spread over the loop period
        registry = write_registry(workdir / f"{mode}-{n}", {room: server.url(room) for room in rooms},
                                  products=products, persons=faces)
        detectors = [MarksDetector.from_registry(registry)]
        if products:
            from livewarden.detectors.products import ProductsDetector

            detectors.append(ProductsDetector.from_registry(registry))
        if faces:
            from livewarden.detectors.faces import FacesDetector

            detectors.append(FacesDetector.from_registry(registry))
        policy = Policy(registry, trial_rules(1.5))
        store = CaseStore.at(workdir / f"{mode}-{n}" / "store")
        if mode == "livewarden":
            watcher = Pipeline(registry, detectors, policy, store, PipelineOptions(sample_fps=2.0),
                               on_alert=on_alert)
        else:
            watcher = NaiveWatcher(registry, detectors, policy, store, on_alert)
        if mode == "livewarden":
            def count_drops() -> int:
                return sum(watcher.dropped_busy(r) + watcher.rooms[r].health.drops for r in rooms)
            lags = lambda: [watcher.rooms[r].health.lag_s for r in rooms]  # noqa: E731
        else:
            count_drops = watcher.drops
            lags = lambda: [s.health.lag_s for s in watcher.sources]  # noqa: E731
        began = time.time()
        watcher.start()
        if mode == "livewarden":
            joined = wait_joined(watcher, rooms, began, seconds)
        else:  # the naive loop has no per-room analysis count: the fixed minimum
            joined = began + WARMUP_S
            time.sleep(WARMUP_S)
        warmup_drops = count_drops()
        time.sleep(max(0.0, began + seconds - time.time()))
        ended = time.time()
        drops = count_drops() - warmup_drops
        max_lag = max((x for x in lags() if x is not None), default=0.0)
        watcher.stop()
        for _, stop in publishers:
            stop.set()
    latencies, missed = [], 0
    for room in rooms:
        if room not in starts:
            missed += 1
            continue
        # every loop whose card went out after the warm-up and at least 4 s before the end must have alerted
        k0 = math.ceil((joined - starts[room] - MARK_ON[0]) / LOOP_S)
        k1 = math.floor((ended - 4.0 - starts[room] - MARK_ON[0]) / LOOP_S)
        seen = sorted(alerts.get(room, []))
        for k in range(max(0, k0), k1 + 1):
            shown = starts[room] + k * LOOP_S + MARK_ON[0]
            hits = [a - shown for a in seen if shown <= a < shown + LOOP_S - MARK_ON[0]]
            if hits:
                latencies.append(hits[0])
            else:
                latencies.append(math.inf)
                missed += 1
    return {"latencies": latencies, "missed": missed, "drops": drops, "warmup_drops": warmup_drops,
            "max_lag": max_lag, "joined_after": joined - began}


def wait_joined(watcher: Pipeline, rooms: list[str], began: float, seconds: float) -> float:
    """When joining is over: 1 s after every room's first frame went to the detectors, at least WARMUP_S after the start."""
    while time.time() < began + seconds / 2 and any(watcher.rooms[r].analysed == 0 for r in rooms):
        time.sleep(0.05)
    joined = max(began + WARMUP_S, time.time() + 1.0)
    time.sleep(max(0.0, joined - time.time()))
    return joined


def verdict(r: dict) -> tuple[bool, str]:
    lat = np.asarray(r["latencies"])
    p95 = float(np.percentile(lat, 95)) if len(lat) else math.inf
    p50 = float(np.percentile(lat, 50)) if len(lat) else math.inf
    ok = len(lat) > 0 and p95 <= P95_LIMIT and r["drops"] == 0 and r["missed"] == 0
    return ok, (f"sightings={len(lat)} missed={r['missed']} p50={p50:.2f}s p95={p95:.2f}s "
                f"drops={r['drops']} (+{r['warmup_drops']} while joining, {r['joined_after']:.1f}s) "
                f"lag at end={r['max_lag']:.2f}s")


def ramp(mode: str, ns: list[int], clip: Path, seconds: float, workdir: Path, products: bool = False,
         faces: bool = False) -> int:
    reached = 0
    for n in ns:
        ok, text = verdict(step(n, mode, clip, seconds, workdir, products, faces))
        print(f"  {mode:10s} N={n:2d}: {'pass' if ok else 'FAIL'}  {text}", flush=True)
        if not ok:
            break
        reached = n
    return reached


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=34.0, help="run time per step")
    ap.add_argument("--max-rooms", type=int, default=40)
    ap.add_argument("--with-products", action="store_true", help="run the products detector beside the marks one")
    ap.add_argument("--with-faces", action="store_true", help="a portrait on screen; run the faces detector too")
    args = ap.parse_args()
    ok, why = RtmpServer.available()
    if not ok:
        raise SystemExit(f"streams_per_core needs nginx with the RTMP module: {why} (run scripts/setup.sh)")
    cores = os.cpu_count()
    print(f"streams_per_core: 720p{FPS} H.264 rooms via nginx-rtmp, {cores} CPU cores, {args.seconds:.0f}s per step")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "room.mp4"
        print("  encoding the sample room…", flush=True)
        frames = room_frames(the_mark(), seconds=LOOP_S, fps=FPS, mark_on=MARK_ON, seed=9)
        if args.with_faces:
            frames = with_portrait(frames, cv2.imread(str(FACES / "obama-live.jpg")))
        write_clip(clip, frames, FPS)
        naive = ramp("naive", [1, 2, 3, 4, 6, 8], clip, args.seconds, Path(tmp), args.with_products, args.with_faces)
        ns = [n for n in [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48] if n <= args.max_rooms]
        ours = ramp("livewarden", ns, clip, args.seconds, Path(tmp), args.with_products, args.with_faces)
    print(f"  rooms sustained: livewarden {ours} ({ours / cores:.1f}/core), naive loop {naive} "
          f"({naive / cores:.1f}/core); ratio {ours / max(naive, 1):.1f}x")
    goal = 12 if args.with_products or args.with_faces else 16
    what = " + ".join(["marks"] + ["products"] * args.with_products + ["faces"] * args.with_faces)
    print(f"  goal >= {goal} rooms on 2 cores with {what}: {'met' if ours >= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
