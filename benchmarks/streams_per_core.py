"""Streams per core: how many live 720p rooms one machine watches before alerts get late or frames drop.

    python benchmarks/streams_per_core.py [--seconds 34] [--max-rooms 40] [--with-products] [--with-faces]
        [--with-speech]

N publishers push a pre-encoded 720p 30 fps H.264 clip (stream copy, looped,
10.2 s per loop, the NOVA card up from 4.1 s to 8.1 s of each loop) into a private
nginx-rtmp server; every room's seller is unauthorized, so every loop of
every room should open an alert (`close_after_s` is 1.5 s for that).
Publishers start LOOP_S / N apart, so the rooms' loops (and cards) are spread
over the loop period as independent rooms' would be, not all in step; then
every room is watched at once, as `watch` does on every restart.

Each step is scored twice, by one fixed rule for every mode:
- start-up (the first STARTUP_S seconds after watching began): every room's
  first frame analysed within FIRST_ANALYSIS_S of the room's first decoded
  frame; every sighting whose card was up in that window and stayed up at least
  MIN_VISIBLE_S after watching began alerted, p95 <= P95_LIMIT (timed from the
  card's first frame, or from the start when it was already up); at most
  STARTUP_DROPS_PER_ROOM sampled frames dropped per room (a joined stream hands
  over its last GOP in a burst).
- steady state (after that): every sighting alerted, p95 <= P95_LIMIT, no
  sampled frame dropped.
A step passes when both pass and no detector raised; the rooms sustained is
the largest N that passed (the ramp stops at the first failure). Sightings
too brief or too late (< 4 s before the end) to score are printed, not scored.

With --with-products a real pack shot (in the catalog, listed by no room) is
held up from 0.3 s to 3.7 s of every loop and the products detector runs
beside the marks one: its `unlisted_product` alerts are scored like the
marks' (their rule waits for 3 hits, so their bound is P95_LIMIT + 1 s). With
--with-faces a real portrait of a protected person is on screen the whole time
and the faces detector runs too: every room must raise `impersonation`
within P95_LIMIT + 1 s of its first frame (p95). With --with-codes a QR label whose serial NOVA never issued is
held up beside the card (12% of the frame's width), and the codes detector runs: `code_invalid` is scored like the marks' alerts (the
time from the code appearing to the alert; its rule waits for 2 reads); mode `no-codes` is livewarden without
the codes detector, for the rooms it costs. With --with-speech every room's clip carries a seller speaking
(espeak-ng English, SPEECH_S of each loop: a counterfeit offer and a pitch) and declares English, and the speech
detector runs on one transcription slot (the default budget); mode `no-speech` is the same rooms without it. The
marks' alerts are scored as ever (speech must lag, never stall video); the speech lag and the rooms whose spoken
offer alerted are printed beside them. Goals: >= 16 rooms on 2 cores
with marks (issue 3), >= 12 with marks + products (issue 4), >= 12 with
marks + faces (issue 5).

Two baselines, in the same run and by the same rule, each with one thread per
room that analyses what its source hands it: the naive loop (decode and
analyse every frame, the obvious first implementation) and the sampled loop
(the same 2 fps sampling as livewarden, without its change gate, its shared
newest-frame slot or the marks detector's keypoint reuse). The first ratio is
what livewarden buys in all; the second, what it buys beyond sampling. Both
baselines search every frame in full (keypoint reuse off); the faces and
products detectors keep their own per-room shortcuts in every mode. The
publishers and nginx run on the same 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rig import (CODE_TEMPLATE, FACES, NEVER_ISSUED, PACKS, the_mark, trial_rules, with_pack, with_portrait,
                 write_registry)

from livewarden.runtime.allocator import allocator_in_use, run_on_jemalloc
from livewarden.testing.codes import code_image
from livewarden.testing.scenes import room_frames
from livewarden.config import load_settings
from livewarden.testing.clips import drifting_shapes, write_clip
from livewarden.testing.publish import start_publisher
from livewarden.testing.voices import espeak, with_sound
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.media.audio import RATE
from livewarden.media.sources import RoomHealth, VideoSource
from livewarden.runtime.build import build_system
from livewarden.runtime.bus import ALERTS, AlertEvent

log = logging.getLogger("streams_per_core")

FPS = 30
SAMPLE_FPS = 2.0
LOOP_S = 10.2  # not a multiple of the 0.5 s sampling period: the card meets every sampling phase
MARK_ON = (4.1, 8.1)
PACK_ON = (0.3, 3.7)  # --with-products: the pack shot is held up here in every loop
PACK = PACKS / "Tropicana-Apple-Juice.jpg"
P95_LIMIT = 2.0
STARTUP_S = 8.0  # fixed for every mode: the start-up window after watching began
FIRST_ANALYSIS_S = 2.0  # start-up: a room's first frame analysed within this long of its arrival
STARTUP_DROPS_PER_ROOM = 1
MIN_VISIBLE_S = 2.0  # a start-up sighting is scored when the card stays up this long after watching began
TAIL_S = 4.0  # sightings that begin this close to the end are not scored (printed)
PITCH = ("okay guys, these bags are triple A replicas, same factory as the original. "
         "look at the stitching, feel the leather, only forty dollars today")  # --with-speech, every loop


class PerRoomWatcher:
    """A baseline: one thread per room that runs every detector on each frame its source hands over.

    `sample_fps=None` is the naive loop (every decoded frame); a number is the sampled loop. The source's
    own small queue drops the oldest frame when the thread falls behind (counted in its health).
    """

    def __init__(self, system, on_alert, sample_fps: float | None):
        self.stop_event = threading.Event()
        self.detectors, self.policy, self.store, self.on_alert = system.detectors, system.policy, system.store, on_alert
        registry = system.registry
        self.sources = {r.id: VideoSource(r.id, r.source, sample_fps=sample_fps) for r in registry.rooms}
        self.first_analysed: dict[str, float] = {}
        self.errors = 0
        self.threads = [threading.Thread(target=self._run, args=(s,), daemon=True) for s in self.sources.values()]

    def _run(self, source: VideoSource) -> None:
        rooms = [(d.name, d.open_room(source.room_id)) for d in self.detectors]
        for frame in source.frames(self.stop_event):
            for name, room in rooms:
                try:
                    signals = room.process(frame)
                except Exception:
                    self.errors += 1
                    log.exception("detector %s failed", name)
                    continue
                for signal in signals:
                    for update in self.policy.observe(signal):
                        self.on_alert(AlertEvent(self.store.record(update), update))
            self.first_analysed.setdefault(source.room_id, time.time())

    def start(self) -> "PerRoomWatcher":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(5)

    def healths(self) -> dict[str, RoomHealth]:
        return {r: s.health for r, s in self.sources.items()}

    def drops(self) -> int:
        return sum(h.drops for h in self.healths().values())

    def detector_errors(self) -> int:
        return self.errors


class PipelineWatcher:
    """livewarden's in-process pipeline behind the same few questions the baselines answer."""

    def __init__(self, system, on_alert):
        system.bus.subscribe(ALERTS, on_alert)
        self.pipeline = system.pipeline()
        self.rooms = self.pipeline.rooms

    def start(self) -> "PipelineWatcher":
        self.pipeline.start()
        return self

    def stop(self) -> None:
        self.pipeline.stop()

    def healths(self) -> dict[str, RoomHealth]:
        return {r: s.health for r, s in self.rooms.items()}

    def drops(self) -> int:
        return sum(self.pipeline.dropped_busy(r) + h.drops for r, h in self.healths().items())

    @property
    def first_analysed(self) -> dict[str, float]:
        return {r: s.first_analysed_wall for r, s in self.rooms.items() if s.first_analysed_wall}

    def detector_errors(self) -> int:
        return sum(s.detector_errors for s in self.rooms.values())


@dataclass
class Phase:
    """Sightings of one finding in one phase of a step: latencies (inf = missed) and what was not scored."""

    latencies: list[float] = field(default_factory=list)
    unscored: int = 0

    @property
    def missed(self) -> int:
        return sum(1 for x in self.latencies if math.isinf(x))

    def p(self, q: float) -> float:
        """A percentile over every scored sighting, a missed one counting as infinitely late."""
        if not self.latencies:
            return math.nan
        return float(np.percentile(np.asarray(self.latencies), q, method="higher"))

    def ok(self, limit: float) -> bool:
        return self.missed == 0 and (not self.latencies or self.p(95) <= limit)

    def text(self) -> str:
        if not self.latencies:
            return f"n=0 (unscored {self.unscored})"
        return (f"n={len(self.latencies)} missed={self.missed} p50={self.p(50):.2f}s p95={self.p(95):.2f}s"
                + (f" (unscored {self.unscored})" if self.unscored else ""))


def score_sightings(start: float, on: tuple[float, float], alerts: list[float], began: float, startup_end: float,
                    ended: float, startup: Phase, steady: Phase) -> None:
    """Put every showing of a thing in one room during the step into start-up or steady state, with its latency.

    A showing's alert is the first one opened between its first frame (or the start, when it was already up)
    and the next showing.
    """
    for k in range(int((ended - start) / LOOP_S) + 2):
        shown, off = start + k * LOOP_S + on[0], start + k * LOOP_S + on[1]
        if off <= began:
            continue
        if shown > ended:
            break
        t0 = max(shown, began)
        if shown < startup_end:
            phase = startup
            if off - t0 < MIN_VISIBLE_S:
                phase.unscored += 1
                continue
        elif shown <= ended - TAIL_S:
            phase = steady
        else:
            steady.unscored += 1
            continue
        hits = [a - t0 for a in alerts if t0 <= a < shown + LOOP_S]
        phase.latencies.append(min(hits) if hits else math.inf)


def step(n: int, mode: str, clip: Path, seconds: float, workdir: Path, products: bool = False,
         faces: bool = False, bank: Path | None = None, codes: bool = False, speech: bool = False) -> dict:
    """Run n rooms for `seconds` in one mode; score start-up and steady state of every finding."""
    starts: dict[str, float] = {}
    opened: dict[tuple[str, str], list[float]] = {}
    lock = threading.Lock()

    def on_alert(event: AlertEvent) -> None:
        if event.update.opened:
            with lock:
                opened.setdefault((event.alert.rule, event.alert.room_id), []).append(time.time())

    with RtmpServer() as server:
        rooms = [f"room{i:02d}" for i in range(n)]
        publishers = []
        for room in rooms:
            publishers.append(start_publisher(clip, server.url(room), loop=True,
                                              on_start=lambda wall, room=room: starts.__setitem__(room, wall)))
            time.sleep(LOOP_S / n)  # independent rooms: their loops are spread over the loop period
        registry = write_registry(workdir / f"{mode}-{n}", {room: server.url(room) for room in rooms},
                                  products=products, persons=faces, broadcast=bank, codes=codes,
                                  languages=("en",) if speech else ())
        ours = mode in ("livewarden", "no-broadcast", "no-codes", "no-speech")
        # the baselines search every frame in full: keypoint reuse (refresh_s > 0) is livewarden's
        settings = load_settings(overrides={"runtime.sample_fps": SAMPLE_FPS,
                                            "store.data_dir": workdir / f"{mode}-{n}" / "store",
                                            "store.index_dir": workdir / "index",
                                            "detectors.marks.refresh_s": None if ours else 0.0,
                                            "detectors.broadcast.enabled": mode != "no-broadcast",
                                            "detectors.codes.enabled": mode != "no-codes",
                                            "detectors.speech.enabled": speech and mode == "livewarden"})
        system = build_system(registry, settings, rules=trial_rules(1.5))
        if ours:
            watcher = PipelineWatcher(system, on_alert)
        else:
            watcher = PerRoomWatcher(system, on_alert, None if mode == "naive" else SAMPLE_FPS)
        began = time.time()
        watcher.start()
        startup_end = began + STARTUP_S
        time.sleep(max(0.0, startup_end - time.time()))
        startup_drops = watcher.drops()
        speech_lag = 0.0
        while time.time() < began + seconds:
            if isinstance(watcher, PipelineWatcher):
                speech_lag = max([speech_lag] + [s.speech_lag_s for s in watcher.pipeline.rooms.values()])
            time.sleep(min(0.5, max(0.0, began + seconds - time.time())))
        ended = time.time()
        drops = watcher.drops() - startup_drops
        healths = watcher.healths()
        max_lag = max((h.lag_s for h in healths.values() if h.lag_s is not None), default=0.0)
        first_frames = {r: h.first_frame_wall for r, h in healths.items() if h.first_frame_wall}
        first_analysed = dict(watcher.first_analysed)
        errors = watcher.detector_errors()
        watcher.stop()
        for _, stop in publishers:
            stop.set()

    shown = [("unauthorized_brand", MARK_ON)] + [("unlisted_product", PACK_ON)] * products \
        + [("code_invalid", MARK_ON)] * (codes and mode != "no-codes")
    phases = {rule: (Phase(), Phase()) for rule, _ in shown}
    never_started = [r for r in rooms if r not in starts]
    for room in rooms:
        for rule, on in shown:
            if room in starts:
                score_sightings(starts[room], on, opened.get((rule, room), []), began, startup_end, ended,
                                *phases[rule])
    # how long each room waited for its first analysis (inf: never analysed, or no frame in the start-up window)
    waits = [first_analysed[r] - first_frames[r] if r in first_analysed and r in first_frames
             and first_frames[r] < startup_end else math.inf for r in rooms]
    impersonation = Phase()
    if faces:  # the portrait is on screen from the room's first frame
        for room in rooms:
            t = [a for a in opened.get(("impersonation", room), []) if room in first_frames]
            impersonation.latencies.append(min(t) - first_frames[room] if t else math.inf)
    return {"n": n, "phases": phases, "impersonation": impersonation if faces else None, "waits": waits,
            "startup_drops": startup_drops, "drops": drops, "max_lag": max_lag, "errors": errors,
            "never_started": never_started, "speech_lag": speech_lag,
            "offers_heard": sum(1 for room in rooms if opened.get(("counterfeit_language", room)))}


def limit(rule: str) -> float:
    """The p95 bound of a finding: P95_LIMIT, plus the time a rule without an instant path waits for its K hits."""
    r = next(x for x in trial_rules(1.5) if x.id == rule)
    instant = r.instant_confidence <= 1.0  # (the default, 1.01, is "never at once")
    return P95_LIMIT if instant else P95_LIMIT + (r.hits - 1) / SAMPLE_FPS


def verdict(r: dict) -> tuple[bool, bool, list[str]]:
    """(start-up ok, steady state ok, lines to print)."""
    n = r["n"]
    waits = np.asarray(r["waits"])
    up_ok = bool(np.all(waits <= FIRST_ANALYSIS_S)) and r["startup_drops"] <= STARTUP_DROPS_PER_ROOM * n
    steady_ok = r["drops"] == 0 and not r["never_started"]
    up_text = [f"first analysis max={waits.max():.2f}s" + (f" ({int(np.isinf(waits).sum())} rooms never)"
                                                           if np.isinf(waits).any() else ""),
               f"drops={r['startup_drops']}"]
    steady_text = [f"drops={r['drops']}", f"lag at end={r['max_lag']:.2f}s"]
    for rule, (startup, steady) in r["phases"].items():
        bound = limit(rule)
        up_ok &= startup.ok(bound)
        steady_ok &= steady.ok(bound) and len(steady.latencies) > 0
        up_text.insert(0, f"{rule}: {startup.text()}")
        steady_text.insert(0, f"{rule}: {steady.text()}")
    if r["impersonation"] is not None:
        up_ok &= r["impersonation"].ok(limit("impersonation"))
        up_text.insert(0, f"impersonation: {r['impersonation'].text()}")
    errors_ok = r["errors"] == 0
    lines = [f"start-up {'pass' if up_ok else 'FAIL'}: " + "; ".join(up_text),
             f"steady   {'pass' if steady_ok else 'FAIL'}: " + "; ".join(steady_text)]
    if r["offers_heard"] or r["speech_lag"]:
        lines.append(f"speech: {r['offers_heard']} of {n} rooms' spoken offers alerted; "
                     f"peak speech lag {r['speech_lag']:.1f}s")
    if not errors_ok or r["never_started"]:
        lines.append(f"detector errors={r['errors']}; publishers that never started: {r['never_started']}")
    return up_ok and errors_ok, steady_ok and errors_ok, lines


def ramp(mode: str, ns: list[int], clip: Path, seconds: float, workdir: Path, products: bool = False,
         faces: bool = False, bank: Path | None = None, codes: bool = False, speech: bool = False) -> int:
    reached = 0
    for n in ns:
        up_ok, steady_ok, lines = verdict(step(n, mode, clip, seconds, workdir, products, faces, bank, codes,
                                               speech))
        ok = up_ok and steady_ok
        print(f"  {mode:10s} N={n:2d}: {'pass' if ok else 'FAIL'}", flush=True)
        for line in lines:
            print(f"      {line}", flush=True)
        if not ok:
            break
        reached = n
    return reached


def main() -> None:
    run_on_jemalloc()  # as `livewarden watch` runs (LIVEWARDEN_ALLOCATOR=glibc for the system allocator)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=34.0, help="run time per step")
    ap.add_argument("--max-rooms", type=int, default=40)
    ap.add_argument("--with-products", action="store_true", help="a pack shot held up; run the products detector too")
    ap.add_argument("--with-faces", action="store_true", help="a portrait on screen; run the faces detector too")
    ap.add_argument("--with-bank", action="store_true",
                    help="a registered broadcast (60 s) in the bank: every room's frames are looked up in it")
    ap.add_argument("--with-codes", action="store_true",
                    help="a QR label with a never-issued serial beside the card; run the codes detector too")
    ap.add_argument("--with-speech", action="store_true",
                    help="a seller speaking in every room; run the speech detector too (mode no-speech: without it)")
    ap.add_argument("--modes", default="naive,sampled,livewarden",
                    help="which ramps to run (comma-separated; no-broadcast: livewarden without the broadcast detector)")
    ap.add_argument("--rooms", type=int, action="append", help="run only these steps (e.g. --rooms 16 for an A/B)")
    args = ap.parse_args()
    modes = set(args.modes.split(","))
    ok, why = RtmpServer.available()
    if not ok:
        raise SystemExit(f"streams_per_core needs nginx with the RTMP module: {why} (run scripts/setup.sh)")
    if args.seconds < STARTUP_S + TAIL_S + LOOP_S:
        raise SystemExit(f"--seconds must be at least {STARTUP_S + TAIL_S + LOOP_S:.1f} (start-up, one loop, the tail)")
    cores = os.cpu_count()
    print(f"streams_per_core: 720p{FPS} H.264 rooms via nginx-rtmp, {cores} CPU cores, {allocator_in_use()}, "
          f"{args.seconds:.0f}s per step (start-up: the first {STARTUP_S:.0f}s)")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "room.mp4"
        print("  encoding the sample room…", flush=True)
        frames = room_frames(the_mark(), seconds=LOOP_S, fps=FPS, mark_on=MARK_ON, seed=9)
        if args.with_codes:  # a QR label held up in the other hand while the card is up (12% of the width)
            label = cv2.cvtColor(code_image(CODE_TEMPLATE.format(serial=NEVER_ISSUED)), cv2.COLOR_GRAY2BGR)
            frames = with_pack(frames, label, MARK_ON, FPS)
        if args.with_products:
            frames = with_pack(frames, cv2.imread(str(PACK)), PACK_ON, FPS)
        if args.with_faces:
            frames = with_portrait(frames, cv2.imread(str(FACES / "obama-live.jpg")))
        write_clip(clip, frames, FPS)
        if args.with_speech:  # the pitch at the start of every loop, silence to the loop's end
            said = espeak(PITCH, speed=150)
            track = np.zeros(int(LOOP_S * RATE), np.float32)
            track[: min(said.size, track.size)] = said[: track.size]
            with_sound(track, clip, video=clip)
            print(f"  the seller speaks {said.size / RATE:.1f} s of every {LOOP_S} s loop", flush=True)
        bank = None
        if args.with_bank:
            bank = Path(tmp) / "studio-show.mp4"
            write_clip(bank, drifting_shapes(60 * 10, seed=4, size=(1280, 720), fps=10), 10)
        extra = (args.with_products, args.with_faces, bank, args.with_codes, args.with_speech)
        ours = [1, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48]
        ramps = {"naive": [1, 2, 3, 4, 6, 8], "sampled": [1, 2, 4, 6, 8, 12, 16, 20], "no-broadcast": ours,
                 "no-codes": ours, "no-speech": ours, "livewarden": ours}
        reached = {mode: ramp(mode, args.rooms or [n for n in ns if n <= args.max_rooms], clip, args.seconds,
                              Path(tmp), *extra)
                   for mode, ns in ramps.items() if mode in modes}
    if "no-broadcast" in reached:
        print(f"  broadcast detector{' with a registered broadcast in the bank' if bank else ''}: "
              f"livewarden {reached.get('livewarden', 0)} rooms with it, {reached['no-broadcast']} without it")
    if "no-codes" in reached:
        print(f"  codes detector: livewarden {reached.get('livewarden', 0)} rooms with it, "
              f"{reached['no-codes']} without it")
    if "no-speech" in reached:
        print(f"  speech detector (one transcription slot): livewarden {reached.get('livewarden', 0)} rooms with it, "
              f"{reached['no-speech']} without it")
    naive, sampled, ours = (reached.get(m, 0) for m in ("naive", "sampled", "livewarden"))
    print(f"  rooms sustained (start-up and steady state): livewarden {ours} ({ours / cores:.1f}/core), "
          f"sampled loop {sampled}, naive loop {naive}; ratio {ours / max(sampled, 1):.1f}x the sampled loop, "
          f"{ours / max(naive, 1):.1f}x the naive loop" + (" (a baseline of 0 counts as 1)" if not sampled or not naive else ""))
    goal = 12 if args.with_products or args.with_faces else 16
    what = " + ".join(["marks"] + ["products"] * args.with_products + ["faces"] * args.with_faces)
    print(f"  goal >= {goal} rooms on 2 cores with {what}: {'met' if ours >= goal else 'NOT met'}")


if __name__ == "__main__":
    main()
