"""Rooms watched elsewhere, shown by an API server that watches none: real `livewarden watch --no-decide`
processes post their room's health to a real Redis (the room board), a real `livewarden serve --no-watch --bus`
shows it on /rooms, /metrics and /rooms/{id}/thumbnail, and the room's page as a real `livewarden policy` posts
it; a watcher killed with SIGKILL and replaced shows the room's move with how long it was off the air, and a
room no one watches any more is shown lost. The console in a real browser shows the same."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from livewarden.assets.marks import generate_mark
from livewarden.testing.browser import sign_in
from livewarden.testing.clips import write_clip
from livewarden.testing.private_server import free_port
from livewarden.testing.scenes import room_frames

from ..conftest import write_registry
from .test_language_pipeline import wait_for

pytestmark = pytest.mark.redis
FPS = 10


def test_an_api_server_shows_rooms_watched_elsewhere_their_moves_and_their_end(redis_server, redis_prefix,
                                                                             browser_context, tmp_path: Path):
    from livewarden.cases import CaseStore
    from livewarden.cases.keys import create_key

    write_clip(tmp_path / "deals.mp4", room_frames(generate_mark("NOVA", 11), seconds=60.0, fps=FPS,
                                                   size=(640, 360), mark_on=(0.0, 60.0), seed=9), FPS)
    registry = write_registry(tmp_path, {
        "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]}],
        "sellers": [{"id": "bargain", "name": "Bargain"}],
        "rooms": [{"id": "deals", "seller": "bargain", "source": str(tmp_path / "deals.mp4"), "platform": "shopA"},
                  {"id": "quiet", "seller": "bargain", "source": str(tmp_path / "quiet.mp4"), "platform": "shopA"}],
    }, marks={"nova": ("NOVA", 11)})
    store = CaseStore.at(tmp_path / "api")
    own = create_key(store.engine, "moderator", "shopA")[1]
    foreign = create_key(store.engine, "moderator", "shopB")[1]
    env = {**os.environ, "LIVEWARDEN_BUS__PREFIX": redis_prefix, "LIVEWARDEN_BUS__BOARD_STALE_S": "3",
           "LIVEWARDEN_DETECTORS__LANGUAGE__ENABLED": "false"}
    run = [sys.executable, "-m", "livewarden.cli"]
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start(args: list[str], log: str) -> subprocess.Popen:
        procs.append(subprocess.Popen(run + args + ["--registry", str(registry), "--bus", redis_server.url],
                                      stdout=open(tmp_path / log, "w"), stderr=subprocess.STDOUT, env=env))
        return procs[-1]

    def watcher(name: str) -> subprocess.Popen:
        return start(["watch", "--room", "deals", "--no-decide", "--duration", "120",
                      "--data-dir", str(tmp_path / name)], f"{name}.log")

    start(["serve", "--no-watch", "--data-dir", str(tmp_path / "api"), "--port", str(port)], "api.log")
    start(["policy", "--data-dir", str(tmp_path / "api")], "policy.log")  # decides the room: its page comes from here
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {own}"}, timeout=10)

    def deals() -> dict:
        try:
            return next(r for r in api.get("/rooms").json()["items"] if r["id"] == "deals")
        except (httpx.HTTPError, KeyError):
            return {}

    try:
        first = watcher("first")
        live = wait_for(lambda: (r := deals()).get("health", {}).get("analysed", 0) > 0 and r, 90)
        assert live, (tmp_path / "api.log").read_text() + (tmp_path / "first.log").read_text()
        assert live["watched"] and live["health"]["state"] == "live" and "last_move" not in live
        assert live["on_camera"] == ["nova"]  # the card is up: what the worker's detectors saw
        worker = live["worker"]
        assert str(first.pid) in worker  # a watcher is named after its host and process
        assert wait_for(lambda: deals().get("thumbnail_at"), 15)
        picture = api.get("/rooms/deals/thumbnail")
        assert picture.status_code == 200 and picture.content[:2] == b"\xff\xd8"  # a JPEG
        quiet = next(r for r in api.get("/rooms").json()["items"] if r["id"] == "quiet")
        assert not quiet["watched"] and "health" not in quiet
        metrics = api.get("/metrics").text
        assert 'livewarden_room_analysed_frames{room="deals"}' in metrics
        told = api.get("/rooms/deals/broadcast")  # asked for: the policy process posts it within a second or two
        assert told.status_code == 404 and "watched on another machine" in told.json()["error"]["reason"]
        page = wait_for(lambda: (r := api.get("/rooms/deals/broadcast")).status_code == 200 and r.json()["alerts"]
                        and r.json(), 20)
        assert page, (tmp_path / "policy.log").read_text()
        assert [s["subject"] for s in page["on_camera"] if s["kind"] == "mark"] == ["nova"], page
        assert [a["rule"] for a in page["alerts"]] == ["unauthorized_brand"]
        shown = httpx.get(f"http://127.0.0.1:{port}/rooms", headers={"Authorization": f"Bearer {foreign}"}).json()
        assert shown["items"] == []  # another platform's moderator sees none of shopA's rooms

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=5)
        killed = time.time()
        second = watcher("second")
        moved = wait_for(lambda: (r := deals()).get("last_move", {}).get("off_air_s") is not None and r, 90)
        assert moved, (tmp_path / "second.log").read_text()
        assert moved["worker"] != worker and str(second.pid) in moved["worker"]
        assert moved["last_move"]["from"] == worker
        # off the air from the killed worker's last frame (posted at most a second before the kill) to the new
        # worker's first: about the time the second watcher took to start (its first post, a second apart)
        off_air, started = moved["last_move"]["off_air_s"], moved["last_move"]["at"] - killed
        assert started - 1.5 < off_air < time.time() - killed + 2.5, (moved, started)
        print(f"off the air {off_air:.1f} s after its watcher was killed (the next posted it {started:.1f} s after)")

        # the console, as a moderator sees it: the tile says where the room is and how long it was off the air,
        # and the room's page shows what was on camera (posted by the policy process)
        page = sign_in(browser_context.new_page(), f"http://127.0.0.1:{port}", own)
        page.goto(f"http://127.0.0.1:{port}/console/wall")
        page.wait_for_function("(document.querySelector('.tile[data-room=deals] .worker') || {}).textContent"
                               "?.includes('moved from')")
        tile = page.inner_text(".tile[data-room=deals]")
        assert f"on {moved['worker']} · moved from {worker}" in tile and "s off the air" in tile, tile
        assert page.inner_text(".tile[data-room=deals] .health").startswith("live"), tile
        page.click(".tile[data-room=deals]")
        page.wait_for_selector("#axis rect[data-span=nova]", timeout=15_000)

        second.send_signal(signal.SIGKILL)  # no one watches the room any more: lost, after bus.board_stale_s
        second.wait(timeout=5)
        lost = wait_for(lambda: (r := deals()) and not r["watched"] and r, 10)
        assert lost and lost["health"]["state"] == "lost" and moved["worker"] in lost["health"]["last_error"], lost
        assert api.get("/health").json()["rooms_watched"] == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
