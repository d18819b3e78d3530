"""The live feed on a real server: events as they are committed, only the caller's tenant's, and everything
missed while away after a reconnect with Last-Event-ID (served from the store, not from memory)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque

import httpx


def listen(served, role, tenant, last_event_id=None):
    """Read the feed in a thread; each event lands in the returned queue as (id, type, data). Call the
    returned function to hang up."""
    into: queue.Queue = queue.Queue()
    headers = {"Authorization": f"Bearer {served.keys[(role, tenant)]}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    client = httpx.Client(base_url=served.url, headers=headers, timeout=None)
    connected = threading.Event()

    def run():
        try:
            with client.stream("GET", "/events") as response:
                assert response.status_code == 200
                event: dict = {}
                for line in response.iter_lines():
                    if line == ": connected":
                        connected.set()
                    elif line.startswith("id: "):
                        event["id"] = int(line[4:])
                    elif line.startswith("data: "):
                        event["data"] = json.loads(line[6:])
                    elif line == "" and event:
                        into.put((event["id"], event["data"]["type"], event["data"]["data"]))
                        event = {}
        except (httpx.HTTPError, RuntimeError):  # hung up
            pass

    threading.Thread(target=run, daemon=True).start()
    assert connected.wait(10), "the feed did not connect"
    return into, client.close


def drain(q: queue.Queue, n: int, timeout: float = 5.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        try:
            got.append(q.get(timeout=0.1))
        except queue.Empty:
            pass
    return got


def test_feed_sends_only_the_tenants_events_and_resumes_after_a_reconnect(fresh):
    nova, hang_up_nova = listen(fresh, "brand", "nova")
    other, hang_up_other = listen(fresh, "seller", "other")
    first = fresh.see("deals", "mark", "nova")
    [(seen_id, kind, data)] = drain(nova, 1)
    assert kind == "alert.opened" and data["alert_id"] == first
    hang_up_nova()  # the brand goes away ...
    fresh.see("deals", "face", "ada")  # not about the brand
    missed = fresh.see("market", "mark", "nova")
    [(_, kind, data)] = drain(other, 1)  # the seller of `market` gets its room's alert, not `deals`'
    assert kind == "alert.opened" and data["alert_id"] == missed and data["room_id"] == "market"
    resumed, hang_up = listen(fresh, "brand", "nova", last_event_id=seen_id)  # ... and comes back
    got = drain(resumed, 1)
    assert [(k, d["alert_id"]) for _, k, d in got] == [("alert.opened", missed)]
    assert drain(resumed, 1, timeout=0.5) == []  # nothing else: the face alert is not the brand's
    hang_up()
    hang_up_other()


def test_a_reconnect_older_than_the_memory_window_is_served_from_the_store(fresh):
    fresh.app.state.feed.window = deque(maxlen=2)  # the feed keeps only the last two events in memory
    alerts = [fresh.see("deals", "mark", "nova", t=1000.0 * i) for i in range(3)]  # open, close + open, ...
    deadline = time.monotonic() + 3.0  # with no one subscribed the feed reads the store once a second
    while len(fresh.app.state.feed.window) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fresh.app.state.feed.window) == 2
    resumed, hang_up = listen(fresh, "moderator", "shopA", last_event_id=0)
    got = drain(resumed, 5)
    hang_up()
    assert [k for _, k, _ in got] == ["alert.opened", "alert.closed", "alert.opened", "alert.closed", "alert.opened"]
    assert [d["alert_id"] for _, k, d in got if k == "alert.opened"] == alerts
    assert [i for i, _, _ in got] == sorted(i for i, _, _ in got)


def test_a_bad_last_event_id_is_refused(fresh):
    with fresh.client("admin", "shopA") as admin:
        bad = admin.get("/events", headers={"Last-Event-ID": "yesterday"})
        assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]["reason"]
