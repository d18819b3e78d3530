"""The room board: the health of rooms watched in other processes, in Redis, for any API server to show.

Rooms watched by Ray room workers or by `livewarden watch --bus … --no-decide` run where no API is; every API
server (`serve --engine ray`, `serve --no-watch --bus …`) must still show them on the console's wall with their
health. So a publishing pipeline on a Redis bus posts its rooms each `bus.board_every_s`, one hash per room
(`<prefix>room:<id>`: the worker, the room's view as JSON, a small JPEG). A room whose worker stopped posting
for `bus.board_stale_s` (it died, or hangs) is shown `lost`, one its worker let go `stopped`; either drops off
the board after `bus.board_keep_s`. Staleness is judged on the reader's clock against the writer's, so the
machines' clocks must agree (NTP) to within a few seconds.

A room's page (what was on camera when, what was said, shown and typed) is kept by the policy process that
decides the room, not by its worker. An API server asked for it marks the room wanted for `WANTED_FOR_S`; every
policy process posts, each second, the broadcast of the wanted rooms whose partition it reads (`post_broadcasts`),
so the page costs nothing while no one has it open.

A room that moved (its worker died, a rebalance, `cluster move`) is told apart by the process that posted it
before (a worker Ray restarted keeps its name, not its process): the new worker keeps `last_move` in the room's
view, with how long the room was off the air, from the last frame any earlier worker decoded (a worker that
never got on the air passes on its predecessor's) to the first the new one decoded. After a crash the old
worker's last post may be up to `board_every_s` old, so the gap can read up to that much longer than it was.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from typing import Any

from livewarden.runtime.redis_bus import Keys

log = logging.getLogger(__name__)
WANTED_FOR_S = 10.0  # a room's page asked for: its policy process posts the broadcast that long after the last ask

# a room stopped by its worker: marked so (not deleted) only if that worker process still holds it; the next
# worker reads from it when the room was last on the air
STOPPED = """
if redis.call('hget', KEYS[1], 'by') == ARGV[1] then
  redis.call('hset', KEYS[1], 'entry', ARGV[2])
  redis.call('hdel', KEYS[1], 'thumbnail')
  return redis.call('pexpire', KEYS[1], ARGV[3])
end
return 0
"""


def board_entry(status: Any, worker: str, now: float, move: dict | None = None) -> dict:
    """What the board holds of a room (a RoomStatus) as `worker` posts it at `now`; `move`: where it came from."""
    health = status.health
    left = move["last_frame_wall"] if move is not None else 0.0  # the room's last frame before it came here
    entry = {**status.view(), "worker": worker, "posted_at": round(now, 3),
             "last_frame_wall": health.last_frame_wall or left}
    if move is not None:
        came = health.first_frame_wall
        entry["last_move"] = {"from": move["from"], "at": move["at"],
                              "off_air_s": round(came - left, 1) if came and left else None}
    return entry


class RoomBoard:
    """Posts one pipeline's rooms to the board, from a thread, every `every_s`; `stopped` when one leaves."""

    def __init__(self, redis: Any, keys: Keys, worker: str, every_s: float = 1.0, keep_s: float = 3600.0,
                 thumbnail_every_s: float = 5.0) -> None:
        self.redis, self.keys, self.worker = redis, keys, worker
        self.process = uuid.uuid4().hex  # this process's posts (`worker` is a name: a restarted worker keeps it)
        self.every_s, self.keep_s, self.thumbnail_every_s = every_s, keep_s, thumbnail_every_s
        self._stopped_script = redis.register_script(STOPPED)
        self._posted: dict[str, dict] = {}  # room -> the entry last posted
        self._thumbnail_at: dict[str, float] = {}  # room -> when its thumbnail was last posted
        self._moves: dict[str, dict] = {}  # room -> where it came from, when it was last on the air there
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, rooms: Any) -> "RoomBoard":
        """Post `rooms` (a live dict room -> RoomStatus, such as `Pipeline.rooms`) until `stop`."""
        self._thread = threading.Thread(target=self._post_forever, args=(rooms,), name="room-board", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.every_s + 5)
        for room_id in list(self._posted):
            self.stopped(room_id)

    def _post_forever(self, rooms: Any) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.post(dict(rooms))
            except Exception as exc:  # Redis down: the rooms go on, the board is posted again when it is back
                log.warning("room board: %s", exc)

    def post(self, rooms: dict[str, Any]) -> None:
        """One round: every room of `rooms` (room -> RoomStatus) as it is now."""
        now = time.time()
        self._note_moves([r for r in rooms if r not in self._posted], now)
        pipe = self.redis.pipeline(transaction=False)
        for room_id, status in rooms.items():
            entry = board_entry(status, self.worker, now, self._moves.get(room_id))
            fields = {"worker": self.worker, "by": self.process, "entry": json.dumps(entry)}
            if status.thumbnail and now - self._thumbnail_at.get(room_id, 0.0) >= self.thumbnail_every_s:
                fields["thumbnail"] = status.thumbnail
                self._thumbnail_at[room_id] = now
            key = self.keys.room(room_id)
            pipe.hset(key, mapping=fields)
            pipe.pexpire(key, int(self.keep_s * 1000))
            self._posted[room_id] = entry
        pipe.execute()
        for room_id in [r for r in self._posted if r not in rooms]:  # removed between two rounds
            self.stopped(room_id)

    def stopped(self, room_id: str) -> None:
        """The room left this worker: marked stopped, with when it was last on the air here (for its next worker)."""
        entry = self._posted.pop(room_id, None)
        self._moves.pop(room_id, None)
        self._thumbnail_at.pop(room_id, None)
        if entry is None:
            return
        entry = {**entry, "health": {**entry["health"], "state": "stopped"}, "posted_at": round(time.time(), 3)}
        try:
            self._stopped_script(keys=[self.keys.room(room_id)],
                                 args=[self.process, json.dumps(entry), int(self.keep_s * 1000)])
        except Exception as exc:
            log.warning("room board: %s not marked stopped: %s", room_id, exc)

    def _note_moves(self, new_rooms: list[str], now: float) -> None:
        """Rooms new here that another worker process posted last: they moved."""
        if not new_rooms:
            return
        pipe = self.redis.pipeline(transaction=False)
        for room_id in new_rooms:
            pipe.hmget(self.keys.room(room_id), "worker", "by", "entry")
        for room_id, (worker, by, raw) in zip(new_rooms, pipe.execute()):
            if raw is None or by is None or by.decode() == self.process:
                continue
            name = worker.decode()
            self._moves[room_id] = {"from": name if name != self.worker else f"{name} before its restart",
                                    "at": round(now, 3), "last_frame_wall": json.loads(raw)["last_frame_wall"]}


class BoardRooms:
    """The rooms on the board, as the API shows them: the same view as `LocalRooms`, plus the worker and the
    room's last move; a room no worker watches now (`lost`, `stopped`) is `"watched": False`."""

    def __init__(self, redis: Any, keys: Keys, stale_s: float = 10.0) -> None:
        self.redis, self.keys, self.stale_s = redis, keys, stale_s

    def views(self, room_ids: list[str]) -> dict[str, dict]:
        """room -> its view, for the rooms of `room_ids` on the board."""
        pipe = self.redis.pipeline(transaction=False)
        for room_id in room_ids:
            pipe.hget(self.keys.room(room_id), "entry")
        now, out = time.time(), {}
        for room_id, raw in zip(room_ids, pipe.execute()):
            if raw is None:
                continue
            view = json.loads(raw)
            silent = now - view["posted_at"]
            if view["health"]["state"] == "stopped":
                view["watched"] = False
            elif silent > self.stale_s:
                view["watched"] = False
                view["health"] |= {"state": "lost", "last_error": f"its worker {view['worker']} has not reported "
                                                                  f"for {silent:.0f} s"}
            out[room_id] = view
        return out

    def thumbnail(self, room_id: str) -> bytes | None:
        return self.redis.hget(self.keys.room(room_id), "thumbnail")

    def broadcast(self, room_id: str) -> dict | None:
        """What was on camera and said, as the room's policy process posted it (None: not yet; asked for now)."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.broadcasts_wanted, {room_id: now + WANTED_FOR_S})
        pipe.zremrangebyscore(self.keys.broadcasts_wanted, "-inf", now)
        pipe.get(self.keys.broadcast(room_id))
        raw = pipe.execute()[-1]
        return json.loads(raw) if raw is not None else None


def post_broadcasts(bus: Any, timeline: Any, transcript: Any) -> int:
    """One round in a policy process: the broadcast of each room an API server wants whose partition this process
    reads (`bus.decides`), expiring `WANTED_FOR_S` after; returns how many were posted."""
    now = time.time()
    wanted = [r.decode() for r in bus.redis.zrangebyscore(bus.keys.broadcasts_wanted, now, "+inf")]
    mine = [room_id for room_id in wanted if bus.decides(room_id)]
    if mine:
        pipe = bus.redis.pipeline(transaction=False)
        for room_id in mine:
            body = {"on_camera": timeline.spans(room_id), "transcript": transcript.lines(room_id)}
            pipe.set(bus.keys.broadcast(room_id), json.dumps(body), px=int(WANTED_FOR_S * 1000))
        pipe.execute()
    return len(mine)


def board_for(system: Any, worker: str | None = None) -> RoomBoard | None:
    """The board a pipeline of `system` posts to (named `worker`, else its bus consumer name); None without Redis."""
    bus, settings = system.bus, system.settings.bus
    if getattr(bus, "redis", None) is None:
        return None
    return RoomBoard(bus.redis, bus.keys, worker or bus.consumer, settings.board_every_s, settings.board_keep_s,
                     settings.board_thumbnail_s or float("inf"))
