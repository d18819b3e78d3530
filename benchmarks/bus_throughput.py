"""Bus throughput: signals/s through Redis Streams into the policy with 1, 2 and 4 `livewarden policy` processes,
against the in-process bus into the same policy and store, in one run.

    python benchmarks/bus_throughput.py [--rooms 1000] [--frames 20] [--alerting 10] [--consumers 1,2,4] [--sqlite]

The load is what the issue sizes: ROOMS rooms, ten mark signals per analysed frame (ten brands), FRAMES frames per
room, interleaved as live rooms publish them. `--alerting` rooms are run by a seller not authorized for one of
the ten brands: their signals of it open one alert per room and update it on every frame (a case-store write
each); every other signal is decided and costs no write. The store is PostgreSQL (a private server on loopback,
started here) unless --sqlite.

Redis runs with its append-only file fsynced every second (`appendfsync everysec`, the production setting).
The policy processes are the real CLI (`livewarden policy --bus … --db …`), started before the clock and given
time to share the partitions; the clock runs from the first signal published to the last one acked (the
group's lag and pending entries all at 0). Checked after each run: every alerting room has exactly one open
alert, with one hit per frame (no signal lost or counted twice).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from rig import cpu_s  # noqa: E402

from livewarden.cases import CaseStore, migrate  # noqa: E402
from livewarden.config import Settings  # noqa: E402
from livewarden.model import Signal  # noqa: E402
from livewarden.registry import load_registry  # noqa: E402
from livewarden.runtime.build import System  # noqa: E402
from livewarden.runtime.bus import SIGNALS  # noqa: E402
from livewarden.runtime.pipeline import Decider  # noqa: E402
from livewarden.runtime.redis_bus import GROUP, RedisStreamsBus  # noqa: E402
from livewarden.testing.postgres import PostgresServer  # noqa: E402
from livewarden.testing.redis_server import RedisServer  # noqa: E402

BRANDS = [f"brand{i}" for i in range(10)]
PARTITIONS = 16


def write_registry(path: Path, rooms: int, alerting: int) -> Path:
    """`alerting` rooms of a seller not authorized for brand9; the rest of one authorized for all ten."""
    data = {"brands": [{"id": b, "name": b.title()} for b in BRANDS],
            "sellers": [{"id": "official", "name": "Official", "authorized_brands": BRANDS},
                        {"id": "bargain", "name": "Bargain", "authorized_brands": BRANDS[:-1]}],
            "rooms": [{"id": f"r{i:04d}", "seller": "bargain" if i < alerting else "official",
                       "source": f"rtmp://127.0.0.1/live/r{i:04d}"} for i in range(rooms)]}
    path.write_text(yaml.safe_dump(data))
    return path


def load(rooms: int, frames: int) -> list[Signal]:
    """Ten mark signals per room per frame (0.5 s apart), rooms interleaved."""
    t0 = time.time()
    return [Signal(f"r{r:04d}", f * 0.5, "mark", brand, 0.9, "marks", evidence={"inliers": 40, "scale": 0.3},
                   wall_time=t0 + f * 0.5 + r * 1e-4)
            for f in range(frames) for r in range(rooms) for brand in BRANDS]


def check(store: CaseStore, alerting: int, frames: int) -> str:
    opened = [a for a in store.alerts() if a.status == "open"]
    ok = len(opened) == alerting and all(a.hits == frames and a.subject == BRANDS[-1] for a in opened)
    return "ok" if ok else f"WRONG: {len(opened)} open alerts, hits {sorted({a.hits for a in opened})}"


def in_process(registry: Path, url: str, signals: list[Signal], data: Path) -> float:
    settings = Settings().with_overrides({"store.url": url, "store.data_dir": data})
    system = System.of(load_registry(registry), [], settings=settings)
    Decider(system)
    t = time.perf_counter()
    for s in signals:
        system.bus.publish(SIGNALS, s)
    return time.perf_counter() - t


def through_redis(registry: Path, db: str, redis_url: str, prefix: str, signals: list[Signal], consumers: int,
                  data: Path, redis_pid: int) -> tuple[float, float, float]:
    """(seconds to publish everything, seconds until the last signal was acked, redis-server's CPU seconds)."""
    env = {**os.environ, "LIVEWARDEN_BUS__PREFIX": prefix, "LIVEWARDEN_BUS__PARTITIONS": str(PARTITIONS)}
    procs = [subprocess.Popen([sys.executable, "-m", "livewarden.cli", "policy", "--registry", str(registry),
                               "--bus", redis_url, "--db", db, "--data-dir", str(data)],
                              stdout=subprocess.DEVNULL, stderr=open(data / f"policy-{i}.log", "w"), env=env)
             for i in range(consumers)]
    producer = RedisStreamsBus(redis_url, prefix=prefix, partitions=PARTITIONS)
    r = producer.redis
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # every partition leased, in equal shares (no room moves mid-run)
            holders = Counter(r.get(producer.keys.lease(p)) for p in range(PARTITIONS))
            if None not in holders and len(holders) == consumers and max(holders.values()) - min(holders.values()) <= 1:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"the {consumers} policy processes did not share the partitions; see {data}/policy-*.log")
        time.sleep(1.0)
        t, redis_cpu = time.perf_counter(), cpu_s(redis_pid)
        for s in signals:
            producer.publish(SIGNALS, s)
        producer.flush(timeout=600)
        published = time.perf_counter() - t
        while True:
            groups = [g for p in range(PARTITIONS) for g in r.xinfo_groups(producer.keys.signals(p))
                      if g["name"].decode() == GROUP]
            if len(groups) == PARTITIONS and all(g["lag"] == 0 and g["pending"] == 0 for g in groups):
                break
            time.sleep(0.01)
        return published, time.perf_counter() - t, cpu_s(redis_pid) - redis_cpu
    finally:
        producer.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--frames", type=int, default=20, help="analysed frames per room (10 signals each)")
    ap.add_argument("--alerting", type=int, default=10, help="rooms whose signals update an alert on every frame")
    ap.add_argument("--consumers", default="1,2,4")
    ap.add_argument("--sqlite", action="store_true", help="the embedded SQLite store instead of PostgreSQL")
    args = ap.parse_args()
    for server in (RedisServer,) + (() if args.sqlite else (PostgresServer,)):
        ok, why = server.available()
        if not ok:
            raise SystemExit(f"bus_throughput needs {server.NAME}: {why} (run scripts/setup.sh)")
    signals = load(args.rooms, args.frames)
    writes = args.alerting * args.frames
    print(f"bus_throughput: {len(signals):,} signals ({args.rooms} rooms x {args.frames} frames x 10), "
          f"{writes:,} of them alert writes ({args.alerting} alerting rooms); {os.cpu_count()} CPU cores; "
          f"{'SQLite' if args.sqlite else 'PostgreSQL'} store", flush=True)
    with tempfile.TemporaryDirectory() as tmp, RedisServer(appendfsync="everysec") as redis_server:
        tmp = Path(tmp)
        registry = write_registry(tmp / "registry.yaml", args.rooms, args.alerting)
        pg = None if args.sqlite else PostgresServer().start()
        try:
            databases = iter(range(1000))

            def fresh(name: str) -> tuple[str, Path]:
                data = tmp / name
                data.mkdir()
                if pg is None:
                    url = f"sqlite:///{data / 'livewarden.db'}"
                else:
                    url = pg.new_database(f"{name}_{next(databases)}")
                migrate.upgrade(url)  # before several processes open it
                return url, data

            url, data = fresh("inproc")
            spent = in_process(registry, url, signals, data)
            base = len(signals) / spent
            print(f"  in process (one thread):   {base:>9,.0f} signals/s  {writes / spent:>7,.0f} alert writes/s  "
                  f"{check(CaseStore(url, data / 'evidence'), args.alerting, args.frames)}", flush=True)
            rows: list[tuple[int, float, bool]] = []
            for k in (int(x) for x in args.consumers.split(",")):
                url, data = fresh(f"redis{k}")
                published, spent, redis_cpu = through_redis(registry, url, redis_server.url, f"b{k}:", signals, k,
                                                             data, redis_server.pid)
                rate = len(signals) / spent
                verdict = check(CaseStore(url, data / 'evidence'), args.alerting, args.frames)
                rows.append((k, rate, verdict == "ok"))
                print(f"  Redis, {k} policy process{'es' if k > 1 else '  '}: {rate:>9,.0f} signals/s  "
                      f"{writes / spent:>7,.0f} alert writes/s  {verdict}"
                      f"  (published at {len(signals) / published:,.0f}/s; {rate / base:.2f}x in process; "
                      f"redis-server {redis_cpu / len(signals) * 1e6:.1f} µs CPU per signal)", flush=True)
        finally:
            if pg is not None:
                pg.stop()
    reached = [k for k, rate, ok in rows if ok and rate >= 20_000]
    print("  goal >= 20,000 signals/s (a thousand rooms at 2 fps, ten signals a frame), every alert right: "
          + (f"met with {min(reached)} policy process(es)" if reached else "NOT met"))


if __name__ == "__main__":
    main()
