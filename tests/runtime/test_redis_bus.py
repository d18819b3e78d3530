"""Signals on Redis Streams against a real redis-server (started by the tests): order per room across consumers,
take-over after a consumer is killed, poison signals parked, a Redis restart survived, a pipeline over it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from livewarden.model import Signal
from livewarden.runtime.bus import SIGNALS
from livewarden.runtime.redis_bus import RedisStreamsBus, cluster_status, partition_of

pytestmark = pytest.mark.redis


def signals(rooms: int, each: int, subject: str = "nova") -> list[Signal]:
    """`each` signals per room, interleaved as live rooms publish them, stream times 0.5 s apart."""
    return [Signal(f"room{r:02d}", k * 0.5, "mark", subject, 0.9, "marks", wall_time=1_700_000_000 + k)
            for k in range(each) for r in range(rooms)]


class Received:
    """A handler that records what it was given, per room, thread-safely."""

    def __init__(self, slow_s: float = 0.0):
        self.by_room: dict[str, list[float]] = defaultdict(list)
        self.keys: list[str] = []
        self.lock = threading.Lock()
        self.slow_s = slow_s

    def __call__(self, s: Signal) -> None:
        with self.lock:
            self.by_room[s.room_id].append(s.stream_time)
            self.keys.append(s.key)
        if self.slow_s:
            time.sleep(self.slow_s)

    def wait_for(self, n: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(set(self.keys)) >= n:
                    return True
            time.sleep(0.05)
        return False


def bus(redis_server, prefix: str, **kw) -> RedisStreamsBus:
    kw = {"partitions": 8, "lease_s": 1.0, "retry_after_s": 0.2} | kw
    return RedisStreamsBus(redis_server.url, prefix=prefix, **kw)


def test_two_consumers_share_the_partitions_and_each_room_arrives_in_order_exactly_once(redis_server, redis_prefix):
    producer = bus(redis_server, redis_prefix)
    a, b = Received(), Received()
    first, second = bus(redis_server, redis_prefix), bus(redis_server, redis_prefix)
    try:
        first.subscribe(SIGNALS, a)
        second.subscribe(SIGNALS, b)
        time.sleep(2.5)  # a few lease rounds: the second consumer gets its share
        sent = signals(rooms=20, each=100)
        for s in sent:
            producer.publish(SIGNALS, s)
        assert producer.flush()
        deadline = time.monotonic() + 20
        while len(a.keys) + len(b.keys) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(a.keys) + len(b.keys) == len(sent)
        assert sorted(a.keys + b.keys) == sorted(s.key for s in sent)  # each once
        assert first.stats.partitions and second.stats.partitions
        assert not first.stats.partitions & second.stats.partitions
        for got in (a, b):
            for room, times in got.by_room.items():
                assert times == sorted(times) and len(times) == 100, room  # a room is read by one consumer
    finally:
        for x in (producer, first, second):
            x.close()


CONSUMER = """
import sys, time
from livewarden.runtime.bus import SIGNALS
from livewarden.runtime.redis_bus import RedisStreamsBus
url, prefix, out = sys.argv[1:4]
log = open(out, "a", buffering=1)
def handle(s):
    log.write(s.key + "\\n")
    time.sleep(0.01)
bus = RedisStreamsBus(url, prefix=prefix, partitions=8, lease_s=1.0, batch=20)
bus.subscribe(SIGNALS, handle)
time.sleep(600)
"""


def test_a_consumer_killed_mid_stream_is_taken_over_and_nothing_is_lost(redis_server, redis_prefix, tmp_path):
    """SIGKILL a consumer process with entries delivered and not acked: another takes its partitions once its
    leases expire and claims the pending entries: nothing is lost, and at most one batch is applied twice."""
    out = tmp_path / "killed.txt"
    sent = signals(rooms=8, each=60)
    producer = bus(redis_server, redis_prefix)
    for s in sent:
        producer.publish(SIGNALS, s)
    assert producer.flush()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", CONSUMER, redis_server.url, redis_prefix, str(out)], env=env)
    try:
        deadline = time.monotonic() + 30
        while (not out.exists() or len(out.read_text().split()) < 100) and time.monotonic() < deadline:
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
    applied_before = out.read_text().split()
    assert 100 <= len(applied_before) < len(sent), "the consumer should have been killed mid-stream"
    pending = sum(producer.pending().values())
    assert pending > 0, "the killed consumer should have left entries delivered and not acked"

    took_over = Received()
    heir = bus(redis_server, redis_prefix)
    started = time.monotonic()
    heir.subscribe(SIGNALS, took_over)
    try:
        missing = {s.key for s in sent} - set(applied_before)
        assert took_over.wait_for(len(missing), timeout=15), (len(took_over.keys), len(missing))
        took_over_s = time.monotonic() - started
        assert set(took_over.keys) | set(applied_before) == {s.key for s in sent}  # nothing lost
        again = set(took_over.keys) & set(applied_before)
        assert len(again) <= 20, f"{len(again)} applied twice: more than the one batch without its mark"
        assert heir.stats.claimed >= pending and took_over_s < 10
        assert sum(heir.pending().values()) == 0
    finally:
        heir.close()
        producer.close()


def test_a_signal_that_fails_every_time_is_parked_with_its_reason_and_its_room_goes_on(redis_server, redis_prefix):
    got = Received()

    def handle(s: Signal) -> None:
        if s.subject == "poison":
            raise ValueError(f"cannot attribute {s.subject!r}")
        got(s)

    consumer = bus(redis_server, redis_prefix, max_deliveries=3)
    try:
        consumer.subscribe(SIGNALS, handle)
        sent = signals(rooms=1, each=5) + [Signal("room00", 9.0, "mark", "poison", 0.9, "marks")] \
            + [Signal("room00", 10.0 + k, "mark", "nova", 0.9, "marks") for k in range(5)]
        for s in sent:
            consumer.publish(SIGNALS, s)
        assert got.wait_for(10)
        deadline = time.monotonic() + 15
        while not consumer.parked() and time.monotonic() < deadline:
            time.sleep(0.1)
        [parked] = consumer.parked()
        assert parked["reason"] == "ValueError: cannot attribute 'poison'" and int(parked["deliveries"]) == 3
        assert '"subject":"poison"' in parked["m"] and int(parked["partition"]) == partition_of("room00", 8)
        assert consumer.stats.failures == 3 and sum(consumer.pending().values()) == 0
        assert got.by_room["room00"] == [0.0, 0.5, 1.0, 1.5, 2.0, 10.0, 11.0, 12.0, 13.0, 14.0]
        status = cluster_status(redis_server.url, redis_prefix, 8)
        assert status["parked"] == 1 and status["last_parked"][0]["reason"] == parked["reason"]
        assert status["consumers"] == {consumer.consumer: 8} and sum(p["pending"] for p in status["partitions"]) == 0
    finally:
        consumer.close()


def test_signals_wait_in_order_while_the_case_database_is_down_and_none_is_parked(redis_server, redis_prefix):
    """A handler that finds the store down raises Unavailable: however many tries that takes, the signals are
    applied once it is back, each room in order, and nothing is parked (it was not the signals' fault)."""
    from livewarden.errors import Unavailable

    got, down_until = Received(), time.monotonic() + 3.0

    def handle(s: Signal) -> None:
        if time.monotonic() < down_until:
            raise Unavailable("the case database is unavailable: connection refused")
        got(s)

    consumer = bus(redis_server, redis_prefix, max_deliveries=2)
    try:
        consumer.subscribe(SIGNALS, handle)
        sent = signals(rooms=3, each=20)
        for s in sent:
            consumer.publish(SIGNALS, s)
        assert got.wait_for(len(sent), timeout=20), len(got.keys)
        assert consumer.stats.outages >= 2 and consumer.parked() == [] and consumer.stats.parked == 0
        for times in got.by_room.values():
            assert times == [k * 0.5 for k in range(20)]
        assert sum(consumer.pending().values()) == 0
    finally:
        consumer.close()


def test_redis_restarted_and_down_for_a_while_loses_nothing(redis_server, redis_prefix):
    """Signals published while Redis is down wait in the publisher; consumers reconnect with backoff; the
    append-only file keeps what Redis had acknowledged."""
    got = Received()
    producer, consumer = bus(redis_server, redis_prefix), bus(redis_server, redis_prefix)
    consumer.subscribe(SIGNALS, got)
    sent = signals(rooms=4, each=100)
    try:
        for s in sent[:200]:
            producer.publish(SIGNALS, s)
        assert producer.flush()
        redis_server.kill()  # a crash: only the append-only file is left
        for s in sent[200:300]:
            producer.publish(SIGNALS, s)  # accepted while Redis is down
        time.sleep(1.0)
        redis_server.restart()
        for s in sent[300:]:
            producer.publish(SIGNALS, s)
        assert got.wait_for(len(sent), timeout=30), len(set(got.keys))
        assert set(got.keys) == {s.key for s in sent}
        assert producer.stats.reconnects >= 1 and consumer.stats.reconnects >= 1
        for times in got.by_room.values():  # at least once: a redelivery repeats a time, never goes back past it
            assert sorted(set(times)) == [k * 0.5 for k in range(100)]
    finally:
        producer.close()
        consumer.close()


def test_a_new_consumer_gets_its_share_and_a_closed_one_hands_its_partitions_over(redis_server, redis_prefix):
    first = bus(redis_server, redis_prefix)
    first.subscribe(SIGNALS, Received())
    deadline = time.monotonic() + 5
    while len(first.stats.partitions) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(first.stats.partitions) == 8
    second = bus(redis_server, redis_prefix)
    second.subscribe(SIGNALS, Received())
    deadline = time.monotonic() + 10
    while len(second.stats.partitions) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(first.stats.partitions) == len(second.stats.partitions) == 4
    first.close()
    deadline = time.monotonic() + 10
    while len(second.stats.partitions) < 8 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(second.stats.partitions) == 8
    second.close()


def test_a_bad_bus_url_is_refused_naming_the_setting():
    from livewarden.config import load_settings
    from livewarden.errors import LivewardenError

    with pytest.raises((LivewardenError, ValueError), match="bus.url must be a redis://"):
        load_settings(overrides={"bus.url": "http://localhost:6379"})


def test_rooms_watched_in_one_process_are_decided_by_policy_processes_and_a_killed_one_is_replaced(
        redis_server, redis_prefix, tmp_path):
    """`livewarden watch --bus URL --no-decide` publishes a room's signals (chat, its video down); `livewarden
    policy` decides them into the case store. Killed with SIGKILL, a second policy process takes the rooms over
    within the lease: the room's next offer continues its open alert, another room's alerts; every alert
    committed stays, filed in its case."""
    from livewarden.cases import CaseStore

    from .test_language_pipeline import message, wait_for, write_shop

    registry = write_shop(tmp_path)
    feed = tmp_path / "chat.jsonl"
    feed.write_text("")
    env = {**os.environ, "COLUMNS": "200", "LIVEWARDEN_BUS__PREFIX": redis_prefix, "LIVEWARDEN_BUS__LEASE_S": "1"}
    run = [sys.executable, "-m", "livewarden.cli"]
    worker = subprocess.Popen(run + ["watch", "--registry", str(registry), "--data-dir", str(tmp_path / "worker"),
                                     "--bus", redis_server.url, "--no-decide", "--chat", str(feed),
                                     "--duration", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

    def decider(log: str) -> subprocess.Popen:
        return subprocess.Popen(run + ["policy", "--registry", str(registry), "--bus", redis_server.url,
                                       "--data-dir", str(tmp_path / "policy")],
                                stdout=open(tmp_path / log, "w"), stderr=subprocess.STDOUT, text=True, env=env)

    first = decider("first.log")
    data = tmp_path / "policy"
    try:
        with feed.open("a") as f:
            f.write(message("deals", "seller", "AAA r3plica, same factory as the original") + "\n")
        alerts = wait_for(lambda: CaseStore.at(data).alerts() if (data / "livewarden.db").exists() else None, 40)
        assert [(a.room_id, a.rule) for a in alerts or []] == [("deals", "counterfeit_language")], \
            (tmp_path / "first.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
        second = decider("second.log")
        try:
            killed_at = time.monotonic()
            with feed.open("a") as f:
                f.write(message("deals", "seller", "1:1 replica bags, mirror quality") + "\n")
                f.write(message("outlet", "moderator", "ｒｅｐ 1:1 bags in stock, DM me") + "\n")
            alerts = wait_for(lambda: len(CaseStore.at(data).alerts()) >= 2 and CaseStore.at(data).alerts(), 30)
            assert alerts, (tmp_path / "second.log").read_text()
            deals = wait_for(lambda: [a for a in CaseStore.at(data).alerts() if a.room_id == "deals" and a.hits == 2], 10)
            assert deals and len(deals) == 1  # the heir continued the room's open alert: one alert, two hits
            assert time.monotonic() - killed_at < 20
            assert {(a.room_id, a.rule) for a in alerts} == {("deals", "counterfeit_language"),
                                                             ("outlet", "counterfeit_language")}
            assert all(a.case_id for a in alerts)  # filed into cases by the policy process
            assert "outlet" in (tmp_path / "second.log").read_text()
            shown = subprocess.run(run + ["cluster", "status", "--bus", redis_server.url], env=env,
                                   capture_output=True, text=True, timeout=30)
            assert shown.returncode == 0 and "1 policy consumer(s)" in shown.stdout, shown.stdout + shown.stderr
            assert ": 16 partitions" in shown.stdout and "0 parked signal(s)" in shown.stdout, shown.stdout
        finally:
            second.terminate()
            second.wait(timeout=15)
        assert second.returncode == 0, (tmp_path / "second.log").read_text()
        worker.terminate()
        output, _ = worker.communicate(timeout=20)
    finally:
        for proc in (worker, first):
            if proc.poll() is None:
                proc.kill()
    assert worker.returncode == 0 and "Traceback" not in output, output
    assert "decided by `livewarden policy`" in output


def test_a_person_live_in_two_rooms_decided_by_two_policy_processes_is_seen_in_both(redis_server, redis_prefix,
                                                                                    tmp_path):
    """The rooms are on partitions of different consumers; who is live where is shared through Redis, so the
    room the person did not authorize raises `concurrent_impersonation`."""
    import yaml

    from livewarden.config import Settings
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_policy
    from livewarden.runtime.pipeline import Decider

    faces = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
    rooms = [f"room{i}" for i in range(40)]
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump({
        "persons": [{"id": "obama", "name": "Obama", "photos": [str(faces / "obama-enrol.jpg")],
                     "authorized_sellers": ["official"]}],
        "sellers": [{"id": "official", "name": "Official"}, {"id": "bargain", "name": "Bargain"}],
        "rooms": [{"id": r, "seller": "official" if i % 2 == 0 else "bargain", "source": f"{r}.mp4"}
                  for i, r in enumerate(rooms)]}))
    registry = load_registry(tmp_path / "registry.yaml")
    systems = []
    for name in ("one", "two"):
        settings = Settings().with_overrides({"bus.url": redis_server.url, "bus.prefix": redis_prefix,
                                              "bus.partitions": 5, "bus.lease_s": 1.0,
                                              "store.data_dir": tmp_path / name})
        system = build_policy(registry, settings)
        Decider(system)
        systems.append(system)
    one, two = (s.bus for s in systems)
    try:
        deadline = time.monotonic() + 10
        while not (one.stats.partitions and two.stats.partitions
                   and len(one.stats.partitions | two.stats.partitions) == 5) and time.monotonic() < deadline:
            time.sleep(0.1)
        # the person's own room decided by one process, a room they did not authorize by the other
        own = next(r for i, r in enumerate(rooms) if i % 2 == 0 and partition_of(r, 5) in one.stats.partitions)
        other = next(r for i, r in enumerate(rooms) if i % 2 == 1 and partition_of(r, 5) in two.stats.partitions)
        now = time.time()
        for k in range(3):
            for room in (own, other):
                one.publish(SIGNALS, Signal(room, k * 0.5, "face", "obama", 0.9, "faces", wall_time=now + k * 0.5))
        assert one.flush()

        def rules_of(system):
            return {(a.room_id, a.rule) for a in system.store.alerts()}

        deadline = time.monotonic() + 10
        while ("concurrent_impersonation" not in {r for _, r in rules_of(systems[1])}
               and time.monotonic() < deadline):
            time.sleep(0.1)
        assert rules_of(systems[1]) == {(other, "impersonation"), (other, "concurrent_impersonation")}
        assert rules_of(systems[0]) == set()  # the person's own room raises nothing
    finally:
        for s in systems:
            s.bus.close()


def test_frame_fingerprints_of_every_room_go_to_one_partition_and_each_room_keeps_its_own():
    assert {partition_of(f"room{i}", 16, "stream_frame") for i in range(50)} == {0}
    spread = {partition_of(f"room{i}", 16, "mark") for i in range(200)}
    assert 0 not in spread and len(spread) == 15
    assert partition_of("room7", 16, "mark") == partition_of("room7", 16, "text_line")
    assert partition_of("room7", 1, "stream_frame") == partition_of("room7", 1) == 0


def test_evidence_cut_by_a_worker_on_another_machine_is_kept_by_the_policy(redis_server, redis_prefix, tmp_path):
    """The worker's spool is not on the policy process's disk (here: deleted before the policy reads): the
    files come through Redis by their hash, and the committed alert holds them, byte for byte."""
    import hashlib
    import shutil

    import numpy as np

    from livewarden.config import Settings
    from livewarden.model import Frame
    from livewarden.policy.rules import load_rules
    from livewarden.registry import load_registry
    from livewarden.runtime.build import assemble, build_policy
    from livewarden.runtime.pipeline import Decider

    from .test_language_pipeline import wait_for, write_shop

    registry = load_registry(write_shop(tmp_path))

    def settings(name: str) -> Settings:
        return Settings().with_overrides({"bus.url": redis_server.url, "bus.prefix": redis_prefix,
                                          "bus.lease_s": 1.0, "store.data_dir": tmp_path / name})

    worker = assemble(registry, settings("worker"), [], load_rules())
    image = np.random.default_rng(3).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    seen = Signal("deals", 12.0, "mark", "nova", 0.95, "marks",
                  evidence={"polygon": [[100, 80], [300, 80], [300, 200], [100, 200]]},
                  frame=Frame("deals", 12.0, image))
    worker.spool.attach(seen)
    refs = {r.role: r.sha256 for r in seen.evidence_refs}
    assert {"crop", "frame"} <= set(refs)
    worker.bus.publish(SIGNALS, seen)
    assert worker.bus.flush()
    worker.bus.close()
    shutil.rmtree(tmp_path / "worker")  # another machine's disk

    policy = build_policy(registry, settings("policy"))
    Decider(policy)
    try:
        alerts = wait_for(lambda: policy.store.alerts(), 20)
        assert [(a.room_id, a.rule) for a in alerts] == [("deals", "unauthorized_brand")]
        kept = {Path(p).stem.rsplit("_", 1)[1]: Path(p) for p in alerts[0].evidence}
        assert {role: hashlib.sha256(kept[role].read_bytes()).hexdigest() for role in refs} == refs
        assert all(str(p).startswith(str(tmp_path / "policy")) for p in kept.values())
    finally:
        policy.bus.close()


@pytest.mark.postgres
def test_a_finding_decided_while_postgres_is_down_is_committed_when_it_is_back(redis_server, redis_prefix,
                                                                              own_postgres, tmp_path):
    """A signal opens an alert (a single hit) and two more update it, and the case database is down when they
    are decided: the bus redelivers them, the policy has counted them already, and the alert must still be
    committed once the database is back (the decider keeps what it could not commit), once, with every hit."""
    from livewarden.cases import migrate
    from livewarden.config import Settings
    from livewarden.policy.rules import Rule
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_policy
    from livewarden.runtime.pipeline import Decider

    from ..conftest import write_registry

    path = write_registry(tmp_path, {"brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]}],
                                     "sellers": [{"id": "bargain", "name": "Bargain"}],
                                     "rooms": [{"id": "deals", "seller": "bargain", "source": "deals.mp4"},
                                               {"id": "outlet", "seller": "bargain", "source": "outlet.mp4"}]},
                          marks={"nova": ("NOVA", 11)})
    url = own_postgres.new_database("decider")
    migrate.upgrade(url)
    settings = Settings().with_overrides({"bus.url": redis_server.url, "bus.prefix": redis_prefix, "bus.lease_s": 1.0,
                                          "store.url": url, "store.data_dir": tmp_path / "policy"})
    rule = Rule(id="unauthorized_brand", signal="mark", when="seller_not_authorized", hits=1, severity="red_flag",
                close_after_s=600)
    system = build_policy(load_registry(path), settings, rules=[rule])
    Decider(system)
    try:
        assert wait_for(lambda: len(system.bus.stats.partitions) == 16, 10)
        own_postgres.down()
        now = time.time()
        for k in range(3):  # the first opens the alert, the next two update it: all while the database is down
            system.bus.publish(SIGNALS, Signal("deals", 1.0 + k, "mark", "nova", 0.95, "marks", wall_time=now + k))
        # one hit and no more: nothing after it would open the alert again if its commit were dropped
        system.bus.publish(SIGNALS, Signal("outlet", 1.0, "mark", "nova", 0.95, "marks", wall_time=now))
        assert wait_for(lambda: system.bus.stats.outages >= 1, 10)  # decided, and the commit found it down
        time.sleep(1.0)
        own_postgres.restart()
        def committed():
            return sorted((a.room_id, a.rule, a.hits, a.last_stream_time) for a in system.store.alerts())

        expected = [("deals", "unauthorized_brand", 3, 3.0), ("outlet", "unauthorized_brand", 1, 1.0)]
        assert wait_for(lambda: committed() == expected, 20), committed()
        assert wait_for(lambda: sum(system.bus.pending().values()) == 0, 10)  # acked once committed
        assert system.bus.parked() == [] and len(system.store.alerts()) == 2
    finally:
        system.bus.close()


def wait_for(predicate, timeout: float, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:  # the database still coming back
            value = None
        if value:
            return value
        time.sleep(poll)
    return None
