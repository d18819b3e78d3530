"""Debian's chromium driven by Playwright, for the console's browser tests, its load benchmark and the
README's screenshots (setup installs both; the Playwright browser download cannot run here).

The flags: no sandbox (root in CI), no GPU (none here), and nothing that reaches out to the network or
updates itself. Each caller gives the browser a fresh context, so no cookie leaks between users.
"""

from __future__ import annotations

import shutil
from typing import Any

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium under Playwright, or a RuntimeError that says how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("Debian's chromium is not installed: run scripts/setup.sh (it installs it)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def sign_in(page: Any, base_url: str, key: str) -> Any:
    """The console's login form, filled as a person would; returns once the role's home page shows who it is."""
    page.goto(base_url + "/console/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_selector("header .who")
    return page
