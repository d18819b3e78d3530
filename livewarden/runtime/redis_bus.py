"""Signals on Redis Streams, for when detection and policy run in different processes or on different machines.

The bus contract (runtime/bus.py) on Redis: a room's signals arrive in order, delivery is at least once, and a
signal is applied once in effect.

- **Partitions.** `<prefix>signals:<p>` with `p = 1 + crc32(room) % (partitions - 1)`: one room, one stream, so
  its signals keep their order. Frame fingerprints (`stream_frame`) of every room go to partition 0, so one
  reader compares the rooms' streams (a restream); faces and codes seen across rooms are shared through Redis
  instead (policy/shared_presence.py). Publishing is buffered and sent in pipelined batches by one flusher thread (a round trip
  per signal would cap a producer at a few thousand a second); `publish` returns once the signal is buffered,
  and a buffer that cannot drain (Redis down) keeps it until it can.
- **One reader per partition.** Every consumer of the group reads only the partitions it holds a lease on
  (`<prefix>lease:<p>`, a key set with NX and an expiry, renewed by a heartbeat thread while the consumer
  lives, so a slow batch does not let it lapse). Two consumers never
  read one partition at once, so per-room order holds across consumers; partitions spread over the consumers
  alive (each takes at most its share while another is waiting).
- **Taking over.** When a consumer dies its leases expire; the consumer that takes a partition first claims
  its pending entries (`XAUTOCLAIM`, which counts a delivery) and applies them in order, then reads on.
- **Once in effect.** An entry is acked after its handlers ran, so one a consumer was given and died before
  acking is applied again by the heir: at least once, at most one batch per dead consumer. That is what the
  policy needs: the dead consumer's state in memory died with it, so its heir must see those signals; an alert
  committed twice is one alert (the store's upsert), and a redelivery in the same process is counted once (the
  policy's key memory).
- **Poison.** An entry whose handler raised is retried; after `max_deliveries` failures it is parked in
  `<prefix>parked` with its reason and acked, so one bad signal does not stall its room forever. A handler
  that raises `Unavailable` (the case database is down) is not the signal's fault: the partition waits and
  retries, in order, for as long as it takes, and nothing is parked.
- **Outages.** A connection error is retried with backoff (up to `max_backoff_s`); nothing buffered is dropped.

`observed` and `alerts` are delivered in this process, as by the in-process bus: alerts reach other processes
through the case store (the API's live feed reads it), which is where they are committed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livewarden.errors import Unavailable
from livewarden.model import Signal
from livewarden.runtime.bus import SIGNALS, TOPICS, Bus, Handler, InProcessBus

log = logging.getLogger(__name__)

GROUP = "policy"
ACROSS_ROOMS = ("stream_frame",)  # kinds decided by comparing every room's signals at once: partition 0
# renew the leases that are still ours, in one call (a get and an expire apart could extend another consumer's);
# returns 1 or 0 per key
RENEW = """
local held = {}
for i, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then held[i] = redis.call('pexpire', key, ARGV[2]) else held[i] = 0 end
end
return held
"""
# give a lease back only if it is still ours (a get and a delete apart could delete the next holder's)
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Keys:
    """Every Redis key of one deployment, under its prefix (several deployments can share one Redis)."""

    prefix: str = "lw:"

    def signals(self, p: int) -> str:
        return f"{self.prefix}signals:{p}"

    def lease(self, p: int) -> str:
        return f"{self.prefix}lease:{p}"

    def consumer(self, name: str = "*") -> str:  # "alive, holding n partitions", expiring with its leases
        return f"{self.prefix}consumer:{name}"

    def name_of_consumer(self, key: bytes) -> str:
        return key.decode()[len(self.consumer("")):]

    @property
    def parked(self) -> str:
        return f"{self.prefix}parked"

    def evidence(self, sha256: str) -> str:  # an evidence file's bytes, until the policy has kept them
        return f"{self.prefix}evidence:{sha256}"

    # the room board (runtime/room_board.py): a room's health as its worker posted it; the rooms whose page an
    # API server asked for lately (room -> until when); a room's broadcast, as its policy process posted it
    def room(self, room_id: str) -> str:
        return f"{self.prefix}room:{room_id}"

    @property
    def broadcasts_wanted(self) -> str:
        return f"{self.prefix}broadcast:wanted"

    def broadcast(self, room_id: str) -> str:
        return f"{self.prefix}broadcast:room:{room_id}"

    # the room placer's (runtime/ray_engine.py): which room is where, the workers, moves, requests to it
    @property
    def placement(self) -> str:
        return f"{self.prefix}placement"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    @property
    def rebalances(self) -> str:
        return f"{self.prefix}rebalances"

    @property
    def requests(self) -> str:
        return f"{self.prefix}placer:requests"

    @property
    def refused(self) -> str:
        return f"{self.prefix}placer:refused"


@dataclass
class ConsumerStats:
    """What one consumer did (for `cluster status` and the tests)."""

    applied: int = 0
    claimed: int = 0  # entries taken over from a dead consumer
    parked: int = 0
    failures: int = 0  # handler calls that raised
    outages: int = 0  # handler calls that found what they need down (Unavailable): retried, never parked
    reconnects: int = 0
    partitions: set[int] = field(default_factory=set)


def cluster_status(url: str, prefix: str = "lw:", partitions: int = 16, parked: int = 5) -> dict[str, Any]:
    """What `livewarden cluster status` shows: the live consumers and the partitions each holds, every
    partition's length, lag (entries not yet read by the group) and pending entries (read, not acked), the
    parked signals (their count, the last few with their reasons), and, with rooms on Ray, the room workers
    (process, rooms, load, dead or not), which room is where and how many times rooms moved."""
    import redis

    r, keys = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0), Keys(prefix)
    try:
        consumers = {keys.name_of_consumer(k): int(r.get(k) or 0) for k in r.scan_iter(keys.consumer(), count=100)}
        rows = []
        for p in range(partitions):
            stream, holder = keys.signals(p), r.get(keys.lease(p))
            group = {}
            if r.exists(stream):
                group = next((g for g in r.xinfo_groups(stream) if g["name"].decode() == GROUP), {})
            rows.append({"partition": p, "holder": holder.decode() if holder else None,
                         "length": int(r.xlen(stream)), "lag": group.get("lag"),
                         "pending": int(group.get("pending", 0))})
        last = [_parked_entry(entry_id, fields, message=False)
                for entry_id, fields in r.xrevrange(keys.parked, count=parked)]
        # written by the room placer when rooms run on Ray workers (runtime/ray_engine.py)
        placement = {k.decode(): v.decode() for k, v in r.hgetall(keys.placement).items()}
        workers = {k.decode(): json.loads(v) for k, v in r.hgetall(keys.workers).items()}
        return {"consumers": consumers, "partitions": rows, "parked": int(r.xlen(keys.parked)), "last_parked": last,
                "placement": placement, "workers": workers, "rebalances": int(r.get(keys.rebalances) or 0)}
    finally:
        r.close()


def _parked_entry(entry_id: bytes, fields: dict[bytes, bytes], message: bool = True) -> dict[str, str]:
    """A parked signal as text: its id, partition, entry, deliveries, reason and (with `message`) the message."""
    return {k.decode(): v.decode() for k, v in fields.items() if message or k != b"m"} | {"id": entry_id.decode()}


def partition_of(room_id: str, partitions: int, kind: str = "") -> int:
    """A signal's partition: its room's, stable in every process (crc32, not Python's salted hash), over
    1..partitions-1; or 0, where one reader sees every room's frame fingerprints (`ACROSS_ROOMS`): a restream
    is found by comparing rooms' frames with each other (policy/streams.py)."""
    if partitions == 1:
        return 0
    if kind in ACROSS_ROOMS:
        return 0
    return 1 + zlib.crc32(room_id.encode()) % (partitions - 1)


class RedisStreamsBus(Bus):
    """`signals` through Redis Streams; `observed` and `alerts` in process. See the module docstring.

    A process that only publishes (a room worker) never subscribes to `signals`; one that subscribes becomes a
    consumer of the group (named `consumer`, unique per process by default) and starts reading at once.
    """

    def __init__(self, url: str, *, prefix: str = "lw:", partitions: int = 16, consumer: str | None = None,
                 lease_s: float = 5.0, max_deliveries: int = 5, retry_after_s: float = 1.0, batch: int = 500,
                 max_backoff_s: float = 5.0, maxlen: int = 1_000_000, evidence_ttl_s: float = 600.0) -> None:
        import redis

        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, not {partitions}")
        self.url, self.prefix, self.partitions, self.keys = url, prefix, partitions, Keys(prefix)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.lease_s, self.max_deliveries, self.retry_after_s = lease_s, max_deliveries, retry_after_s
        self.batch, self.max_backoff_s, self.maxlen = batch, max_backoff_s, maxlen
        self.evidence_ttl_s = evidence_ttl_s
        self.redis = redis.Redis.from_url(url, socket_timeout=max(2.0, lease_s), socket_connect_timeout=2.0,
                                          health_check_interval=10)
        self.local = InProcessBus()
        self.stats = ConsumerStats()
        self.errors = 0
        self._handlers: list[Handler] = []
        self._after_batch: list[Any] = []
        self._outbox: deque[tuple[str, bytes, float | None]] = deque()  # (key, body, expiry: evidence only)
        self._outbox_ready = threading.Condition()
        self._sending = False  # a batch is on its way (flush waits for it)
        self._last_error: dict[bytes, str] = {}  # entry id -> why its handler raised (the parked reason)
        self._failures: dict[bytes, int] = {}  # entry id -> how often its handler raised here (not outages)
        self._retry: set[int] = set()  # partitions where an entry of ours waits for another try
        self._renew = self.redis.register_script(RENEW)
        self._give_back = self.redis.register_script(RELEASE)
        self._lease_lock = threading.Lock()
        self._held: set[int] = set()  # partitions whose lease we hold (the heartbeat's)
        self._leaving: set[int] = set()  # of those, the ones to give back (the reader does, between batches)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._start(self._flush_forever, "redis-bus-flush")

    # -- the Bus
    def publish(self, topic: str, message: Any) -> None:
        if topic != SIGNALS:
            self.local.publish(topic, message)
            return
        body = json.dumps(message.to_message(), separators=(",", ":")).encode()
        self._send(self.keys.signals(partition_of(message.room_id, self.partitions, message.kind)), body)

    def put_evidence(self, sha256: str, data: bytes) -> None:
        """Keep an evidence file's bytes in Redis for `evidence_ttl_s`, by its hash: the policy process that keeps
        an alert's files may be on another machine than the worker that cut them. Sent in order with the
        signals, so it is there before the signal that references it."""
        self._send(self.keys.evidence(sha256), data, ttl_s=self.evidence_ttl_s)

    def evidence(self, sha256: str) -> bytes | None:
        """The bytes of an evidence file a worker cut (None: never sent, or expired)."""
        return self.redis.get(self.keys.evidence(sha256))

    def _send(self, key: str, body: bytes, ttl_s: float | None = None) -> None:
        with self._outbox_ready:
            self._outbox.append((key, body, ttl_s))
            self._outbox_ready.notify()

    def subscribe(self, topic: str, handler: Handler) -> None:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
        if topic != SIGNALS:
            self.local.subscribe(topic, handler)
            return
        self._handlers.append(handler)
        if len(self._handlers) == 1:
            self._start(self._consume_forever, "redis-bus-consume")

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every signal published so far is in Redis (False if `timeout` passed first)."""
        deadline = time.monotonic() + timeout
        with self._outbox_ready:
            while self._outbox or self._sending:
                if not self._outbox_ready.wait(timeout=max(0.0, deadline - time.monotonic())):
                    return not (self._outbox or self._sending)
        return True

    def close(self) -> None:
        """Send what is buffered, give the leases back (another consumer takes over at once), stop."""
        self.flush(timeout=5.0)
        self._stop.set()
        with self._outbox_ready:
            self._outbox_ready.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.lease_s + 5)
        try:
            for p in list(self._held | self.stats.partitions):
                self._release(p)
            self.redis.delete(self.keys.consumer(self.consumer))
        except Exception:  # Redis gone: the leases expire by themselves
            pass
        self.redis.close()

    def after_batch(self, fn: Any) -> None:
        """Call `fn()` after the handlers have run on a batch of entries and before they are acked (the
        decider's one commit for the batch); if it raises `Unavailable` the batch is not acked, and is delivered
        again once it has waited."""
        self._after_batch.append(fn)

    def decides(self, room_id: str) -> bool:
        """Whether this consumer reads the room's own partition now (its policy state of the room is whole)."""
        return partition_of(room_id, self.partitions) in self.stats.partitions

    def every(self, seconds: float, fn: Any, name: str) -> None:
        """Run `fn` every `seconds` on a thread of the bus until it closes; an error is logged, and it goes on."""
        def loop() -> None:
            while not self._stop.wait(seconds):
                try:
                    fn()
                except Exception as exc:
                    log.warning("%s: %s", name, exc)

        self._start(loop, name)

    def pending(self) -> dict[int, int]:
        """Entries delivered to some consumer and not yet acked, per partition."""
        out = {}
        for p in range(self.partitions):
            try:
                out[p] = int(self.redis.xpending(self.keys.signals(p), GROUP)["pending"])
            except Exception:  # no such stream or group yet
                out[p] = 0
        return out

    def parked(self) -> list[dict[str, Any]]:
        """The parked signals, oldest first: their reason, partition, deliveries and the message."""
        return [_parked_entry(entry_id, fields) for entry_id, fields in self.redis.xrange(self.keys.parked)]

    # -- publishing
    def _flush_forever(self) -> None:
        backoff = 0.05
        while True:
            with self._outbox_ready:
                while not self._outbox and not self._stop.is_set():
                    self._outbox_ready.wait(timeout=0.5)
                if not self._outbox and self._stop.is_set():
                    return
                items = [self._outbox.popleft() for _ in range(min(len(self._outbox), self.batch))]
                self._sending = True
            try:
                pipe = self.redis.pipeline(transaction=False)
                for key, body, ttl_s in items:
                    if ttl_s is None:  # a signal
                        pipe.xadd(key, {"m": body}, maxlen=self.maxlen, approximate=True)
                    else:  # evidence bytes, by hash: the same file sent twice is one key
                        pipe.set(key, body, px=int(ttl_s * 1000))
                pipe.execute()
                backoff = 0.05
            except Exception as exc:
                with self._outbox_ready:
                    self._outbox.extendleft(reversed(items))  # in front, in order: nothing is lost or reordered
                backoff = self._wait_after(exc, backoff, "publishing")
                if self._stop.is_set() and backoff >= self.max_backoff_s:
                    log.error("redis bus: %d signals not sent at close: %s", len(self._outbox), exc)
                    return
            finally:
                with self._outbox_ready:
                    self._sending = False
                    self._outbox_ready.notify_all()

    # -- consuming
    # Two threads: the heartbeat holds the leases (renews them, takes free ones, says which to give back), so a
    # slow batch never lets a lease lapse; the reader claims what a new partition's last holder left, reads, and
    # gives partitions back between batches.
    def _consume_forever(self) -> None:
        self._start(self._heartbeat_forever, "redis-bus-leases")
        backoff, next_retry = 0.05, 0.0
        while not self._stop.is_set():
            try:
                self._settle_partitions()
                if self._retry and time.monotonic() >= next_retry:
                    for p in sorted(self._retry & self.stats.partitions):
                        self._retry_pending(p)
                    next_retry = time.monotonic() + self.retry_after_s
                self._read_new()
                backoff = 0.05
            except Exception as exc:
                backoff = self._wait_after(exc, backoff, "consuming")

    def _heartbeat_forever(self) -> None:
        backoff = 0.05
        while not self._stop.is_set():
            try:
                self._hold_leases()
                backoff = 0.05
                self._stop.wait(self.lease_s / 3)
            except Exception as exc:
                backoff = self._wait_after(exc, backoff, "renewing leases")

    def _hold_leases(self) -> None:
        """Renew the leases held; take free ones up to a fair share; ask the reader to give one back if over it."""
        ttl = int(self.lease_s * 1000)
        with self._lease_lock:
            held = set(self._held)
        mine = sorted(held)
        if mine:
            renewed = self._renew(keys=[self.keys.lease(p) for p in mine], args=[self.consumer, ttl])
            held -= {p for p, ok in zip(mine, renewed) if not ok}  # lost (we stalled past expiry): another reads it
        live = max(1, len(self._live_consumers()))
        share = -(-self.partitions // live)
        for p in range(self.partitions):
            if len(held) >= share:
                break
            if p not in held and self.redis.set(self.keys.lease(p), self.consumer, nx=True, px=ttl):
                held.add(p)
        self.redis.set(self.keys.consumer(self.consumer), len(held), px=ttl)
        with self._lease_lock:
            self._held = held
            self._leaving = {max(held)} if len(held) > share else set()  # a newcomer is waiting

    def _settle_partitions(self) -> None:
        """Between batches: start reading partitions newly leased (after claiming what was left pending in
        them), stop reading the ones lost or to give back."""
        with self._lease_lock:
            held, leaving = set(self._held), set(self._leaving)
        for p in sorted(self.stats.partitions - held):
            self.stats.partitions.discard(p)
        for p in sorted(leaving & self.stats.partitions):
            self._release(p)
        for p in sorted(held - self.stats.partitions - leaving):
            self._ensure_group(p)
            self._take_over(p)
            self.stats.partitions.add(p)

    def _live_consumers(self) -> list[str]:
        return [self.keys.name_of_consumer(k)
                for k in self.redis.scan_iter(self.keys.consumer(), count=100)] or [self.consumer]

    def _release(self, p: int) -> None:
        self.stats.partitions.discard(p)
        with self._lease_lock:
            self._held.discard(p)
            self._leaving.discard(p)
        self._give_back(keys=[self.keys.lease(p)], args=[self.consumer])

    def _ensure_group(self, p: int) -> None:
        import redis

        try:
            self.redis.xgroup_create(self.keys.signals(p), GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _take_over(self, p: int) -> None:
        """Entries the partition's previous reader was given and did not ack, in order: ours now."""
        start = "0-0"
        while True:
            start, entries, _ = self.redis.xautoclaim(self.keys.signals(p), GROUP, self.consumer, min_idle_time=0,
                                                      start_id=start, count=self.batch)
            if entries:
                self.stats.claimed += len(entries)
                self._apply(p, entries)
            if start in (b"0-0", "0-0"):
                return

    def _read_new(self) -> None:
        held = sorted(self.stats.partitions)
        if not held:
            self._stop.wait(0.2)
            return
        reply = self.redis.xreadgroup(GROUP, self.consumer, {self.keys.signals(p): ">" for p in held},
                                      count=self.batch, block=200)
        for stream, entries in reply or ():
            p = int(stream.decode().rsplit(":", 1)[1])
            if p in self.stats.partitions:
                self._apply(p, entries)

    def _retry_pending(self, p: int) -> None:
        """Our own entries not acked: again, in order; or parked once their handler raised `max_deliveries`
        times here (an outage, `Unavailable`, is not counted: it is not the signal's fault)."""
        idle_ms = int(self.retry_after_s * 1000)
        stuck = self.redis.xpending_range(self.keys.signals(p), GROUP, min="-", max="+", count=self.batch,
                                          consumername=self.consumer, idle=None)
        if not stuck:
            self._retry.discard(p)  # nothing of ours left pending here
            return
        stuck = [e for e in stuck if e["time_since_delivered"] >= idle_ms]
        again = []
        for entry in stuck:
            if self._failures.get(entry["message_id"], 0) >= self.max_deliveries:
                self._park(p, entry["message_id"], entry["times_delivered"])
            else:
                again.append(entry["message_id"])
        if again:
            entries = self.redis.xclaim(self.keys.signals(p), GROUP, self.consumer, min_idle_time=idle_ms,
                                        message_ids=again)
            self._apply(p, entries)

    def _park(self, p: int, entry_id: bytes, deliveries: int) -> None:
        found = self.redis.xrange(self.keys.signals(p), min=entry_id, max=entry_id)
        body = found[0][1].get(b"m", b"") if found else b""
        reason = self._last_error.get(entry_id, "the handler raised at every delivery")
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.keys.parked, {"partition": p, "entry": entry_id, "deliveries": deliveries,
                                       "reason": reason, "m": body})
        pipe.xack(self.keys.signals(p), GROUP, entry_id)
        pipe.execute()
        self._last_error.pop(entry_id, None)
        self._failures.pop(entry_id, None)
        self.stats.parked += 1
        log.error("redis bus: parked signal %s of partition %d after %d deliveries: %s", entry_id.decode(), p,
                  deliveries, reason)

    def _apply(self, p: int, entries: list) -> None:
        """Hand each entry to the handlers in order; ack the ones done. One whose handler raised stays pending
        and is retried; when what it needs is down (`Unavailable`), the rest of the batch waits with it."""
        done = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed away before it was read: nothing to apply
                done.append(entry_id)
                continue
            try:
                signal = Signal.from_message(json.loads(fields[b"m"]))
                for handler in self._handlers:
                    handler(signal)
            except Unavailable as exc:
                self._wait_out(p, exc)
                break
            except Exception as exc:
                self._retry.add(p)
                self.stats.failures += 1
                self.errors += 1
                self._failures[entry_id] = self._failures.get(entry_id, 0) + 1
                self._last_error[entry_id] = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("redis bus: signal %s of partition %d failed (will retry): %s", entry_id.decode(), p,
                            exc)
                continue
            self.stats.applied += 1
            self._failures.pop(entry_id, None)
            self._last_error.pop(entry_id, None)
            done.append(entry_id)
        if done:
            try:
                for fn in self._after_batch:  # the decider commits what the batch decided, before the ack
                    fn()
            except Unavailable as exc:  # nothing acked: delivered again, and committed once it is back
                self._wait_out(p, exc)
                return
            self.redis.xack(self.keys.signals(p), GROUP, *done)

    def _wait_out(self, p: int, exc: Unavailable) -> None:
        """What the partition's signals need is down: not their fault (never parked); retried after a wait."""
        self._retry.add(p)
        self.stats.outages += 1
        log.warning("redis bus: partition %d waits: %s", p, exc)
        self._stop.wait(self.retry_after_s)

    # -- shared
    def _start(self, target, name: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _wait_after(self, exc: Exception, backoff: float, doing: str) -> float:
        """Log a Redis error once per backoff step and wait; the next wait is longer, up to max_backoff_s."""
        self.stats.reconnects += 1
        log.warning("redis bus: %s failed (%s); retrying in %.2fs", doing, exc, backoff)
        self._stop.wait(backoff)
        return min(self.max_backoff_s, backoff * 2)

