"""event_fanout: 200 live-feed subscribers across 20 tenants while alerts are committed at 50/s: commit -> receipt.

    python benchmarks/event_fanout.py [--subscribers 200] [--tenants mixed|brand|platform] [--rate 50]
                                      [--seconds 30] [--db sqlite|postgres] [--prefill 0] [--quick]

The API (`create_app`, uvicorn, in a process of its own on 127.0.0.1, as `livewarden serve` runs it) serves
GET /events to 200 async httpx streaming clients in this process, each with a key of its own for one of 20
tenants (`mixed`: 10 brands and the moderators of 10 platforms, 10 subscribers each; or 20 brands, or 20
platforms). A writer process records alerts the way the pipeline does (a detector's sighting through the
`Policy`, `store.record`, the `Platform` filing it into a case and writing its `alert.opened` event in the
same transaction, evidence files cut from the frame) at a constant rate, and notes the time each commit
returned. Some alerts belong to tenants nobody subscribes to (another platform, other brands, a protected
person without a brand), so a subscriber that was sent what it may not see would show it.

Printed: commit -> receipt latency over every delivery (p50/p95/p99/max; by thirds of the run; per tenant
kind; the worst subscriber), and for every subscriber whether it got exactly the events of its tenant that
were committed while it listened (from the event log itself): none missing, none foreign, none twice.
`--prefill N` first commits N events for nobody's tenant, so the feed's in-memory window (5000) is as full as
on a server that has been up a while.

Goal: p95 <= 100 ms, and each subscriber receives exactly its tenant's events. `--quick` runs 8 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from livewarden.cases import db, migrate  # noqa: E402
from livewarden.cases.events import append_event  # noqa: E402
from livewarden.cases.keys import create_key  # noqa: E402
from livewarden.cases.schema import EventRow  # noqa: E402
from livewarden.cases.scope import SCOPE_FIELDS, Principal  # noqa: E402
from livewarden.cases.sql import SqlCaseRepository  # noqa: E402
from livewarden.policy.rules import Rule  # noqa: E402
from rig import cpu_s  # noqa: E402
from livewarden.testing.private_server import free_port  # noqa: E402

GOAL_P95_MS = 100.0
RULES = [Rule(id="unauthorized_brand", signal="mark", when="seller_not_authorized", hits=1, severity="red_flag",
              close_after_s=3600),
         Rule(id="impersonation", signal="face", when="person_not_authorized", hits=1, severity="red_flag",
              close_after_s=3600)]
POLY = [[300, 100], [450, 100], [450, 240], [300, 240]]


# -- the world: who subscribes, and what is committed --------------------------------------------------------------

def tenants_of(kind: str, n: int) -> list[tuple[str, str]]:
    """(role, tenant) of the subscribed tenants."""
    brands = n if kind == "brand" else 0 if kind == "platform" else n // 2
    return [("brand", f"brand{i:02d}") for i in range(brands)] + \
           [("moderator", f"platform{i:02d}") for i in range(n - brands)]


def world(args) -> tuple[dict, list[dict]]:
    """The registry (as JSON) and the commits: (room, kind, subject), each pair of room and subject once, so every
    commit opens an alert."""
    subscribed = tenants_of(args.tenants, args.tenant_count)
    brands = [t for r, t in subscribed if r == "brand"] or ["brand00", "brand01"]
    platforms = [t for r, t in subscribed if r == "moderator"] or ["platform00", "platform01"]
    brands += ["outsider-a", "outsider-b"]  # nobody subscribes to these
    platforms += ["elsewhere"]
    persons = ["ada", "bob"]
    subjects = [("mark", b) for b in brands] + [("face", p) for p in persons]
    n = int(args.rate * args.seconds)
    n_rooms = max(args.rooms, -(-n * 5 // (4 * len(subjects))))
    rooms = [{"id": f"room-{i:03d}", "seller": f"seller-{i:03d}", "source": f"rtmp://ingest.invalid/room-{i:03d}",
              "platform": platforms[i % len(platforms)]} for i in range(n_rooms)]
    registry = {"brands": [{"id": b, "name": b.title()} for b in brands],
                "persons": [{"id": p, "name": p.title(), "photos": [f"/nonexistent/{p}.jpg"]} for p in persons],
                "sellers": [{"id": r["seller"], "name": r["seller"]} for r in rooms],
                "rooms": rooms}
    rng = random.Random(args.seed)
    pairs = [(r["id"], k, s) for r in rooms for k, s in subjects]
    rng.shuffle(pairs)
    # 90% marks, 10% faces, in a shuffled order
    marks = [p for p in pairs if p[1] == "mark"]
    faces = [p for p in pairs if p[1] == "face"]
    commits = []
    for i in range(n):
        pick = faces if (rng.random() < 0.1 and faces) or not marks else marks
        room, kind, subject = pick.pop()
        commits.append({"room": room, "kind": kind, "subject": subject})
    return registry, commits


# -- the writer and the server, in processes of their own ----------------------------------------------------------

def run_writer(args) -> None:
    import numpy as np

    from livewarden.cases.platform import Platform
    from livewarden.cases.scope import alert_scope
    from livewarden.model import Frame, Signal
    from livewarden.policy import Policy
    from livewarden.registry.schema import Registry

    spec = json.loads(Path(args.write).read_text())
    registry = Registry(**spec["registry"])
    store = SqlCaseRepository(spec["url"], spec["evidence"])
    scope = store.scope = alert_scope(registry)
    Platform(store, rules=RULES)  # files each alert into its case and writes its event, in the same transaction
    policy = Policy(registry, RULES)
    writer = db.writer(store.engine)
    image = np.full((360, 640, 3), 90, np.uint8)
    image[100:240, 300:450] = (0, 200, 255)
    out, t0, rate = [], spec["t0"], spec["rate"]
    for i, c in enumerate(spec["commits"]):
        time.sleep(max(0.0, t0 + i / rate - time.time()))
        begun = time.time()
        if spec["writer"] == "event":  # just the event, in a write transaction of its own
            alert_id = 1_000_000 + i
            with Session(writer) as session, session.begin():
                append_event(session, "alert.opened", scope(c["room"], c["subject"]),
                             {"alert_id": alert_id, "room_id": c["room"], "rule": "unauthorized_brand",
                              "subject": c["subject"], "status": "open"})
        else:  # as the pipeline records a sighting
            st = 10.0 + i * 0.02
            signal = policy.resolve(Signal(c["room"], st, c["kind"], c["subject"], 0.95, "bench", {"polygon": POLY},
                                           frame=Frame(c["room"], st, image), wall_time=begun))
            alerts = [store.record(u) for u in policy.observe(signal)] if signal else []
            alert_id = alerts[-1].id if alerts else None
        committed = time.time()
        out.append({"i": i, "alert_id": alert_id, "due": t0 + i / rate, "begun": begun, "committed": committed})
    store.close()
    Path(spec["out"]).write_text(json.dumps(out))


def run_server(args) -> None:
    import logging

    import uvicorn

    from livewarden.api.app import create_app
    from livewarden.cases.platform import Platform
    from livewarden.registry.schema import Registry
    from livewarden.runtime.collector import settle_after_start

    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(Path(args.serve).read_text())
    store = SqlCaseRepository(spec["url"], spec["evidence"])
    app = create_app(Platform(store, rules=RULES), Registry(**spec["registry"]))
    settle_after_start()  # as `livewarden serve` does
    uvicorn.run(app, host="127.0.0.1", port=spec["port"], log_level="warning", access_log=False)



# -- the subscribers -----------------------------------------------------------------------------------------------

@dataclass
class Subscriber:
    role: str
    tenant: str
    token: str
    got: list[tuple[float, str]] = field(default_factory=list)  # (receipt time, the event's data line)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    errors: list[str] = field(default_factory=list)
    last_id: str | None = None

    async def listen(self, client: httpx.AsyncClient) -> None:
        """Read the stream; if it breaks, reconnect with Last-Event-ID (as a browser's EventSource does)."""
        while True:
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.last_id is not None:
                headers["Last-Event-ID"] = self.last_id
            try:
                async with client.stream("GET", "/events", headers=headers) as r:
                    if r.status_code != 200:
                        self.errors.append(f"HTTP {r.status_code}")
                        await asyncio.sleep(1)
                        continue
                    data = None
                    async for line in r.aiter_lines():
                        if not line:
                            if data is not None:
                                self.got.append((time.time(), data))
                                data = None
                        elif line.startswith("data: "):
                            data = line[6:]
                        elif line.startswith("id: "):
                            self.last_id = line[4:]
                        elif line.startswith(": connected"):
                            self.connected.set()
                self.errors.append("stream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a dropped stream is counted and resumed
                self.errors.append(type(exc).__name__)
                await asyncio.sleep(0.5)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def fmt(lat: list[float]) -> str:
    return (f"p50 {pct(lat, 0.5):.1f} ms, p95 {pct(lat, 0.95):.1f} ms, p99 {pct(lat, 0.99):.1f} ms, "
            f"max {max(lat) if lat else float('nan'):.1f} ms")


async def session(base: str, subs: list[Subscriber], url: str, writer_spec: Path, args) -> dict:
    limits = httpx.Limits(max_connections=len(subs) + 10, max_keepalive_connections=len(subs) + 10)
    timeout = httpx.Timeout(30.0, read=60.0)  # the feed sends a keep-alive every 15 s
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        t = time.monotonic()
        tasks = [asyncio.create_task(s.listen(client)) for s in subs]
        try:
            await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in subs)), 120)
        except asyncio.TimeoutError:
            pass
        connected_s = time.monotonic() - t
        n_connected = sum(s.connected.is_set() for s in subs)
        engine = db.engine(url)
        with Session(engine) as s:
            baseline = s.scalar(select(func.max(EventRow.id))) or 0
        spec = json.loads(writer_spec.read_text())
        spec["t0"] = time.time() + 1.0
        writer_spec.write_text(json.dumps(spec))
        rusage0 = resource.getrusage(resource.RUSAGE_SELF)
        proc = await asyncio.create_subprocess_exec(sys.executable, __file__, "--write", str(writer_spec))
        await proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f"the writer failed ({proc.returncode})")
        commits = json.loads(Path(spec["out"]).read_text())
        # what each subscriber should have: its tenant's events committed after it connected (the log itself)
        with Session(engine) as s:
            rows = s.execute(select(EventRow.id, EventRow.type, *(getattr(EventRow, f) for f in SCOPE_FIELDS))
                             .where(EventRow.id > baseline).order_by(EventRow.id)).all()
        engine.dispose()
        expected = {}
        for sub in subs:
            who = Principal("", sub.role, sub.tenant)
            expected[id(sub)] = {r[0] for r in rows if who.sees(dict(zip(SCOPE_FIELDS, r[2:])))}
        deadline = time.monotonic() + args.drain_s
        while time.monotonic() < deadline:  # the last commits' deliveries
            if all(len(sub.got) >= len(expected[id(sub)]) for sub in subs):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # anything extra (foreign, twice) that was still coming
        rusage1 = resource.getrusage(resource.RUSAGE_SELF)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    client_cpu = (rusage1.ru_utime + rusage1.ru_stime) - (rusage0.ru_utime + rusage0.ru_stime)
    return {"connected_s": connected_s, "n_connected": n_connected, "baseline": baseline, "commits": commits,
            "rows": rows, "expected": expected, "client_cpu": client_cpu}


def prefill(url: str, n: int) -> None:
    """N events nobody subscribes to, committed in batches (the feed reads them into its window)."""
    engine = db.engine(url)
    writer = db.writer(engine)
    for k in range(0, n, 500):
        with Session(writer) as s, s.begin():
            for j in range(k, min(n, k + 500)):
                append_event(s, "alert.updated", {"platform": "elsewhere", "seller": "seller-x", "brand": None,
                                                  "person": None}, {"alert_id": None, "prefill": j})
    engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="8 s of commits, to try it")
    ap.add_argument("--subscribers", type=int, default=200)
    ap.add_argument("--tenants", choices=("mixed", "brand", "platform"), default="mixed",
                    help="mixed: half brands, half platforms' moderators")
    ap.add_argument("--tenant-count", type=int, default=20)
    ap.add_argument("--rate", type=float, default=50.0, help="alerts committed per second")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rooms", type=int, default=100, help="at least this many rooms (more if the run needs them)")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--writer", choices=("policy", "event"), default="policy",
                    help="policy: sightings through the Policy and store.record (alert, case, audit entry, evidence "
                         "files, event); event: only append_event in a write transaction (lighter, for a busy machine)")
    ap.add_argument("--prefill", type=int, default=0, help="events for nobody committed before the subscribers come")
    ap.add_argument("--drain-s", type=float, default=10.0, help="how long to wait for the last deliveries")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", help=argparse.SUPPRESS)  # internal: the writer process, with its spec file
    ap.add_argument("--serve", help=argparse.SUPPRESS)  # internal: the server process, with its spec file
    args = ap.parse_args()
    if args.write:
        run_writer(args)
        return 0
    if args.serve:
        run_server(args)
        return 0
    if args.quick:
        args.seconds = min(args.seconds, 8.0)
    load1 = os.getloadavg()[0]
    registry, commits = world(args)
    tenants = tenants_of(args.tenants, args.tenant_count)
    kinds = Counter(r for r, _ in tenants)
    print(f"event_fanout: {args.subscribers} subscribers on GET /events across {len(tenants)} tenants "
          f"({', '.join(f'{n} {r}s' for r, n in kinds.items())}); {len(commits)} alerts committed at {args.rate:g}/s "
          f"for {args.seconds:g} s through "
          f"{'Policy + store.record' if args.writer == 'policy' else 'append_event alone'} ({args.db}); "
          f"{os.cpu_count()} CPUs, load average "
          f"{load1:.1f}", flush=True)
    pg = None
    with tempfile.TemporaryDirectory(prefix="event-fanout-") as tmp:
        tmp = Path(tmp)
        if args.db == "postgres":
            from livewarden.testing.postgres import PostgresServer

            ok, why = PostgresServer.available()
            if not ok:
                raise SystemExit(f"no PostgreSQL: {why}")
            pg = PostgresServer().start()
            url = pg.url
            migrate.upgrade(url)
        else:
            SqlCaseRepository.at(tmp / "data").close()
            url = f"sqlite:///{tmp / 'data' / 'livewarden.db'}"
        evidence = str(tmp / "data" / "evidence")
        engine = db.engine(url)
        subs = []
        for k in range(args.subscribers):
            role, tenant = tenants[k % len(tenants)]
            subs.append(Subscriber(role, tenant, create_key(engine, role, tenant, f"fanout-{k}")[1]))
        engine.dispose()
        port = free_port()
        server_spec = tmp / "server.json"
        server_spec.write_text(json.dumps({"url": url, "evidence": evidence, "registry": registry, "port": port}))
        writer_spec = tmp / "writer.json"
        writer_spec.write_text(json.dumps({"url": url, "evidence": evidence, "registry": registry, "rate": args.rate,
                                           "commits": commits, "out": str(tmp / "commits.json"), "t0": 0,
                                           "writer": args.writer}))
        log = tmp / "server.log"
        with open(log, "ab") as out:
            server = subprocess.Popen([sys.executable, __file__, "--serve", str(server_spec)], stdout=out,
                                      stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if server.poll() is not None:
                    raise SystemExit(f"the server exited: {log.read_text()[-2000:]}")
                try:
                    if httpx.get(base + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not answer /health within 60 s")
                time.sleep(0.1)
            if args.prefill:
                prefill(url, args.prefill)
                time.sleep(2 + args.prefill / 1000 * 0.1)  # the feed reads at most 1000 a look, every 50 ms
            cpu0, wall0 = cpu_s(server.pid), time.monotonic()
            result = asyncio.run(session(base, subs, url, writer_spec, args))
            cpu1, wall1 = cpu_s(server.pid), time.monotonic()
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if pg is not None:
                pg.stop()
        server_log = log.read_text(errors="replace")

    commits_out = result["commits"]
    committed = {c["alert_id"]: c["committed"] for c in commits_out if c["alert_id"] is not None}
    span = commits_out[-1]["committed"] - commits_out[0]["due"] if commits_out else 0.0
    write_ms = [1000 * (c["committed"] - c["begun"]) for c in commits_out]
    late_ms = [1000 * (c["begun"] - c["due"]) for c in commits_out]
    t_start = commits_out[0]["due"] if commits_out else 0.0
    by_type = Counter(r[1] for r in result["rows"])
    lat_all, lat_by_kind, worst, thirds = [], defaultdict(list), [], defaultdict(list)
    missing = foreign = dupes = bad_subs = 0
    problems = []
    for sub in subs:
        events = [(t, json.loads(d)) for t, d in sub.got]
        ids = [e["id"] for _, e in events]
        want = result["expected"][id(sub)]
        got = set(ids)
        m, f, d = len(want - got), len(got - want), len(ids) - len(got)
        missing, foreign, dupes = missing + m, foreign + f, dupes + d
        if m or f or d or sub.errors:
            bad_subs += 1
            if len(problems) < 5:
                problems.append(f"    {sub.role}:{sub.tenant}: missing {m}, foreign {f}, twice {d}, "
                                f"stream errors {Counter(sub.errors) or 0}")
        mine = []
        for t, e in events:
            if e["type"] == "alert.opened" and e["data"].get("alert_id") in committed:
                c = committed[e["data"]["alert_id"]]
                ms = 1000 * (t - c)
                mine.append(ms)
                lat_by_kind[sub.role].append(ms)
                third = min(2, int(3 * (c - t_start) / max(span, 1e-9)))
                thirds[third].append(ms)
        lat_all += mine
        if mine:
            worst.append((pct(mine, 0.95), f"{sub.role}:{sub.tenant}"))
    expected_total = sum(len(v) for v in result["expected"].values())
    received_total = sum(len(s.got) for s in subs)
    print(f"  subscribers connected: {result['n_connected']}/{len(subs)} in {result['connected_s']:.1f} s"
          + (f"; {args.prefill} events prefilled into the feed's window first" if args.prefill else ""))
    print(f"  commits: {len(commits_out)} alerts in {span:.1f} s ({len(commits_out) / max(span, 1e-9):.1f}/s); "
          f"record + commit p50 {pct(write_ms, 0.5):.1f} ms, p95 {pct(write_ms, 0.95):.1f} ms; writer behind "
          f"schedule p95 {pct(late_ms, 0.95):.1f} ms; events logged meanwhile: {dict(by_type)}")
    print(f"  deliveries: {expected_total} expected, {received_total} received; missing {missing}, foreign {foreign}, "
          f"twice {dupes}; subscribers not exact or with stream errors: {bad_subs}/{len(subs)}")
    for line in problems:
        print(line)
    print(f"  commit -> receipt over {len(lat_all)} deliveries: {fmt(lat_all)}")
    for k in sorted(thirds):
        lo, hi = k * span / 3, (k + 1) * span / 3
        print(f"    commits at {lo:4.1f}-{hi:4.1f} s: {fmt(thirds[k])}")
    for role, lat in sorted(lat_by_kind.items()):
        print(f"    {role} subscribers: {fmt(lat)}")
    if worst:
        worst.sort(reverse=True)
        print(f"    worst subscriber's p95: {worst[0][0]:.1f} ms ({worst[0][1]}); best subscriber's p95 "
              f"{worst[-1][0]:.1f} ms")
    print(f"  server process CPU {100 * (cpu1 - cpu0) / (wall1 - wall0):.0f}% of one core over the session; "
          f"this process (200 clients) {100 * result['client_cpu'] / max(span, 1e-9):.0f}% while the writer ran")
    if "Traceback" in server_log:
        last = [x for x in server_log.splitlines() if x and not x.startswith(" ")][-1]
        print(f"  the server logged {server_log.count('Traceback')} exception(s), e.g. {last[:200]}")
    rate = len(commits_out) / max(span, 1e-9)
    if rate < 0.95 * args.rate:
        print(f"  note: the writer managed {rate:.1f} commits/s, not {args.rate:g}/s (record + commit took longer than "
              f"{1000 / args.rate:.0f} ms); the feed was measured at that lower rate")
    p95 = pct(lat_all, 0.95)
    exact = (not (missing or foreign or dupes) and result["n_connected"] == len(subs)
             and len(committed) == len(commits_out))
    ok = exact and p95 <= GOAL_P95_MS
    print(f"verdict: p95 {p95:.1f} ms {'<=' if p95 <= GOAL_P95_MS else '>'} {GOAL_P95_MS:g} ms; "
          f"{'every subscriber got exactly its tenant' + chr(39) + 's events' if exact else 'NOT exact'} -> "
          f"{'PASS' if ok else 'FAIL'}")
    if load1 > 3:
        print(f"note: the machine was busy (load average {load1:.1f} on {os.cpu_count()} CPUs at the start): "
              f"latencies include waiting for a CPU")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
