"""chat_to_alert: how long from a seller's chat line reaching the HTTP endpoint to its alert being committed.

    python benchmarks/chat_to_alert.py [--rooms 20] [--lines 400] [--rate 200]

A real HTTP ingest endpoint (uvicorn) feeds a real pipeline with a SQLite case
store on disk. Each room gets ordinary chat from viewers and the seller, and
now and then a seller's line offering fakes; for every offer the time from the
POST being sent to the alert being committed (the alerts subscriber runs after
the commit) is recorded. Offers go to a fresh room each time, so each one opens
a new alert (the costly path: evidence file + insert + audit entry).
Baseline, same run: a GET /health round trip on the same connection (HTTP and the
server's event loop, no chat processing). The POST itself answers after its lines
are processed, so its round trip is printed too.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewarden.config import load_settings  # noqa: E402
from livewarden.media.chat.http import HttpChatIngest  # noqa: E402
from livewarden.registry.schema import Registry, Room, Seller  # noqa: E402
from livewarden.runtime.build import build_system  # noqa: E402
from livewarden.runtime.bus import ALERTS, AlertEvent  # noqa: E402

ORDINARY = ["hi from Hanoi!", "how much is shipping?", "size M còn không shop?", "这个颜色好看", "link pls",
            "giá bao nhiêu vậy", "is this the new model?", "主播好漂亮", "ship COD được không", "love it"]
OFFERS = ["AAA r3plica 1:1, same factory, dm me", "高仿A货 只要99元 私我", "hàng fake loại 1 giá 199k ib em",
          "mirror quality copy, nobody can tell", "rep 1:1 bags in stock"]


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=20)
    ap.add_argument("--lines", type=int, default=400, help="chat lines to send")
    ap.add_argument("--rate", type=float, default=200.0, help="lines per second")
    ap.add_argument("--offer-every", type=int, default=10, help="one line in N is a seller's offer")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the rooms have no video on purpose: their errors are expected
    rng = random.Random(7)
    offers_total = args.lines // args.offer_every
    rooms = [Room(id=f"room-{i}", seller=f"seller-{i}", source=f"/nonexistent/room-{i}.mp4")
             for i in range(args.rooms + offers_total)]
    registry = Registry(sellers=[Seller(id=f"seller-{i}", name=f"S{i}") for i in range(len(rooms))], rooms=rooms)
    sent: dict[str, float] = {}
    latency: list[float] = []
    lock = threading.Lock()

    def on_alert(event: AlertEvent) -> None:
        if event.update.opened and event.alert.rule == "counterfeit_language":
            with lock:
                latency.append(time.perf_counter() - sent[event.alert.room_id])

    with tempfile.TemporaryDirectory() as tmp:
        system = build_system(registry, load_settings(overrides={"store.data_dir": tmp, "runtime.realtime": True}))
        system.bus.subscribe(ALERTS, on_alert)
        pipeline = system.pipeline()
        pipeline.add_chat(lambda on_message, on_error: HttpChatIngest(on_message, on_error))
        pipeline.start()
        url = pipeline.chat_sources[0].url + "/chat"
        round_trips, health_trips = [], []
        offer_room = args.rooms
        try:
            with httpx.Client() as client:
                client.get(url.replace("/chat", "/health"))  # warm the connection
                for i in range(args.lines):
                    t0 = time.perf_counter()
                    if i % args.offer_every == args.offer_every - 1:
                        room, role, text = f"room-{offer_room}", "seller", rng.choice(OFFERS)
                        offer_room += 1
                        sent[room] = t0
                    else:
                        room, role, text = f"room-{rng.randrange(args.rooms)}", rng.choice(["viewer"] * 4 + ["seller"]), \
                            rng.choice(ORDINARY)
                    body = json.dumps({"room": room, "time": time.time(), "author": "a", "role": role, "text": text})
                    answer = client.post(url, content=body)
                    round_trips.append(time.perf_counter() - t0)
                    if answer.status_code != 202:
                        raise SystemExit(f"ingest answered {answer.status_code}: {answer.text}")
                    if i % args.offer_every == 0:
                        t1 = time.perf_counter()
                        client.get(url.replace("/chat", "/health"))
                        health_trips.append(time.perf_counter() - t1)
                    time.sleep(max(0.0, 1.0 / args.rate - (time.perf_counter() - t0)))
            deadline = time.monotonic() + 10
            while len(latency) < offers_total and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            pipeline.stop()
            system.store.close()
    print(f"chat_to_alert: {args.lines} lines at {args.rate:.0f}/s over HTTP into {args.rooms} rooms, "
          f"{offers_total} sellers' offers")
    print(f"  alerts committed: {len(latency)}/{offers_total}")
    if latency:
        print(f"  POST sent -> alert committed: p50 {1000 * statistics.median(latency):.1f} ms, "
              f"p95 {1000 * percentile(latency, 0.95):.1f} ms, max {1000 * max(latency):.1f} ms")
    print(f"  POST /chat round trip (answered after its lines are processed): "
          f"p50 {1000 * statistics.median(round_trips):.1f} ms, p95 {1000 * percentile(round_trips, 0.95):.1f} ms")
    base = statistics.median(health_trips)
    print(f"  baseline, same run: GET /health round trip p50 {1000 * base:.1f} ms")
    if latency:
        print(f"  ratio (alert p50 / baseline p50): {statistics.median(latency) / base:.1f}x")
    return 0 if len(latency) == offers_total else 1


if __name__ == "__main__":
    raise SystemExit(main())
