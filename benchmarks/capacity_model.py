"""Capacity model: what N rooms need (room-worker cores, policy processes, Redis, PostgreSQL, network), from
per-room costs measured on this machine.

    python benchmarks/capacity_model.py [--rooms 10000] [--violating 0.01] [--speech 0.0]

Three inputs are measured here, now: the size of a real mark signal on the bus (the marks detector run on a
frame of the benchmark clip, serialised as the Redis bus sends it), the size of a room's post to the room board
(its health entry and thumbnail, for that frame) and the bitrate of that clip (720p30 H.264, the
streams_per_core room). The others come from the benchmarks named beside them (2-core AMD EPYC, 2026-12-04;
the bus and the store 2026-12-07), and can be given again from a run on the target machines:

- rooms per core: `streams_per_core` (12 rooms on 2 cores with marks; 8 with every seller speaking);
- signals per room per second: `cluster_overhead` (what 720p rooms with a card 40% of the time put on the bus);
- policy signals per core: `bus_throughput` (one policy process, which is one core: the GIL);
- Redis CPU per signal: `bus_throughput` (redis-server's CPU over the run / the signals);
- PostgreSQL alert writes per core: `bus_throughput --alerting 1000` (every signal an alert update).

Alert writes: a room in violation updates its open alert with every qualifying signal; `--violating` is the
share of rooms in violation at any moment. The model is linear: nothing here was measured beyond 6 rooms, two
policy processes or one Redis; a real deployment should measure a slice of its own load.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rig import the_mark, write_registry  # noqa: E402
from streams_per_core import FPS, LOOP_S, MARK_ON  # noqa: E402

# measured on the 2-core AMD EPYC (README "Measured"); pass others with the options below
ROOMS_PER_CORE = 6.0  # streams_per_core: 12 rooms sustained on 2 cores, marks
ROOMS_PER_CORE_SPEECH = 4.0  # streams_per_core --with-speech: 8 rooms on 2 cores, every seller speaking
SIGNALS_PER_ROOM_S = 4.2  # cluster_overhead: signals per room per second on the bus (6 rooms, card 40% of the time)
POLICY_SIGNALS_PER_CORE = 22_118  # bus_throughput: one policy process (the lowest of 3 runs: 22,118-30,116)
REDIS_US_PER_SIGNAL = 9.4  # bus_throughput: redis-server CPU per signal (XADD, XREADGROUP, XACK; 6.2-9.4 µs)
PG_WRITES_PER_CORE = 155.0  # bus_throughput --alerting 1000: 310 alert writes/s in process, 2 cores shared
HEADROOM = 0.7  # plan to use at most this share of every core
BOARD_EVERY_S, BOARD_THUMBNAIL_S = 1.0, 5.0  # the room board's defaults (bus.board_every_s, bus.board_thumbnail_s)


def measured_signal_bytes(tmp: Path) -> int:
    """The bytes of one real `mark` signal as the Redis bus carries it."""
    from livewarden.detectors.marks import MarksDetector
    from livewarden.model import Frame
    from livewarden.testing.scenes import room_frames

    registry = write_registry(tmp, {"room": "rtmp://127.0.0.1/live/room"})
    detector = MarksDetector.from_registry(registry)
    room = detector.open_room("room")
    frames = room_frames(the_mark(), seconds=MARK_ON[0] + 1.0, fps=FPS, mark_on=MARK_ON, seed=9)
    image = list(frames)[-1]
    signals = [s for s in room.process(Frame("room", MARK_ON[0] + 0.5, image)) if s.kind == "mark"]
    if not signals:
        raise SystemExit("the marks detector saw no mark in the benchmark frame")
    return len(json.dumps(signals[0].to_message(), separators=(",", ":")).encode())


def measured_board_post(tmp: Path) -> tuple[int, int]:
    """(bytes of a room's board entry, bytes of its thumbnail), as a room worker posts them for a room with the
    card on camera, after a move (runtime/room_board.py)."""
    import time

    from livewarden.detectors.marks import MarksDetector
    from livewarden.media.sources import VideoSource
    from livewarden.model import Frame
    from livewarden.runtime.pipeline import RoomStatus, thumbnail_jpeg
    from livewarden.runtime.room_board import board_entry
    from livewarden.testing.scenes import room_frames

    registry = write_registry(tmp, {"room": "rtmp://127.0.0.1/live/room"})
    image = list(room_frames(the_mark(), seconds=MARK_ON[0] + 1.0, fps=FPS, mark_on=MARK_ON, seed=9))[-1]
    status = RoomStatus("room", VideoSource("room", "rtmp://127.0.0.1/live/room"))
    status.last_signals = MarksDetector.from_registry(registry).open_room("room").process(Frame("room", 5.0, image))
    status.thumbnail, status.thumbnail_at, now = thumbnail_jpeg(image), time.time(), time.time()
    move = {"from": "worker-1", "at": now, "last_frame_wall": now - 3.0}
    return len(json.dumps(board_entry(status, "worker-2", now, move)).encode()), len(status.thumbnail)


def measured_clip_mbps(tmp: Path) -> float:
    from livewarden.testing.clips import write_clip
    from livewarden.testing.scenes import room_frames

    clip = tmp / "room.mp4"
    write_clip(clip, room_frames(the_mark(), seconds=LOOP_S, fps=FPS, mark_on=MARK_ON, seed=9), FPS)
    return clip.stat().st_size * 8 / LOOP_S / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=10_000)
    ap.add_argument("--violating", type=float, default=0.01, help="share of rooms in violation at a time")
    ap.add_argument("--speech", type=float, default=0.0, help="share of rooms with speech on")
    ap.add_argument("--rooms-per-core", type=float, default=ROOMS_PER_CORE)
    ap.add_argument("--signals-per-room-s", type=float, default=SIGNALS_PER_ROOM_S)
    ap.add_argument("--policy-signals-per-core", type=float, default=POLICY_SIGNALS_PER_CORE)
    ap.add_argument("--redis-us-per-signal", type=float, default=REDIS_US_PER_SIGNAL)
    ap.add_argument("--pg-writes-per-core", type=float, default=PG_WRITES_PER_CORE)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        signal_bytes = measured_signal_bytes(Path(tmp))
        mbps = measured_clip_mbps(Path(tmp))
        entry_bytes, thumbnail_bytes = measured_board_post(Path(tmp) / "board")
    n = args.rooms
    speaking = n * args.speech
    worker_cores = ((n - speaking) / args.rooms_per_core + speaking / ROOMS_PER_CORE_SPEECH) / HEADROOM
    signals = n * args.signals_per_room_s
    policy = signals / args.policy_signals_per_core / HEADROOM
    redis_cores = signals * args.redis_us_per_signal / 1e6 / HEADROOM
    # a room in violation updates its alert with each of its qualifying signals (at most one a frame at 2 fps)
    writes = n * args.violating * min(args.signals_per_room_s, 2.0)
    pg_cores = writes / args.pg_writes_per_core / HEADROOM
    board_bytes_s = entry_bytes / BOARD_EVERY_S + thumbnail_bytes / BOARD_THUMBNAIL_S
    rows = [
        ("room-worker cores", f"{math.ceil(worker_cores):,}",
         f"{n:,} rooms / {args.rooms_per_core:g} per core ({args.speech:.0%} with speech: "
         f"{ROOMS_PER_CORE_SPEECH:g} per core) / {HEADROOM:.0%} headroom"),
        ("signals on the bus", f"{signals:,.0f}/s", f"{args.signals_per_room_s:g} per room per second"),
        ("policy processes (1 core each)", f"{math.ceil(policy):,}",
         f"{args.policy_signals_per_core:,.0f} signals/s each / headroom"),
        ("Redis cores", f"{redis_cores:.1f}", f"{args.redis_us_per_signal:g} µs per signal; one Redis is one core: "
         + ("fits one" if redis_cores <= 1 else f"shard the partitions over {math.ceil(redis_cores)}")),
        ("alert writes to PostgreSQL", f"{writes:,.0f}/s ({pg_cores:.1f} cores)",
         f"{args.violating:.0%} of rooms in violation; {args.pg_writes_per_core:g} writes/s per core"),
        ("video in (room workers)", f"{n * mbps / 1000:,.1f} Gbit/s",
         f"{mbps:.2f} Mbit/s per room (this synthetic clip, measured; a real room sends what its platform sends)"),
        ("signals (workers -> Redis -> policy)", f"{signals * signal_bytes * 8 * 2 / 1e6:,.1f} Mbit/s",
         f"{signal_bytes} bytes per signal, measured, each sent twice"),
        ("room board (health to Redis)", f"{n * board_bytes_s * 8 / 1e6:,.1f} Mbit/s, {n / BOARD_EVERY_S:,.0f} "
         f"posts/s, {n * (entry_bytes + thumbnail_bytes) / 1e6:,.0f} MB held",
         f"{entry_bytes} bytes a post every {BOARD_EVERY_S:g} s, a {thumbnail_bytes / 1000:.1f} KB thumbnail every "
         f"{BOARD_THUMBNAIL_S:g} s, measured (bus.board_*)"),
    ]
    print(f"capacity_model: {n:,} rooms")
    print("| need | amount | from |\n|---|---|---|")
    for need, amount, source in rows:
        print(f"| {need} | {amount} | {source} |")


if __name__ == "__main__":
    main()
