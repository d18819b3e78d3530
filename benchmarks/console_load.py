"""console_load: the web console in a real browser over a big platform: the wall with 200 rooms, the queue
with 10,000 open alerts; time to first render and from an alert's commit to its badge on the wall.

    python benchmarks/console_load.py [--rooms 200] [--alerts 10000] [--updates 10]

A SQLite store gets `--alerts` open alerts over `--rooms` rooms of one platform, recorded the way the
pipeline records them (a sighting through the `Policy`, `store.record`, the `Platform` filing each into a
case and writing its event), and the API and console (`create_app`, uvicorn, in a thread) serve them, with
every room watched (a pipeline that is not started, each room with a picture, as the wall shows it).
Playwright drives Debian's chromium (as the tests do): a moderator signs in, then
  - the wall: from navigation to every tile drawn with its badge (all open alerts counted);
  - live updates: alerts committed one at a time while the wall is open; commit -> its badge changed;
  - the queue: from navigation to the page ready, and from the claim key to the case's alerts shown.
Goal (issue 14): first render <= 1 s, an SSE update <= 0.5 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from livewarden.api.app import create_app  # noqa: E402
from livewarden.cases import CaseStore  # noqa: E402
from livewarden.cases.keys import create_key  # noqa: E402
from livewarden.cases.platform import Platform  # noqa: E402
from livewarden.cases.scope import alert_scope  # noqa: E402
from livewarden.model import Signal  # noqa: E402
from livewarden.policy.rules import Rule  # noqa: E402
from livewarden.registry.schema import Brand, Registry, Room, Seller  # noqa: E402
from livewarden.runtime.build import System  # noqa: E402
from livewarden.runtime.pipeline import thumbnail_jpeg  # noqa: E402
from livewarden.testing.browser import launch_chromium, sign_in  # noqa: E402
from livewarden.testing.private_server import free_port  # noqa: E402

FIRST_RENDER_GOAL_S, UPDATE_GOAL_S = 1.0, 0.5
RULES = [Rule(id="unauthorized_brand", signal="mark", when="seller_not_authorized", hits=1, severity="red_flag",
              close_after_s=1e9)]


def world(n_rooms: int, n_brands: int) -> Registry:
    brands = [Brand(id=f"brand{i:03d}", name=f"Brand {i}") for i in range(n_brands)]
    sellers = [Seller(id=f"seller{i:03d}", name=f"Seller {i}") for i in range(max(1, n_rooms // 2))]
    rooms = [Room(id=f"room{i:03d}", seller=sellers[i % len(sellers)].id, source=f"rtmp://127.0.0.1/live/room{i:03d}",
                  title=f"Live deals {i}", platform="shop") for i in range(n_rooms)]
    return Registry(brands=brands, sellers=sellers, rooms=rooms)


def record(system: System, room: str, brand: str) -> float:
    """One sighting through the policy and the store, as the pipeline records it; the commit's wall time."""
    signal = system.policy.resolve(Signal(room, 1.0, "mark", brand, 0.95, "bench", {}, wall_time=time.time()))
    for update in system.policy.observe(signal):
        system.store.record(update)
    return time.time()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--updates", type=int, default=10, help="alerts committed while the wall is open")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    import uvicorn

    n_brands = -(-args.alerts // args.rooms) + 1
    registry = world(args.rooms, n_brands)
    tmp = Path(tempfile.mkdtemp(prefix="console-load-"))
    try:
        store = CaseStore.at(tmp / "data")
        store.scope = alert_scope(registry)
        platform = Platform(store, rules=RULES)
        system = System.of(registry, [], RULES, store=store, data_dir=tmp / "system")
        started = time.perf_counter()
        for i in range(args.alerts):
            record(system, registry.rooms[i % args.rooms].id, registry.brands[i // args.rooms].id)
        print(f"console_load: {args.alerts:,} open alerts over {args.rooms} rooms recorded in "
              f"{time.perf_counter() - started:.1f} s (SQLite)")
        pipeline = system.pipeline()  # every room watched; never started (no video), each with a picture
        for i, status in enumerate(pipeline.rooms.values()):
            status.thumbnail = thumbnail_jpeg(np.full((360, 640, 3), 40 + i % 150, np.uint8))
            status.thumbnail_at = time.time()
        app = create_app(platform, registry, pipeline=pipeline)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base, key = f"http://127.0.0.1:{port}", create_key(store.engine, "moderator", "shop")[1]

        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = sign_in(browser.new_context(viewport={"width": 1600, "height": 1000}).new_page(), base, key)

            walls = []
            for _ in range(3):
                page.goto(base + "/console/wall")
                page.wait_for_function(f"""() => document.querySelectorAll('.tile').length === {args.rooms} &&
                    document.getElementById('count').textContent.includes('{args.alerts} open alerts')""",
                                       polling="raf", timeout=60_000)
                walls.append(page.evaluate("performance.now()") / 1000)
            page.evaluate("""() => { window.changed = {};
                new MutationObserver(() => { const now = Date.now() / 1000;
                    for (const b of document.querySelectorAll('.tile .badge'))
                        window.changed[b.closest('.tile').dataset.room + '/' + b.textContent] ??= now; })
                  .observe(document.getElementById('wall'), {childList: true, subtree: true, characterData: true}); }""")
            delays = []
            for i in range(args.updates):
                room = registry.rooms[(i * 37) % args.rooms].id
                count = int(page.inner_text(f".tile[data-room={room}] .badge"))
                committed = record(system, room, f"brand{n_brands - 1:03d}" if i < args.rooms else "x")
                page.wait_for_function(f"window.changed['{room}/{count + 1}'] !== undefined", polling="raf")
                delays.append(page.evaluate(f"window.changed['{room}/{count + 1}']") - committed)
                time.sleep(0.3)

            page.goto(base + "/console/queue")
            page.wait_for_selector("header .who")
            queue_ready = page.evaluate("performance.now()") / 1000
            claims = []
            for _ in range(5):
                t = time.perf_counter()
                page.keyboard.press("c")
                page.wait_for_function("document.querySelector('[data-alert]') && "
                                       "document.getElementById('status').textContent.includes('is yours')",
                                       polling="raf")
                claims.append(time.perf_counter() - t)
                page.keyboard.press("r")
                page.wait_for_function("!document.querySelector('[data-alert]')", polling="raf")
            browser.close()
        server.should_exit = True

        first = statistics.median(walls)
        print(f"  wall, {args.rooms} tiles and {args.alerts:,} open alerts counted: first render "
              f"{' / '.join(f'{w:.2f}' for w in walls)} s (median {first:.2f} s; goal {FIRST_RENDER_GOAL_S} s)")
        print(f"  live update, commit -> badge changed, {len(delays)} alerts: median {statistics.median(delays):.3f} s, "
              f"max {max(delays):.3f} s (goal {UPDATE_GOAL_S} s)")
        print(f"  queue: page ready {queue_ready:.2f} s; claim -> case shown median "
              f"{statistics.median(claims):.3f} s, max {max(claims):.3f} s")
        ok = first <= FIRST_RENDER_GOAL_S and max(delays) <= UPDATE_GOAL_S and queue_ready <= FIRST_RENDER_GOAL_S
        print(f"verdict: {'PASS' if ok else 'FAIL'} (first render <= {FIRST_RENDER_GOAL_S} s, every update <= "
              f"{UPDATE_GOAL_S} s)")
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
