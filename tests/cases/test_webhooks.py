"""Signed webhooks: the Standard Webhooks crypto, and the outbox sender against a real HTTP receiver on 127.0.0.1.

No HTTP is mocked: a stdlib server in a thread records what arrives and can answer 500, 410, slowly, or not be
there at all (a closed port). The store is a real SQLite file; time is an injected clock where retries are
waited for, so nothing sleeps long. The kill test runs the sender in another process and SIGKILLs it mid-send.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from livewarden import webhooks
from livewarden.cases import db
from livewarden.cases.events import append_event, event_json
from livewarden.cases.outbox import WebhookSender
from livewarden.cases.schema import DeliveryRow, EventRow, WebhookRow
from livewarden.cases.sql import SqlCaseRepository

VECTOR = {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
          "timestamp": 1614265330, "body": '{"test": 2432232314}',
          "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}  # published by the spec's libraries
T0 = 1_700_000_000.0


# -- a real receiver --------------------------------------------------------------------------------------

class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST; `status` (or `status_by_path`) and `delay_s` say
    how it answers."""

    def __init__(self, port: int = 0):
        self.requests: list[dict] = []  # {"at", "headers", "body"}, recorded once the whole body is read
        self.status, self.delay_s, self.in_flight = 200, 0.0, 0
        self.status_by_path: dict[str, int] = {}
        self.hold_from, self.gate = None, threading.Event()  # requests from number `hold_from` on wait for the gate
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-body (SIGKILL): nothing arrived, as for any real receiver
                with receiver.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.requests.append({"at": time.time(), "path": self.path, "headers": headers, "body": body})
                    receiver.in_flight += 1
                    status, delay = receiver.status_by_path.get(self.path, receiver.status), receiver.delay_s
                    held = receiver.hold_from is not None and len(receiver.requests) > receiver.hold_from
                try:
                    time.sleep(delay)
                    if held:
                        receiver.gate.wait(10)
                    with receiver.lock:  # from here on the sender may have its answer
                        receiver.in_flight -= 1
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender hung up (timed out, or was killed)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        with self.lock:
            return [r["headers"]["webhook-id"] for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A port nothing listens on (yet): connecting is refused, as to a receiver that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def store(tmp_path: Path):
    s = SqlCaseRepository.at(tmp_path / "data")
    yield s
    s.close()


class Clock:
    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def senders():
    made = []

    def make(store, **kw):
        made.append(WebhookSender(store.engine, **kw))
        return made[-1]

    yield make
    for s in made:
        s.stop()


def add_hook(store, url: str, secrets: list[str], *, types=(), tenant="default", role="admin") -> int:
    with Session(db.writer(store.engine)) as s, s.begin():
        hook = WebhookRow(role=role, tenant=tenant, url=url, types=list(types), secrets=secrets, active=True,
                          created_at=T0)
        s.add(hook)
        s.flush()
        return hook.id


def emit(store, n: int = 1, at: float = T0, type: str = "alert.opened") -> list[int]:
    with Session(db.writer(store.engine)) as s, s.begin():
        return [append_event(s, type, {"platform": "default"}, {"i": i}, at=at).id for i in range(n)]


def undelivered(store, hook_id: int) -> int:
    with Session(store.engine) as s:
        states = s.scalars(select(DeliveryRow.state).where(DeliveryRow.webhook_id == hook_id)).all()
    assert states and "failed" not in states
    return sum(state != "delivered" for state in states)


def hook_row(store, hook_id: int) -> tuple[bool, str | None]:
    with Session(store.engine) as s:
        hook = s.get(WebhookRow, hook_id)
        return hook.active, hook.disabled_reason


# -- the crypto -------------------------------------------------------------------------------------------

def test_sign_reproduces_the_spec_test_vector():
    v = VECTOR
    assert webhooks.sign(v["secret"], v["msg_id"], v["timestamp"], v["body"]) == v["signature"]
    assert webhooks.sign(v["secret"], v["msg_id"], v["timestamp"], v["body"].encode()) == v["signature"]
    # the prefix is optional, as in the reference implementation
    assert webhooks.sign(v["secret"].removeprefix("whsec_"), v["msg_id"], v["timestamp"], v["body"]) == v["signature"]
    sent = {"webhook-id": v["msg_id"], "webhook-timestamp": str(v["timestamp"]), "webhook-signature": v["signature"]}
    assert webhooks.verify(v["secret"], sent, v["body"], now=v["timestamp"] + 10) == {"test": 2432232314}


def test_reference_implementation_accepts_ours_and_we_accept_its(monkeypatch):
    """Cross-check with the `standardwebhooks` package when it is importable (it is not a dependency:
    install it anywhere, e.g. `pip install --target DIR standardwebhooks`, and set STANDARDWEBHOOKS_PATH=DIR)."""
    if os.environ.get("STANDARDWEBHOOKS_PATH"):
        monkeypatch.syspath_prepend(os.environ["STANDARDWEBHOOKS_PATH"])
    reference = pytest.importorskip("standardwebhooks")
    old, new = webhooks.new_secret(), webhooks.new_secret(32)
    body = json.dumps({"id": 7, "type": "alert.opened", "data": {"ü": "✓"}}, ensure_ascii=False).encode()
    now = int(time.time())
    sent = webhooks.headers([new, old], "evt_7", now, body)
    for secret in (old, new):
        assert reference.Webhook(secret).verify(body, sent) == json.loads(body)
    with pytest.raises(reference.WebhookVerificationError):
        reference.Webhook(webhooks.new_secret()).verify(body, sent)
    from datetime import datetime, timezone
    theirs = reference.Webhook(new).sign("evt_7", datetime.fromtimestamp(now, timezone.utc), body.decode())
    assert theirs == webhooks.sign(new, "evt_7", now, body)
    assert webhooks.verify(new, {**sent, "webhook-signature": theirs}, body) == json.loads(body)


def test_new_secret_is_whsec_base64_of_random_bytes():
    a, b = webhooks.new_secret(), webhooks.new_secret()
    assert a != b and a.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"))) == 24
    assert len(base64.b64decode(webhooks.new_secret(64).removeprefix("whsec_"))) == 64
    with pytest.raises(ValueError):
        webhooks.new_secret(8)


def test_verify_refuses_and_says_why():
    secret, body, ts = webhooks.new_secret(), b'{"id": 1}', 1_700_000_000
    sent = webhooks.headers(secret, "evt_1", ts, body)
    assert webhooks.verify(secret, sent, body, now=ts) == {"id": 1}
    # header names in any case (frameworks differ), body as text
    assert webhooks.verify(secret, {k.title(): v for k, v in sent.items()}, body.decode(), now=ts) == {"id": 1}

    cases = {
        "changed body": (secret, sent, b'{"id": 2}', ts, "no signature matches"),
        "wrong secret": (webhooks.new_secret(), sent, body, ts, "no signature matches"),
        "changed id": (secret, {**sent, "webhook-id": "evt_2"}, body, ts, "no signature matches"),
        "old timestamp": (secret, sent, body, ts + 301, "too old"),
        "future timestamp": (secret, sent, body, ts - 301, "too new"),
        "missing header": (secret, {"webhook-id": "evt_1", "webhook-timestamp": str(ts)}, body, ts,
                           "missing header(s): webhook-signature"),
        "not a number": (secret, {**sent, "webhook-timestamp": "soon"}, body, ts, "not integer Unix seconds"),
        "no v1": (secret, {**sent, "webhook-signature": "v1a,abc v2,def"}, body, ts, "no v1 signature"),
        "garbled": (secret, {**sent, "webhook-signature": "v1,!!!"}, body, ts, "no v1 signature"),
    }
    for name, (key, headers, payload, now, why) in cases.items():
        with pytest.raises(webhooks.WebhookVerificationError, match=why.replace("(", r"\(").replace(")", r"\)")):
            webhooks.verify(key, headers, payload, now=now)
    # the window is the tolerance, both ways
    assert webhooks.verify(secret, sent, body, now=ts + 300) == {"id": 1}
    assert webhooks.verify(secret, sent, body, now=ts + 1000, tolerance_s=1000) == {"id": 1}
    with pytest.raises(webhooks.WebhookVerificationError, match="not JSON"):
        webhooks.verify(secret, webhooks.headers(secret, "m", ts, b"plain"), b"plain", now=ts)


def test_rotation_signs_with_every_secret_and_either_verifies():
    old, new = webhooks.new_secret(), webhooks.new_secret()
    body, ts = b'{"id": 3}', 1_700_000_000
    sent = webhooks.headers([new, old], "evt_3", ts, body)
    entries = sent["webhook-signature"].split(" ")
    assert entries == [webhooks.sign(new, "evt_3", ts, body), webhooks.sign(old, "evt_3", ts, body)]
    assert all(e.startswith("v1,") for e in entries)
    assert webhooks.verify(old, sent, body, now=ts) == {"id": 3}
    assert webhooks.verify(new, sent, body, now=ts) == {"id": 3}
    assert webhooks.verify([webhooks.new_secret(), old], sent, body, now=ts) == {"id": 3}  # a receiver rotating
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify(webhooks.new_secret(), sent, body, now=ts)
    # unknown schemes beside ours are skipped, not fatal
    assert webhooks.verify(old, {**sent, "webhook-signature": "v1a,xyz " + entries[1]}, body, now=ts) == {"id": 3}


# -- the sender -------------------------------------------------------------------------------------------

def test_an_event_is_posted_signed_with_its_id_and_body(store, receiver, senders):
    old, new = webhooks.new_secret(), webhooks.new_secret()
    hook = add_hook(store, receiver.url, [new, old])
    other = add_hook(store, receiver.url, [webhooks.new_secret()], types=["case.action"])  # not this type
    (event_id,) = emit(store)
    clock = Clock(T0 + 1)
    sender = senders(store, clock=clock)
    assert sender.run_once() == 1
    assert sender.run_once() == 0  # delivered: not sent again

    (request,) = receiver.requests
    headers, body = request["headers"], request["body"]
    assert headers["webhook-id"] == f"evt_{event_id}"
    assert headers["webhook-timestamp"] == str(int(T0 + 1))
    assert headers["content-type"] == "application/json"
    with Session(store.engine) as s:
        expected = event_json(s.get(EventRow, event_id))
    for secret in (old, new):
        assert webhooks.verify(secret, headers, body, now=clock.t) == expected
    (entry,) = sender.deliveries(hook)
    assert entry | {"updated_at": None} == {"id": entry["id"], "event_id": event_id, "webhook_id": hook,
                                           "state": "delivered", "attempts": 1, "next_at": None,
                                           "last_status": 200, "last_error": None, "updated_at": None}
    assert sender.deliveries(other) == []


def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(store, receiver, senders, caplog):
    secret = webhooks.new_secret()
    hook = add_hook(store, receiver.url, [secret])
    (event_id,) = emit(store)
    clock = Clock(T0)
    sender = senders(store, clock=clock)
    receiver.status = 500
    caplog.set_level(logging.DEBUG)

    delays = []
    for _ in range(3):
        assert sender.run_once() == 1
        (entry,) = sender.deliveries(hook)
        assert entry["state"] == "pending" and entry["last_status"] == 500 and entry["last_error"] == "HTTP 500"
        delays.append(entry["next_at"] - clock.t)
        clock.t += delays[-1] - 0.01
        assert sender.run_once() == 0  # not due yet
        clock.t += 0.01
    assert 4 <= delays[0] <= 6 and 8 <= delays[1] <= 12 and 16 <= delays[2] <= 24  # 5 s, doubling, ±20 %

    receiver.status = 200
    assert sender.run_once() == 1
    (entry,) = sender.deliveries(hook)
    assert (entry["state"], entry["attempts"], entry["last_status"], entry["last_error"]) == \
        ("delivered", 4, 200, None)
    assert receiver.ids() == [f"evt_{event_id}"] * 4  # one id across retries: the receiver can dedup
    stamps = [int(r["headers"]["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and len(set(stamps)) == 4  # each attempt signed afresh
    for r in receiver.requests:
        webhooks.verify(secret, r["headers"], r["body"], now=int(r["headers"]["webhook-timestamp"]))
    assert secret not in caplog.text and secret.removeprefix("whsec_") not in caplog.text


def test_a_receiver_that_is_down_then_comes_up_gets_the_event(store, senders):
    port = closed_port()
    hook = add_hook(store, f"http://127.0.0.1:{port}/hook", [webhooks.new_secret()])
    emit(store, 2)
    clock = Clock(T0)
    sender = senders(store, clock=clock)
    assert sender.run_once() == 2
    log = sender.deliveries(hook)
    assert [e["state"] for e in log] == ["pending", "pending"]
    assert all(e["last_status"] is None and e["last_error"].startswith("ConnectError") for e in log)

    up = Receiver(port)
    try:
        clock.t = max(e["next_at"] for e in log)
        assert sender.run_once() == 2
        assert [e["state"] for e in sender.deliveries(hook)] == ["delivered", "delivered"]
        assert sorted(up.ids()) == sorted(f"evt_{e['event_id']}" for e in log)
    finally:
        up.close()


def test_a_slow_receiver_times_out_and_is_tried_again(store, receiver, senders):
    hook = add_hook(store, receiver.url, [webhooks.new_secret()])
    emit(store)
    clock = Clock(T0)
    sender = senders(store, clock=clock, timeout_s=0.2)
    receiver.delay_s = 1.0
    assert sender.run_once() == 1
    (entry,) = sender.deliveries(hook)
    assert entry["state"] == "pending" and entry["last_error"].startswith("ReadTimeout")
    receiver.delay_s = 0.0
    clock.t = entry["next_at"]
    assert sender.run_once() == 1
    assert sender.deliveries(hook)[0]["state"] == "delivered"


def test_retries_last_at_least_a_day_with_at_most_an_hour_between(store, receiver, senders):
    hook = add_hook(store, receiver.url, [webhooks.new_secret()])
    emit(store, at=T0)
    clock = Clock(T0)
    sender = senders(store, clock=clock)
    receiver.status = 503
    delays = []
    while True:
        assert sender.run_once() == 1
        (entry,) = sender.deliveries(hook)
        if entry["state"] != "pending":
            break
        delays.append(entry["next_at"] - clock.t)
        clock.t = entry["next_at"]
    assert entry["state"] == "failed" and entry["last_status"] == 503
    assert clock.t >= T0 + 24 * 3600  # gave up only after the retry period
    assert clock.t - delays[-1] < T0 + 24 * 3600  # and at the first try after it
    assert max(delays) <= 3600 and delays[-1] > 2800  # capped at an hour (jitter below it)
    assert all(b > a for a, b in zip(delays[:8], delays[1:8]))  # exponential at first
    assert entry["attempts"] == len(delays) + 1 == len(receiver.requests)
    assert 25 <= entry["attempts"] <= 45
    assert sender.run_once() == 0


def test_410_gone_disables_the_subscription_and_stops_deliveries(store, receiver, senders):
    gone = add_hook(store, receiver.url + "/gone", [webhooks.new_secret()])
    kept = add_hook(store, receiver.url, [webhooks.new_secret()])
    receiver.status_by_path["/hook/gone"] = 410
    emit(store, 3)
    sender = senders(store, clock=Clock(T0), batch=1, concurrency=1)
    assert sender.run_once() == 1  # the oldest: event 1 to the gone one
    assert [(r["path"], r["headers"]["webhook-id"]) for r in receiver.requests] == [("/hook/gone", "evt_1")]
    active, reason = hook_row(store, gone)
    assert not active and "410 Gone" in reason
    log = sender.deliveries(gone)
    assert [e["state"] for e in log] == ["failed"] * 3  # what was queued for it is dropped, and says why
    assert log[-1]["last_status"] == 410 and log[0]["last_error"] == "subscription disabled: 410 Gone"

    while sender.run_once():
        pass
    emit(store)  # a new event: no outbox row for the disabled subscription at all
    while sender.run_once():
        pass
    assert len(sender.deliveries(gone)) == 3
    assert [e["state"] for e in sender.deliveries(kept)] == ["delivered"] * 4  # the other one is unaffected
    assert [r["path"] for r in receiver.requests].count("/hook/gone") == 1


def test_a_rolled_back_event_is_never_announced(store, receiver, senders):
    add_hook(store, receiver.url, [webhooks.new_secret()])
    with pytest.raises(RuntimeError):
        with Session(db.writer(store.engine)) as s, s.begin():
            append_event(s, "alert.opened", {"platform": "default"}, {}, at=T0)
            raise RuntimeError("the change it announced failed")
    assert senders(store, clock=Clock(T0 + 1)).run_once() == 0
    assert receiver.requests == []


def test_two_senders_never_send_the_same_delivery_at_once(tmp_path, store, receiver, senders):
    add_hook(store, receiver.url, [webhooks.new_secret()])
    emit(store, 40, at=time.time())
    receiver.delay_s = 0.03
    other = SqlCaseRepository.at(tmp_path / "data")  # its own engine, as another process would have
    try:
        pair = [senders(store, batch=4, concurrency=4), senders(other, batch=4, concurrency=4)]
        handled = [0, 0]

        def work(i):
            while n := pair[i].run_once():
                handled[i] += n

        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        ids = receiver.ids()
        assert len(ids) == len(set(ids)) == 40
        assert sum(handled) == 40 and min(handled) > 0, handled  # both took part
    finally:
        other.close()


SENDER = r"""
import sys, time
from pathlib import Path
from livewarden.cases.sql import SqlCaseRepository
from livewarden.cases.outbox import WebhookSender
go = Path(sys.argv[3])
while not go.exists():  # started early, so the test does not wait for the imports after the kill
    time.sleep(0.01)
store = SqlCaseRepository.at(sys.argv[1])
sender = WebhookSender(store.engine, batch=8, concurrency=8, timeout_s=1.0, lease_s=float(sys.argv[2]),
                       initial_s=0.2, poll_s=0.05)
sender.start()
time.sleep(3600)
"""


def test_a_sender_killed_mid_send_loses_nothing(tmp_path, store, receiver):
    secret = webhooks.new_secret()
    hook = add_hook(store, receiver.url, [secret])
    events = emit(store, 40, at=time.time())
    receiver.delay_s, receiver.hold_from = 0.25, 10  # slow, and from the 11th request on it answers only later
    data = str(tmp_path / "data")
    go_first, go_second = tmp_path / "go-first", tmp_path / "go-second"
    go_first.touch()
    first, second = (subprocess.Popen([sys.executable, "-c", SENDER, data, "1.5", str(go)])
                     for go in (go_first, go_second))
    try:
        deadline = time.monotonic() + 8
        while len(receiver.requests) <= 10 and time.monotonic() < deadline:
            assert first.poll() is None
            time.sleep(0.005)
        assert receiver.in_flight > 0, "the sender never got going"
        os.kill(first.pid, signal.SIGKILL)  # while the receiver holds requests it has read but not answered
        first.wait(5)
        assert len(receiver.requests) < 40
        receiver.gate.set()  # the held answers go to a dead socket

        go_second.touch()  # a new sender, after the first one died
        deadline = time.monotonic() + 15
        while undelivered(store, hook) and time.monotonic() < deadline:  # the leased ones come last
            assert second.poll() is None
            time.sleep(0.02)
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(5)

    assert undelivered(store, hook) == 0
    assert set(receiver.ids()) == {f"evt_{i}" for i in events}  # nothing lost
    bodies = defaultdict(set)
    for r in receiver.requests:
        webhooks.verify(secret, r["headers"], r["body"])
        bodies[r["headers"]["webhook-id"]].add(r["body"])
    assert all(len(b) == 1 for b in bodies.values())  # a duplicate is the same message, same id
    assert len(receiver.requests) > 40  # the ones in flight at the kill came again, after the lease
