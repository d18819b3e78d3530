"""Cluster overhead: the same rooms on the same 2 cores, in one process vs on Ray room workers with Redis Streams
and PostgreSQL, in one run: CPU per room and time to alert.

    python benchmarks/cluster_overhead.py [--rooms 6] [--seconds 45] [--rounds 2]

Rooms: the streams_per_core clip (720p30 H.264, 10.2 s loop, the NOVA card up from 4.1 s to 8.1 s of each loop)
pushed into a private nginx-rtmp server, every room's seller unauthorized, rules with `close_after_s` 1.5 s so
every loop opens an alert. Each mode is the real CLI in its own processes:
- in process: `livewarden serve` (the rooms, the policy and the API in one process; SQLite);
- cluster: `livewarden serve --engine ray --workers 2 --bus redis://… --db postgresql+psycopg://…` (the placer
  and a policy consumer in the server process, the rooms on two Ray room-worker actors).
CPU is what livewarden's processes used while the rooms ran (user + system, from /proc), after a warm-up: in
process the server; in the cluster the server, the Ray worker processes of the room workers, Ray's own
processes (raylet, GCS), redis-server and PostgreSQL. The publishers and nginx are outside both. Time to alert is
from the card's first frame leaving the publisher to the alert's commit (its `opened_at`), every sighting in
the steady state. Goal (issue 19): <= 15% more CPU per room, p95 time to alert <= 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rig import cpu_s, the_mark, trial_rules, write_registry  # noqa: E402
from streams_per_core import FPS, LOOP_S, MARK_ON  # noqa: E402

from livewarden.cases import CaseStore, migrate  # noqa: E402
from livewarden.testing.clips import write_clip  # noqa: E402
from livewarden.testing.postgres import PostgresServer  # noqa: E402
from livewarden.testing.publish import start_publisher  # noqa: E402
from livewarden.testing.redis_server import RedisServer  # noqa: E402
from livewarden.testing.rtmp_server import RtmpServer  # noqa: E402
from livewarden.testing.scenes import room_frames  # noqa: E402

WARM_UP_S = 12.0  # models loaded, rooms connected, the placer settled: CPU is counted after this


def pids_matching(*needles: str) -> list[int]:
    """Processes whose command line contains one of `needles`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            out.append(int(entry.name))
    return out


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_s(pid)
        except (OSError, IndexError):
            pass
    return total


def signals_sent(redis_url: str, prefix: str) -> int:
    """How many signals a run's rooms have put on the Redis bus so far (0 in process: no bus)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        return sum(int(r.xlen(k)) for k in r.scan_iter(f"{prefix}signals:*"))
    finally:
        r.close()


def latencies(store: CaseStore, starts: dict[str, float], began: float, ended: float) -> list[float]:
    """For every sighting shown after `began` and ending before `ended`: its alert's commit - its first frame."""
    opened: dict[str, list[float]] = {}
    for a in store.alerts():
        if a.rule == "unauthorized_brand":
            opened.setdefault(a.room_id, []).append(a.opened_at)
    out = []
    for room, start in starts.items():
        alerts = sorted(opened.get(room, []))
        for k in range(int((ended - start) / LOOP_S) + 1):
            shown, off = start + k * LOOP_S + MARK_ON[0], start + k * LOOP_S + MARK_ON[1]
            if shown < began or off > ended:
                continue
            first = next((t for t in alerts if shown <= t < shown + LOOP_S), None)
            out.append(first - shown if first is not None else float("inf"))
    return out


def run(mode: str, rooms: int, seconds: float, clip: Path, tmp: Path, redis_url: str, pg: PostgresServer) -> dict:
    names = [f"room{i:02d}" for i in range(rooms)]
    tmp.mkdir(parents=True, exist_ok=True)
    prefix = f"{tmp.name}-{mode.replace(' ', '-')}:"  # a bus of the run's own
    rules = tmp / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [r.model_dump(mode="json", exclude_none=True)
                                               for r in trial_rules(1.5)]}, sort_keys=False))
    with RtmpServer() as server:
        workdir = tmp / mode
        workdir.mkdir()
        write_registry(workdir, {n: server.url(n) for n in names})
        starts: dict[str, float] = {}
        publishers = []
        for n in names:
            publishers.append(start_publisher(clip, server.url(n), loop=True,
                                              on_start=lambda wall, n=n: starts.setdefault(n, wall)))
            time.sleep(LOOP_S / rooms)
        cli = [sys.executable, "-m", "livewarden.cli"]
        common = ["-r", str(workdir / "registry.yaml"), "--rules", str(rules), "--data-dir", str(workdir / "data")]
        env = {**os.environ, "LIVEWARDEN_STORE__INDEX_DIR": str(tmp / "index"),
               "LIVEWARDEN_DETECTORS__LANGUAGE__ENABLED": "false", "LIVEWARDEN_BUS__PREFIX": prefix}
        if mode == "in process":
            url = None
            proc = subprocess.Popen(cli + ["serve", *common, "--port", "0"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(workdir / "run.log", "w"))
        else:
            url = pg.new_database(f"cluster_{tmp.name}")
            migrate.upgrade(url)
            proc = subprocess.Popen(cli + ["serve", *common, "--engine", "ray", "--workers", "2", "--bus", redis_url,
                                           "--db", url, "--port", "0"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=open(workdir / "run.log", "w"))
        try:
            time.sleep(WARM_UP_S)
            if proc.poll() is not None:
                raise SystemExit(f"{mode}: the livewarden process ended early: {(workdir / 'run.log').read_text()[-2000:]}")
            if mode == "in process":
                groups = {"server (rooms, policy, API)": [proc.pid]}
            else:  # the server, its room workers, Ray's own processes, Redis and PostgreSQL
                groups = {"server (placer, policy, API)": [proc.pid],
                          "room workers": pids_matching("ray::RoomWorker"),
                          "Ray (raylet, GCS)": pids_matching("raylet", "gcs_server"),
                          "Redis": pids_matching("redis-server"),
                          "PostgreSQL": pids_matching("postgres -D", "postgres: ")}
            pids = sorted({pid for group in groups.values() for pid in group})
            began, before = time.time(), {g: cpu_of(p) for g, p in groups.items()}
            sent0 = signals_sent(redis_url, prefix)
            time.sleep(seconds)
            ended, after = time.time(), {g: cpu_of(p) for g, p in groups.items()}
            sent1 = signals_sent(redis_url, prefix)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            for _, stop in publishers:
                stop.set()
    store = CaseStore.at(workdir / "data") if url is None else CaseStore(url, workdir / "data" / "evidence")
    lat = latencies(store, starts, began, ended - 1.5)
    spent = {g: (after[g] - before[g]) / (ended - began) for g in groups}
    return {"cpu_per_room": sum(spent.values()) / rooms, "latencies": lat, "processes": len(pids), "spent": spent,
            "signals_per_room_s": (sent1 - sent0) / (ended - began) / rooms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=45.0, help="measured time per mode (after the warm-up)")
    ap.add_argument("--modes", default="in process,cluster", help="comma-separated: in process, cluster (one "
                                                                   "alone is for profiling: no ratio is printed)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of every mode, in turn and each round in the "
                                                          "other order (A B, B A, ...): the machine's drift "
                                                          "falls on both modes alike")
    args = ap.parse_args()
    for server in (RedisServer, PostgresServer, RtmpServer):
        ok, why = server.available()
        if not ok:
            raise SystemExit(f"cluster_overhead needs {server.NAME}: {why} (run scripts/setup.sh)")
    print(f"cluster_overhead: {args.rooms} rooms (720p30 via nginx-rtmp), {os.cpu_count()} CPU cores, "
          f"{args.seconds:.0f} s measured per mode after a {WARM_UP_S:.0f} s warm-up, {args.rounds} round(s)",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(appendfsync="everysec") as redis_server, \
            PostgresServer() as pg:
        tmp = Path(tmp)
        clip = tmp / "room.mp4"
        write_clip(clip, room_frames(the_mark(), seconds=LOOP_S, fps=FPS, mark_on=MARK_ON, seed=9), FPS)
        results: dict[str, list[dict]] = {}
        modes = [m.strip() for m in args.modes.split(",")]
        for k in range(args.rounds):
            for mode in (modes if k % 2 == 0 else modes[::-1]):
                r = run(mode, args.rooms, args.seconds, clip, tmp / f"round{k}", redis_server.url, pg)
                results.setdefault(mode, []).append(r)
                lat = np.asarray(r["latencies"])
                missed = int(np.isinf(lat).sum())
                print(f"  {mode:<10} (round {k + 1}): CPU {r['cpu_per_room']:.3f} core-s/s per room "
                      f"({r['processes']} processes); time to alert n={len(lat)} missed={missed} "
                      f"p50={np.percentile(lat, 50):.2f} s p95={np.percentile(lat, 95, method='higher'):.2f} s",
                      flush=True)
                print("      cores used: " + ", ".join(f"{g} {c:.2f}" for g, c in r["spent"].items())
                      + (f"; {r['signals_per_room_s']:.1f} signals/s per room on the bus" if mode == "cluster"
                         else ""), flush=True)
    if len(results) < 2:
        return
    cpu = {mode: float(np.mean([r["cpu_per_room"] for r in rs])) for mode, rs in results.items()}
    extra = cpu["cluster"] / cpu["in process"] - 1
    each = ", ".join(f"{c['cpu_per_room'] / b['cpu_per_room'] - 1:+.0%}"
                     for b, c in zip(results["in process"], results["cluster"]))
    p95 = float(np.percentile([t for r in results["cluster"] for t in r["latencies"]], 95, method="higher"))
    print(f"  cluster vs in process: {extra:+.0%} CPU per room over {args.rounds} round(s) (each: {each}; "
          f"goal <= +15%: {'met' if extra <= 0.15 else 'NOT met'}); p95 time to alert {p95:.2f} s "
          f"(goal <= 1.5 s: {'met' if p95 <= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
