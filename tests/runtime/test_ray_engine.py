"""Rooms on Ray workers (a local Ray cluster, real actor processes), their signals on a real Redis, decided in this
process: a worker killed with SIGKILL mid-stream has its room picked up by the other within 10 s (its health on
the room board says where from and how long it was off the air), and the mark that stays on camera across the
kill is one alert; then the operator's moves, a hung worker, and a reloaded registry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livewarden.assets.marks import generate_mark
from livewarden.testing.clips import write_clip
from livewarden.testing.publish import start_publisher
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.testing.scenes import room_frames

from ..conftest import write_registry
from .test_language_pipeline import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.rtmp, pytest.mark.ray]
FPS = 15


@pytest.fixture(params=["local", "ray start --head"])
def ray_address(request, tmp_path_factory):
    """None (the placer starts a local cluster), or the address of one started as a user would, on loopback."""
    ray = pytest.importorskip("ray")
    if request.param == "local":
        yield None
    else:
        from livewarden.testing.private_server import free_port

        ray_bin = str(Path(sys.executable).with_name("ray"))
        port = free_port()
        started = subprocess.run([ray_bin, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                                  "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                                  f"--temp-dir={tmp_path_factory.mktemp('ray')}"],
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        try:
            yield f"127.0.0.1:{port}"
        finally:
            ray.shutdown()
            subprocess.run([ray_bin, "stop", "--force"], capture_output=True, timeout=60)
    ray.shutdown()


def test_a_killed_room_worker_s_room_is_back_on_air_within_10_s_and_its_alert_goes_on(
        ray_address, redis_server, redis_prefix, tmp_path: Path):
    from livewarden.config import Settings
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_policy
    from livewarden.runtime.pipeline import Decider
    from livewarden.runtime.ray_engine import RoomPlacer
    from livewarden.runtime.redis_bus import cluster_status
    from livewarden.runtime.reload import RegistryReload
    from livewarden.runtime.room_board import BoardRooms

    ok, why = RtmpServer.available()
    if not ok:
        pytest.skip(why)
    mark = generate_mark("NOVA", 11)
    for name, seed in (("deals", 9), ("outlet", 5), ("third", 3)):  # the card is up the whole time, loop after loop
        write_clip(tmp_path / f"{name}.mp4", room_frames(mark, seconds=6.0, fps=FPS, mark_on=(0.0, 6.0), seed=seed), FPS)
    with RtmpServer() as server:
        path = write_registry(tmp_path, {
            "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]}],
            "sellers": [{"id": "bargain", "name": "Bargain"}],
            "rooms": [{"id": r, "seller": "bargain", "source": server.url(r)} for r in ("deals", "outlet")],
        }, marks={"nova": ("NOVA", 11)})
        registry = load_registry(path)
        publishers = [start_publisher(tmp_path / f"{r}.mp4", server.url(r), loop=True)
                      for r in ("deals", "outlet", "third")]  # "third": a room the registry gains later
        settings = Settings().with_overrides({
            "bus.url": redis_server.url, "bus.prefix": redis_prefix, "bus.lease_s": 1.0,
            "store.data_dir": tmp_path / "store", "store.index_dir": tmp_path / "index",
            "runtime.realtime": True, "runtime.workers": 1, "detectors.language.enabled": False})
        decisions = build_policy(registry, settings)
        Decider(decisions)
        placer = None
        try:
            placer = RoomPlacer(registry, settings, workers=2, address=ray_address).start()
            assert set(placer.placement) == {"deals", "outlet"} and len(set(placer.placement.values())) == 2
            store = decisions.store
            assert wait_for(lambda: {a.room_id for a in store.alerts()} == {"deals", "outlet"}, 60), store.alerts()
            victim = placer.placement["deals"]
            pid = placer.status[victim]["pid"]
            board = BoardRooms(placer.redis, placer.keys)
            # mid-stream: the room is on the air on its worker's board (it knows when its last frame was)
            assert wait_for(lambda: board.views(["deals"]).get("deals", {}).get("last_frame_wall"), 10)
            hits_before = next(a.hits for a in store.alerts() if a.room_id == "deals")
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()

            def back_on_air():
                heir = placer.placement.get("deals")
                room = placer.status.get(heir, {}).get("rooms", {}).get("deals", {})
                return heir != victim and room.get("analysed", 0) > 0

            assert wait_for(back_on_air, 10), (placer.placement, placer.status)
            back_s = time.monotonic() - killed
            # and its health says so, wherever the API runs: on the heir, moved from the victim, this long off air
            shown = wait_for(lambda: (v := board.views(["deals"]).get("deals", {})).get("last_move", {}).get(
                "off_air_s") is not None and v, 10)
            assert shown and shown["worker"] == placer.placement["deals"] and shown.get("watched", True), (
                json.dumps(board.views(["deals"])), placer.placement, victim)
            assert shown["last_move"]["from"].startswith(victim), shown  # or "worker-1 before its restart"
            assert 0 < shown["last_move"]["off_air_s"] < back_s + 1.5, shown
            assert wait_for(lambda: next(a.hits for a in store.alerts() if a.room_id == "deals") > hits_before + 2, 15)
            alerts = [(a.room_id, a.rule, a.status) for a in store.alerts()]
            assert sorted(alerts) == [("deals", "unauthorized_brand", "open"), ("outlet", "unauthorized_brand", "open")]
            status = cluster_status(redis_server.url, redis_prefix, 16)
            assert status["rebalances"] >= 1 and status["placement"]["deals"] != victim
            assert any(w["dead"] or w["pid"] != pid for w in status["workers"].values())
            print(f"room back on air {back_s:.1f} s after its worker was killed "
                  f"(off the air {shown['last_move']['off_air_s']} s by the board)")
            # by hand, as an operator would: move a room, add a worker, ask for a room that is not there
            env = {**os.environ, "LIVEWARDEN_BUS__PREFIX": redis_prefix}
            cli = [sys.executable, "-m", "livewarden.cli", "cluster"]
            # Ray has restarted the killed worker (empty): there is somewhere to move to
            assert wait_for(lambda: all(not st.get("dead") for st in placer.status.values()), 60), placer.status
            here = placer.placement["outlet"]
            asked = subprocess.run(cli + ["move", "outlet", "--bus", redis_server.url], env=env,
                                   capture_output=True, text=True, timeout=60)
            assert asked.returncode == 0 and "asked the room placer to move outlet" in asked.stdout, asked.stderr
            assert wait_for(lambda: placer.placement["outlet"] != here, 10), (
                placer.redis.get(placer.keys.refused), placer.placement, placer.status)
            subprocess.run(cli + ["add-worker", "--bus", redis_server.url], env=env, check=True, timeout=60,
                           capture_output=True)
            assert wait_for(lambda: len(placer.workers) == 3, 60)
            subprocess.run(cli + ["move", "nowhere", "--bus", redis_server.url], env=env, check=True, timeout=60,
                           capture_output=True)
            refused = wait_for(lambda: placer.redis.get(placer.keys.refused), 10)
            assert refused and b"no room 'nowhere' is placed" in refused
            # a worker that hangs (SIGSTOP) past the check's timeout: its room moves; when it answers again it lets
            # go of the room, which is watched once, on its new worker
            hung = placer.placement["outlet"]
            hung_pid = placer.status[hung]["pid"]
            os.kill(hung_pid, signal.SIGSTOP)
            try:
                assert wait_for(lambda: placer.placement["outlet"] != hung, 15), (placer.placement, placer.status)
            finally:
                os.kill(hung_pid, signal.SIGCONT)

            def watched_once():
                holders = [n for n, st in placer.status.items() if "outlet" in st.get("rooms", {})]
                return holders == [placer.placement["outlet"]]

            assert wait_for(watched_once, 15), (placer.placement, placer.status)
            # the registry reloaded (as POST /registry/reload does): the room it gains is placed and watched, the
            # room it loses stops on its worker, the policy follows
            write_registry(tmp_path, {
                "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]}],
                "sellers": [{"id": "bargain", "name": "Bargain"}],
                "rooms": [{"id": r, "seller": "bargain", "source": server.url(r)} for r in ("deals", "third")],
            }, marks={"nova": ("NOVA", 11)})
            summary = RegistryReload(path, decisions, placer=placer)()
            assert (summary["rooms_added"], summary["rooms_removed"]) == (["third"], ["outlet"]), summary
            assert set(placer.placement) == {"deals", "third"}
            assert wait_for(lambda: "third" in {a.room_id for a in store.alerts()}, 30), placer.status
            assert wait_for(lambda: not any("outlet" in st.get("rooms", {}) for st in placer.status.values()), 10)
            # a worker Ray restarts comes back with the registry it was started with: it is given the reloaded one
            victim = placer.placement["third"]
            pid = placer.status[victim]["pid"]
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda: (st := placer.status[victim]).get("pid") not in (None, pid)
                            and st.get("version") == placer.version == 1, 60), placer.status
            assert wait_for(lambda: next(a.hits for a in store.alerts() if a.room_id == "third") > 3, 20)
        finally:
            if placer is not None:
                placer.stop()
            decisions.bus.close()
            for _, stop in publishers:
                stop.set()
