"""room_churn_memory: rooms that come and go for half an hour; resident memory must stay flat.

8 live rooms (720p H.264 through a real nginx-rtmp server, each published by its own ffmpeg process) are
watched by one pipeline with the marks and products detectors at 2 fps. Every `--swap-s` seconds one of the 8
slots ends: its stream stops, its room is removed from the pipeline (its detector states, policy state,
timeline, transcript and evidence spool entries dropped), and a room with a new id starts in its place, so
each room lives about a minute (8 rooms x 7.5 s) and ~240 rooms pass through 30 minutes.
Printed: RSS of this process (the pipeline; the publishers are other processes) at the start (after the
first full minute) and every `--report-min` minutes, plus rooms opened/closed and alerts. The verdict is the
growth from the first report after warm-up (10 min, ~80 rooms: until then the allocator, the models' caches
and the store grow as every code path runs for the first time) to the end, against a bound of 5%: a leak of
per-room state would keep growing with every room. The growth from minute 1 is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
from rig import PACKS, the_mark, trial_rules, with_pack, write_registry

from livewarden.runtime.allocator import allocator_in_use, run_on_jemalloc
from livewarden.testing.scenes import room_frames
from livewarden.config import load_settings
from livewarden.testing.clips import write_clip
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.runtime.build import build_system
from livewarden.runtime.memory import malloc_usage

FPS = 30
LOOP_S = 10.2
MARK_ON = (4.1, 8.1)
PACK_ON = (0.3, 3.7)
PACK = PACKS / "Tropicana-Apple-Juice.jpg"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def where_mb() -> str:
    """Where resident memory is: anonymous vs file-backed pages (/proc/self/smaps_rollup), pymalloc's arenas
    (Python objects), and what glibc's malloc holds: which of them grows tells a leak from fragmentation."""
    fields = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) / 1024
    out = [f"anon {fields.get('Anonymous', 0):.0f}", f"file {fields.get('Rss', 0) - fields.get('Anonymous', 0):.0f}",
           f"pymalloc arenas {_pymalloc_arenas()}"]
    heap = malloc_usage()
    if heap:
        out.append("malloc " + ", ".join(f"{k} {v:.0f}" for k, v in heap.items()))
    return "; ".join(out)


def _pymalloc_arenas() -> int:
    """Arenas pymalloc holds now (1 MB each in 3.11), from sys._debugmallocstats (it writes to fd 2)."""
    import re

    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        found = re.search(rb"# arenas allocated current\s*=\s*([\d,]+)", tmp.read())
    return int(found.group(1).replace(b",", b"")) if found else -1


def publish(clip: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip), "-c", "copy",
                             "-f", "flv", url], stdin=subprocess.DEVNULL)


def main() -> None:
    run_on_jemalloc()  # as `livewarden watch` runs (LIVEWARDEN_ALLOCATOR=glibc for the system allocator)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rooms", type=int, default=8)
    ap.add_argument("--swap-s", type=float, default=7.5, help="one slot ends and a new room starts this often")
    ap.add_argument("--report-min", type=float, default=10.0)
    ap.add_argument("--trace", action="store_true", help="tracemalloc: print where Python memory grew since minute 1")
    args = ap.parse_args()
    if args.trace:
        import tracemalloc

        tracemalloc.start(8)
    first_snapshot = None
    ok, why = RtmpServer.available()
    if not ok:
        raise SystemExit(f"room_churn_memory needs nginx with the RTMP module: {why}")
    total = args.rooms + int(args.minutes * 60 / args.swap_s) + 1
    print(f"room_churn_memory: {args.rooms} live rooms, one replaced every {args.swap_s:g}s for {args.minutes:g} min "
          f"(~{total} rooms), marks + products at 2 fps, {os.cpu_count()} cores, {allocator_in_use()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp, RtmpServer() as server:
        tmp = Path(tmp)
        clip = tmp / "room.mp4"
        frames = with_pack(room_frames(the_mark(), seconds=LOOP_S, fps=FPS, mark_on=MARK_ON, seed=9),
                           cv2.imread(str(PACK)), PACK_ON, FPS)
        write_clip(clip, frames, FPS)
        names = [f"room{i:04d}" for i in range(total)]
        registry = write_registry(tmp / "registry", {n: server.url(n) for n in names}, products=True)
        settings = load_settings(overrides={"store.data_dir": tmp / "store", "runtime.sample_fps": 2.0})
        system = build_system(registry, settings, rules=trial_rules(1.5))
        pipeline = system.pipeline(rooms=[])
        pipeline.start()
        live: dict[str, subprocess.Popen] = {}
        opened = closed = 0

        def open_room(name: str) -> None:
            nonlocal opened
            live[name] = publish(clip, server.url(name))
            time.sleep(0.5)  # the publisher is on before the room subscribes
            pipeline.add_room(registry.room(name))
            opened += 1

        def close_room(name: str) -> None:
            nonlocal closed
            live.pop(name).terminate()
            pipeline.remove_room(name)
            closed += 1

        queue = iter(names)
        for _ in range(args.rooms):
            open_room(next(queue))
        started = time.monotonic()
        next_swap, next_report, first, warm = started + args.swap_s, started + 60.0, None, None
        end = started + args.minutes * 60
        try:
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_swap:
                    close_room(next(iter(live)))  # the oldest
                    open_room(next(queue))
                    next_swap += args.swap_s
                if now >= next_report:
                    minute = (now - started) / 60
                    mb = rss_mb()
                    first = first or mb
                    if warm is None and minute >= min(args.report_min, args.minutes / 3):
                        warm = mb
                    if args.trace and first_snapshot is None:
                        first_snapshot = tracemalloc.take_snapshot()
                    print(f"  threads alive: {threading.active_count()}; MB: {where_mb()}", flush=True)
                    print(f"  {minute:5.1f} min: RSS {mb:7.1f} MB  rooms opened {opened}, closed {closed}, "
                          f"watched now {len(pipeline.rooms)}, alerts {len(system.store.alerts())}, "
                          f"detector errors {sum(s.detector_errors for s in pipeline.rooms.values())}", flush=True)
                    next_report = (started + 60 * args.report_min * (int(minute / args.report_min) + 1)
                                   if minute >= 1.0 else started + 60 * args.report_min)
                time.sleep(0.2)
            mb = rss_mb()
            print(f"  {args.minutes:5.1f} min: RSS {mb:7.1f} MB  rooms opened {opened}, closed {closed}; "
                  f"MB: {where_mb()}", flush=True)
            if args.trace and first_snapshot is not None:
                for stat in tracemalloc.take_snapshot().compare_to(first_snapshot, "traceback")[:8]:
                    print(f"  grew {stat.size_diff / 1e6:+.2f} MB in {stat.count_diff:+d} blocks at:")
                    for line in stat.traceback.format()[-8:]:
                        print("     ", line)
        finally:
            pipeline.stop()
            for proc in live.values():
                proc.terminate()
    first = first or mb
    warm = warm or first
    growth = (mb - warm) / warm if warm else float("nan")
    print(f"  growth from minute 1 to the end: {mb - first:+.1f} MB ({(mb - first) / first:+.1%}) (warm-up included)")
    print(f"  growth after warm-up to the end: {mb - warm:+.1f} MB ({growth:+.1%}); bound 5%: "
          f"{'flat' if growth <= 0.05 else 'NOT flat'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
