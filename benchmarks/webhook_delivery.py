"""webhook_delivery: 2,000 events through the outbox to a receiver that is down, then slow, then fine; nothing lost.

Events are committed (with their outbox rows, as the platform does) at a steady pace over `--append-s`
seconds into an embedded SQLite store. The sender runs in its own process, with the production settings
(5 s first retry doubling to at most 1 h, 60 s lease, 10 s timeout). The receiver, a real HTTP server on
127.0.0.1 in this process, is not listening for the first `--down-s` seconds (connections refused), then
answers each request after `--slow-ms` for `--slow-s` seconds, then at once. In the middle of the slow phase
the sender is killed with SIGKILL, with requests in flight, and a new one is started a second later.
Printed: events delivered, requests received, duplicates (same webhook-id more than once: the kill and
answers later than the timeout), lost (events never received: must be 0), bad signatures (must be 0), the
delivery rate and the delay from commit to first receipt. `--quick` scales the times by 0.1 (200 events,
down 6 s, slow 6 s, 0.5 s first retry, 6 s lease, 1 s timeout) to try it in about half a minute.

    python benchmarks/webhook_delivery.py --quick
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from livewarden import webhooks
from livewarden.cases import db
from livewarden.cases.events import append_event
from livewarden.cases.outbox import WebhookSender
from livewarden.cases.schema import DeliveryRow, WebhookRow
from livewarden.cases.sql import SqlCaseRepository
from livewarden.testing.private_server import free_port


class Receiver:
    """Verifies and records every request; sleeps `slow_s` before answering until `fine_at`."""

    def __init__(self, port: int, secret: str, slow_s: float, fine_at: float):
        self.first: dict[str, float] = {}  # webhook-id -> time first received
        self.requests = self.bad = self.in_flight = 0
        self.lock = threading.Lock()
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.time()
                try:
                    webhooks.verify(secret, self.headers, body, now=now)
                    ok = True
                except webhooks.WebhookVerificationError:
                    ok = False
                with me.lock:
                    me.requests += 1
                    me.bad += not ok
                    me.in_flight += 1
                    if ok:
                        me.first.setdefault(self.headers["webhook-id"], now)
                try:
                    if time.time() < fine_at:
                        time.sleep(slow_s)
                    self.send_response(200 if ok else 400)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender hung up (its timeout, or it was killed)
                finally:
                    with me.lock:
                        me.in_flight -= 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()



def run_sender(args) -> None:
    """The sender process: what a deployment runs beside the API."""
    logging.basicConfig(level=logging.WARNING)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait; threads inherit it
    store = SqlCaseRepository.at(args.sender)
    sender = WebhookSender(store.engine, timeout_s=args.timeout_s, lease_s=args.lease_s, initial_s=args.initial_s,
                           max_s=args.max_s)
    sender.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    sender.stop()


def spawn_sender(data: Path, args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--sender", str(data), "--timeout-s", str(args.timeout_s),
                             "--lease-s", str(args.lease_s), "--initial-s", str(args.initial_s),
                             "--max-s", str(args.max_s)])


def counts(store: SqlCaseRepository) -> dict[str, int]:
    with Session(store.engine) as s:
        return dict(s.execute(select(DeliveryRow.state, func.count()).group_by(DeliveryRow.state)).all())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="times x0.1 and 200 events, to try it")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--append-s", type=float, default=90.0, help="the events are committed evenly over this")
    ap.add_argument("--down-s", type=float, default=60.0)
    ap.add_argument("--slow-s", type=float, default=60.0)
    ap.add_argument("--slow-ms", type=float, default=500.0)
    ap.add_argument("--give-up-s", type=float, default=900.0, help="stop waiting for the outbox to drain")
    ap.add_argument("--timeout-s", type=float, default=10.0)
    ap.add_argument("--lease-s", type=float, default=60.0)
    ap.add_argument("--initial-s", type=float, default=5.0)
    ap.add_argument("--max-s", type=float, default=3600.0)
    ap.add_argument("--sender", help=argparse.SUPPRESS)  # internal: run as the sender process on this store
    args = ap.parse_args()
    if args.sender:
        return run_sender(args)
    if args.quick:
        args.events, args.append_s, args.down_s, args.slow_s, args.give_up_s = 200, 9.0, 6.0, 6.0, 90.0
        args.timeout_s, args.lease_s, args.initial_s, args.max_s = 1.0, 6.0, 0.5, 360.0
    kill_at = args.down_s + args.slow_s / 2

    with tempfile.TemporaryDirectory(prefix="webhook-bench-") as tmp:
        data = Path(tmp) / "data"
        store = SqlCaseRepository.at(data)
        secret, port = webhooks.new_secret(), free_port()
        writer = db.writer(store.engine)
        with Session(writer) as s, s.begin():
            s.add(WebhookRow(role="admin", tenant="default", url=f"http://127.0.0.1:{port}/hooks", types=[],
                             secrets=[secret], active=True, created_at=time.time()))
        committed: dict[str, float] = {}  # webhook-id -> commit time

        def append_all(t0: float) -> None:
            for i in range(args.events):
                time.sleep(max(0.0, t0 + i * args.append_s / args.events - time.time()))
                with Session(writer) as s, s.begin():
                    row = append_event(s, "alert.opened", {"platform": "default"}, {"i": i, "rule": "bench"})
                    msg_id, at = f"evt_{row.id}", row.at
                committed[msg_id] = at

        sender = spawn_sender(data, args)
        t0 = time.time()
        appender = threading.Thread(target=append_all, args=(t0,), daemon=True)
        appender.start()
        time.sleep(max(0.0, t0 + args.down_s - time.time()))
        receiver = Receiver(port, secret, args.slow_ms / 1000, t0 + args.down_s + args.slow_s)
        up_at = time.time()
        time.sleep(max(0.0, t0 + kill_at - time.time()))
        in_flight = receiver.in_flight
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
        killed_at = time.time() - t0
        time.sleep(1.0)
        sender = spawn_sender(data, args)
        restarted_at = time.time() - t0
        try:
            while time.time() < t0 + args.give_up_s:
                if not appender.is_alive() and counts(store).get("pending", 0) == 0:
                    break
                time.sleep(0.2)
        finally:
            sender.send_signal(signal.SIGTERM)
            try:
                sender.wait(30)
            except subprocess.TimeoutExpired:
                sender.kill()
        receiver.close()
        state = counts(store)
        store.close()

    first = receiver.first
    delays = sorted(first[m] - at for m, at in committed.items() if m in first)
    lost = sorted(set(committed) - set(first))
    end = max(first.values()) if first else up_at
    pick = lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] if delays else float("nan")  # noqa: E731
    print(f"webhook_delivery: {args.events} events over {args.append_s:g} s; receiver down 0-{args.down_s:g} s, "
          f"{args.slow_ms:g} ms per request until {args.down_s + args.slow_s:g} s, then fine")
    print(f"sender:      SIGKILLed at {killed_at:.1f} s with {in_flight} request(s) in flight, new one at "
          f"{restarted_at:.1f} s (lease {args.lease_s:g} s, retries from {args.initial_s:g} s up to {args.max_s:g} s)")
    print(f"delivered:   {len(first)} of {len(committed)} events; outbox rows {state}")
    print(f"requests:    {receiver.requests}, duplicates (same webhook-id again): "
          f"{receiver.requests - receiver.bad - len(first)}, bad signatures: {receiver.bad}")
    print(f"lost:        {len(lost)}" + (f" ({', '.join(lost[:10])}...)" if lost else ""))
    print(f"rate:        {len(first) / max(end - t0, 1e-9):.1f} events/s from the first commit to the last "
          f"delivery ({end - t0:.1f} s); {len(first) / max(end - up_at, 1e-9):.1f}/s once the receiver was up")
    print(f"delay:       commit to first receipt: median {pick(0.5):.1f} s, p99 {pick(0.99):.1f} s, "
          f"worst {delays[-1] if delays else float('nan'):.1f} s")
    sys.exit(1 if lost or receiver.bad or len(committed) != args.events else 0)


if __name__ == "__main__":
    main()
