"""Rooms on a Ray cluster: room-worker actors watch rooms, a placer decides which worker watches which room.

- **`RoomWorker`** (a Ray actor, restarted by Ray when its process dies): a pipeline that only publishes, so its
  rooms' signals go to the Redis bus (`decide=False`), and the detector state of the rooms it holds. Rooms come
  and go while it runs (`add`, `remove`).
- **`RoomPlacer`** (in the process that runs it, e.g. `livewarden serve --engine ray`): puts every room on the
  worker with the least load (the fewest rooms, then the least CPU as measured; not a hash), checks
  every worker each `check_s`, and when one does not answer moves its rooms to the others at once. A worker
  that Ray restarted comes back empty and gets rooms again by the next rebalance: rooms move from the busiest
  worker while it has two more than the idlest. A room that moves is off the air for a few seconds (its new
  worker connects to the stream), shown in its health (`last_move` on the room board, runtime/room_board.py);
  its detector state is rebuilt there (each detector's `open_room`), and its open alerts go on (the store
  continues an episode within the rule's close_after_s).
- **Asked by hand** (`livewarden cluster move ROOM [--to WORKER]`, `cluster add-worker`, through a Redis list
  the placer reads at each check): a room moves and stays there (the rebalance leaves it), or a new worker
  starts and rooms move to it.
- **A reloaded registry** (`POST /registry/reload`) goes to every worker, which rebuilds its detectors when
  their material changed and restarts the rooms it must; then the placer drops the rooms gone from it and places
  the new ones. A worker Ray restarts comes back with the registry it was first given: the check that finds it
  back gives it the current one before its rooms.
- **What is where** is written to Redis (`<prefix>placement`: room -> worker; `<prefix>workers`: worker -> its
  process, rooms and load; `<prefix>rebalances`), which `livewarden cluster status` shows.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from livewarden.runtime.redis_bus import Keys

log = logging.getLogger(__name__)


class RoomWorker:
    """One worker process's rooms (becomes a Ray actor in `RoomPlacer`)."""

    def __init__(self, registry: Any, settings: Any, name: str, version: int = 0) -> None:
        from livewarden.runtime.build import build_system
        from livewarden.runtime.reload import RegistryReload

        self.registry, self.version = registry, version  # the placer's registry, and which of its versions
        self.system = build_system(registry, settings)
        self.pipeline = self.system.pipeline(rooms=[], decide=False, name=name).start()
        self.reload = RegistryReload(None, self.system, self.pipeline, start_new=False)
        self._cpu = (time.process_time(), time.monotonic())

    def add(self, room_id: str) -> None:
        room = self.registry.room(room_id)
        if room is None:
            raise ValueError(f"no room {room_id!r} in the registry")
        if room_id not in self.pipeline.rooms:
            self.pipeline.add_room(room)

    def remove(self, room_id: str) -> None:
        self.pipeline.remove_room(room_id)

    def apply_registry(self, registry: Any, version: int) -> None:
        """The placer's new registry: detectors rebuilt when their material changed, rooms gone from it stopped,
        rooms whose source changed (or all, after a rebuild) restarted; new rooms wait for the placer."""
        self.reload.apply(registry)
        self.registry, self.version = registry, version

    def status(self) -> dict[str, Any]:
        """Its process, its rooms with their health, and its load: CPU seconds per second since the last call."""
        cpu, wall = time.process_time(), time.monotonic()
        load = (cpu - self._cpu[0]) / max(1e-3, wall - self._cpu[1])
        self._cpu = (cpu, wall)
        rooms = {room_id: {"state": status.health.state, "analysed": status.analysed,
                           "last_stream_time": round(status.last_stream_time, 2)}
                 for room_id, status in list(self.pipeline.rooms.items())}
        return {"pid": os.getpid(), "rooms": rooms, "load": round(load, 3), "version": self.version}

    def stop(self) -> None:
        self.pipeline.stop()
        self.system.bus.close()


class RoomPlacer:
    """Starts `workers` RoomWorker actors on the Ray cluster at `address` (None: a local one) and keeps every
    room of the registry on one of them."""

    def __init__(self, registry: Any, settings: Any, workers: int = 2, address: str | None = None,
                 check_s: float = 1.0, call_timeout_s: float = 3.0) -> None:
        import ray
        import redis

        if settings.bus.url is None:
            raise ValueError("rooms on Ray publish their signals to Redis: set bus.url (--bus redis://...)")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                     namespace="livewarden", ignore_reinit_error=True,
                     **({"num_cpus": os.cpu_count() or 1, "_node_ip_address": "127.0.0.1"} if address is None
                        else {}))  # a local cluster stays on loopback
        self.registry, self.settings = registry, settings
        self.check_s, self.call_timeout_s = check_s, call_timeout_s
        self.redis = redis.Redis.from_url(settings.bus.url)
        self.prefix = settings.bus.prefix
        self.keys = Keys(self.prefix)
        # Ray restarts a worker whose process died; it comes back without rooms (its __init__ runs again)
        self._actor = ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=0)(RoomWorker)
        self.workers: dict[str, Any] = {}
        self.placement: dict[str, str] = {}  # room -> worker name
        self.pinned: set[str] = set()  # rooms moved by hand (`cluster move`): not moved again to balance
        self.status: dict[str, dict[str, Any]] = {}  # worker name -> its last status (or {"dead": True})
        self.rebalances = 0
        self.version = 0  # of the registry: each reload (`apply_registry`) counts one
        self._lock = threading.Lock()  # a check and a reload do not interleave
        self._count = 0
        self._stop = threading.Event()
        for _ in range(workers):
            self.add_worker()
        self._thread: threading.Thread | None = None

    # -- the cluster's shape
    def add_worker(self) -> str:
        """A new worker; rooms move to it at the next check."""
        self._count += 1
        name = f"worker-{self._count}"
        actor = self._actor.options(name=f"{self.prefix}{name}").remote(self.registry, self.settings, name,
                                                                         self.version)
        self.status[name] = self.ray.get(actor.status.remote(), timeout=120)  # built before it gets rooms
        self.workers[name] = actor
        return name

    def start(self) -> "RoomPlacer":
        for room in self.registry.rooms:
            self._place(room.id)
        self._publish()
        self._thread = threading.Thread(target=self._watch_forever, name="room-placer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.check_s + self.call_timeout_s + 5)
        for actor in list(self.workers.values()):
            try:
                self.ray.get(actor.stop.remote(), timeout=15)
            except Exception:
                pass
            self.ray.kill(actor, no_restart=True)
        self.redis.delete(self.keys.placement, self.keys.workers)
        self.redis.close()

    # -- placing
    def rooms_of(self, name: str) -> list[str]:
        return sorted(r for r, w in self.placement.items() if w == name)

    def _load(self, name: str) -> tuple[int, float]:
        """Fewest rooms first; of workers with as many, the one using the least CPU."""
        return (len(self.rooms_of(name)), round(self.status.get(name, {}).get("load", 0.0), 1))

    def _add(self, name: str, room_id: str) -> None:
        self.ray.get(self.workers[name].add.remote(room_id), timeout=self.call_timeout_s * 3)

    def _shift(self, room_id: str, source: str, to: str) -> None:
        """Stop the room on `source`, start it on `to` (off the air meanwhile: a few seconds)."""
        self.ray.get(self.workers[source].remove.remote(room_id), timeout=self.call_timeout_s * 5)
        self._add(to, room_id)
        self.placement[room_id] = to
        self.rebalances += 1
        log.info("room %s moved from %s to %s", room_id, source, to)

    def _alive(self) -> list[str]:
        return [n for n in self.workers if not self.status.get(n, {}).get("dead")]

    def _place(self, room_id: str, avoid: str | None = None) -> str | None:
        candidates = [n for n in self._alive() if n != avoid]
        if not candidates:
            log.error("room %s has no worker to go to", room_id)
            self.placement.pop(room_id, None)
            return None
        name = min(candidates, key=self._load)
        self._add(name, room_id)
        self.placement[room_id] = name
        return name

    def _watch_forever(self) -> None:
        while not self._stop.wait(self.check_s):
            try:
                with self._lock:
                    self.check()
            except Exception:
                log.exception("room placer: check failed")

    def apply_registry(self, registry: Any) -> dict[str, list[str]]:
        """A reloaded registry (`POST /registry/reload`): every live worker applies it to its detectors and rooms,
        then rooms gone from it are dropped and new ones placed. A worker that was down gets it at the check that
        finds it back (its version is behind)."""
        from livewarden.runtime.reload import room_changes

        with self._lock:
            changes = room_changes(self.registry, registry)
            self.version += 1
            self.registry = registry
            for name in self._alive():
                self.ray.get(self.workers[name].apply_registry.remote(registry, self.version), timeout=600)
                self.status[name]["version"] = self.version
            for room_id in changes["rooms_removed"]:
                self.placement.pop(room_id, None)
                self.pinned.discard(room_id)
            for room_id in changes["rooms_added"]:
                self._place(room_id)
            self._publish()
        return changes

    def _requests(self) -> None:
        """What `livewarden cluster move` and `cluster add-worker` asked for (a Redis list), in order."""
        while (raw := self.redis.lpop(self.keys.requests)) is not None:
            request = json.loads(raw)
            try:
                if request.get("do") == "add-worker":
                    log.info("added %s", self.add_worker())
                elif request.get("do") == "move":
                    self.move(request["room"], request.get("to"))
            except Exception as exc:  # a bad request is told, and the placer goes on
                log.warning("placer request %s refused: %s", request, exc)
                self.redis.set(self.keys.refused, json.dumps({**request, "why": str(exc)}), ex=3600)

    def move(self, room_id: str, to: str | None = None) -> str:
        """Move a room to worker `to` (default: the least loaded other one); returns where it went."""
        if room_id not in self.placement:
            raise ValueError(f"no room {room_id!r} is placed; placed: {', '.join(sorted(self.placement))}")
        source = self.placement[room_id]
        targets = [n for n in self._alive() if n != source]
        if to is not None and to not in targets:
            raise ValueError(f"cannot move {room_id} to {to!r}: live workers other than {source}: "
                             f"{', '.join(targets) or 'none'}")
        to = to or (min(targets, key=self._load) if targets else None)
        if to is None:
            raise ValueError(f"no other live worker to move {room_id} to")
        self._shift(room_id, source, to)
        self.pinned.add(room_id)  # moved by hand: the rebalance leaves it where it was put
        return to

    def check(self) -> None:
        """Ask every worker how it is; move the rooms of one that does not answer; rebalance; tell Redis."""
        self._requests()
        names, took_over = list(self.workers), set()
        calls = {n: self.workers[n].status.remote() for n in names}
        for name in names:
            try:
                self.status[name] = self.ray.get(calls[name], timeout=self.call_timeout_s)
            except Exception as exc:  # died (Ray restarts it), or hung
                was_alive = not self.status.get(name, {}).get("dead")
                self.status[name] = {"dead": True, "error": f"{type(exc).__name__}"}
                if was_alive:
                    orphans = self.rooms_of(name)
                    log.warning("room worker %s did not answer (%s): moving its rooms %s", name,
                                type(exc).__name__, orphans)
                    for room_id in orphans:
                        self.pinned.discard(room_id)  # its worker is gone: wherever it goes now is not by hand
                        took_over.add(self._place(room_id, avoid=name))
                    self.rebalances += bool(orphans)
        # a worker that came back (restarted by Ray) holds no rooms: what the placement says it has, it gets back;
        # one that only did not answer for a while (overloaded) lets go of the rooms moved away meanwhile, or they
        # would be watched twice
        for name in names:
            st = self.status.get(name, {})
            if st.get("dead") or name in took_over:  # a worker given rooms above: its status predates them
                continue
            if st.get("version", 0) != self.version:  # restarted by Ray with the registry it was first given
                self.ray.get(self.workers[name].apply_registry.remote(self.registry, self.version), timeout=600)
                st["version"] = self.version
            placed, holds = set(self.rooms_of(name)), set(st.get("rooms", {}))
            for room_id in sorted(placed - holds):
                self._add(name, room_id)
            for room_id in sorted(holds - placed):
                log.warning("room worker %s answers again: it lets go of room %s, moved meanwhile", name, room_id)
                self.ray.get(self.workers[name].remove.remote(room_id), timeout=self.call_timeout_s * 5)
        self._rebalance()
        self._publish()

    def _rebalance(self) -> None:
        alive = self._alive()
        if len(alive) < 2:
            return
        while True:
            counts = {n: len(self.rooms_of(n)) for n in alive}
            busiest, idlest = max(alive, key=counts.get), min(alive, key=counts.get)
            movable = [r for r in self.rooms_of(busiest) if r not in self.pinned]
            if counts[busiest] - counts[idlest] < 2 or not movable:
                return
            self._shift(movable[-1], busiest, idlest)

    def _publish(self) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.keys.placement, self.keys.workers)
        if self.placement:
            pipe.hset(self.keys.placement, mapping=self.placement)
        for name in self.workers:
            st = self.status.get(name, {})
            pipe.hset(self.keys.workers, name, json.dumps(
                {"pid": st.get("pid"), "dead": bool(st.get("dead")), "load": st.get("load"),
                 "rooms": self.rooms_of(name)}))
        pipe.set(self.keys.rebalances, self.rebalances)
        pipe.execute()
