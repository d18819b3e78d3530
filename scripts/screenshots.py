"""Screenshots of each console page from a real run: the demo's rooms streaming through nginx-rtmp, served
with the console, visited by each role in chromium (Playwright), and a buyer's verification page on a phone. Writes docs/screenshots/*.png.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewarden.testing.browser import launch_chromium, sign_in  # noqa: E402
from livewarden.testing.private_server import free_port  # noqa: E402



def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    work, port = Path(tempfile.mkdtemp(prefix="screenshots-")), free_port()
    demo = subprocess.Popen([sys.executable, "-m", "livewarden.cli", "demo", "--duration", "300", "--serve", str(port),
                             "--workdir", str(work)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    out: list[str] = []
    threading.Thread(target=lambda: out.extend(demo.stdout), daemon=True).start()
    try:
        keys: dict[str, str] = {}
        deadline = time.monotonic() + 180
        while "regulator" not in keys and time.monotonic() < deadline:
            keys = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+)\s+\S+\s+(lw_\S+)$", "".join(out), re.M)}
            time.sleep(0.5)
        if "regulator" not in keys:
            raise SystemExit("the demo did not print its keys:\n" + "".join(out)[-2000:])
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = launch_chromium(p)

            def as_role(role: str):
                return sign_in(browser.new_context(viewport={"width": 1360, "height": 820}).new_page(), base, keys[role])

            def shot(page, name: str) -> None:
                page.wait_for_timeout(600)
                page.screenshot(path=str(args.out / f"{name}.png"))
                print(f"  {args.out / (name + '.png')}")

            mod = as_role("moderator")
            mod.goto(base + "/console/wall")
            mod.wait_for_selector(".tile[data-room=deal-hunter] .badge", timeout=90_000)
            mod.wait_for_selector(".tile[data-room=juice-bar] .badge", timeout=90_000)
            shot(mod, "wall")
            buyer = browser.new_context(viewport={"width": 390, "height": 760}, java_script_enabled=False).new_page()
            buyer.goto(base + "/verify/koru-tags/KR5T9C2ZP8")  # the KORU code two demo rooms hold up
            buyer.wait_for_selector(".v")
            shot(buyer, "verify")
            mod.goto(base + "/console/room?id=deal-hunter")
            mod.wait_for_selector("#axis rect[data-span=nova]")
            mod.wait_for_selector("#lines li[data-flagged=true] mark", timeout=90_000)
            shot(mod, "room")
            mod.goto(base + "/console/queue")
            mod.wait_for_selector("header .who")
            mod.keyboard.press("c")
            mod.wait_for_selector("[data-alert] .evidence img")
            shot(mod, "queue")
            mod.locator("body").click(position={"x": 5, "y": 5})
            mod.keyboard.press("p")  # pause the room, with the pre-filled statement
            mod.wait_for_selector("#last a")
            mod.click("#last a")
            mod.wait_for_selector("ol.steps li[data-what=action]")
            shot(mod, "case")

            brand = as_role("brand")
            brand.wait_for_selector("#alert option[value]:not([value=''])", state="attached")
            brand.select_option("#alert", index=1)
            brand.fill("#explanation", "counterfeit NOVA goods offered under our registered mark")
            brand.fill("#name", "NOVA brand protection")
            brand.fill("#email", "protection@nova.example")
            brand.check("#good-faith")
            brand.click("#notice button[type=submit]")
            brand.wait_for_selector("#list tr[data-notice]")
            shot(brand, "notices")

            regulator = as_role("regulator")
            regulator.wait_for_selector("#chart rect")
            shot(regulator, "early-warning")

            seller = as_role("seller")
            seller.set_input_files("#clip", str(work / "rooms" / "deal-hunter.mp4"))
            seller.click("#upload button[type=submit]")
            seller.wait_for_selector("#findings", timeout=120_000)
            shot(seller, "self-check")

            browser.close()
    finally:
        demo.terminate()
        demo.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
