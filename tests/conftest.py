"""Shared fixtures: small generated registries (no trademarks, no downloads), and where the reference data is."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import cv2
import pytest
import yaml

from livewarden.assets.marks import generate_mark

# ../shared/data (or $LIVEWARDEN_DATA), read in place by the tests that use real recordings; they skip without it
DATA = Path(os.environ.get("LIVEWARDEN_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data").resolve()


def write_registry(directory: Path, data: dict, marks: dict[str, tuple[str, int]] | None = None) -> Path:
    """Write generated mark images and a registry.yaml into `directory`; return its path."""
    for name, (text, seed) in (marks or {}).items():
        (directory / "marks").mkdir(exist_ok=True)
        cv2.imwrite(str(directory / "marks" / f"{name}.png"), generate_mark(text, seed))
    path = directory / "registry.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def two_brand_registry(tmp_path: Path) -> Path:
    """Two brands, an authorized and an unauthorized seller, one room each."""
    return write_registry(
        tmp_path,
        {
            "brands": [
                {"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]},
                {"id": "koru", "name": "Koru", "marks": ["marks/koru.png"]},
            ],
            "sellers": [
                {"id": "nova-store", "name": "Nova Store", "authorized_brands": ["nova"]},
                {"id": "bargain", "name": "Bargain", "authorized_brands": ["koru"]},
            ],
            "rooms": [
                {"id": "official", "seller": "nova-store", "source": "official.mp4"},
                {"id": "deals", "seller": "bargain", "source": "deals.mp4"},
            ],
        },
        marks={"nova": ("NOVA", 11), "koru": ("KORU", 23)},
    )


# PostgreSQL: one real server per session (the Debian binaries in a temp dir), a new database per test
def _running_postgres():
    """A PostgreSQL server running until the fixture ends; the test is skipped, saying why, without one."""
    from livewarden.testing.postgres import PostgresServer

    ok, why = PostgresServer.available()
    if not ok:
        pytest.skip(why)
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session."""
    yield from _running_postgres()


_databases = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """The URL of a new, empty database on the session's server (named after the test, for its log)."""
    name = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())
    return postgres_server.new_database(f"t{next(_databases)}_{name}"[:63])


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of the test's own (one it stops and starts again)."""
    yield from _running_postgres()


# Redis: one real server per session (Debian's redis-server in a temp dir); each test uses keys of its own prefix
@pytest.fixture(scope="session")
def redis_server():
    """One Redis server (append-only file on) for the session; the tests that need it skip, saying why, without it."""
    from livewarden.testing.redis_server import RedisServer

    ok, why = RedisServer.available()
    if not ok:
        pytest.skip(why)
    with RedisServer() as server:
        yield server


_prefixes = itertools.count()


@pytest.fixture
def redis_prefix(redis_server) -> str:
    """A key prefix no other test uses (the streams, leases and marks of one test)."""
    return f"t{next(_prefixes)}:"


# a real browser for the console (Playwright driving Debian chromium), here for the tests of every folder
@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    from livewarden.testing.browser import launch_chromium

    with sync_playwright() as p:
        try:
            browser = launch_chromium(p)
        except RuntimeError as exc:
            pytest.fail(str(exc))
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium):
    """A fresh profile (no cookies from another test); a script error on any page fails the test."""
    context = chromium.new_context()
    errors: list[str] = []
    context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
    yield context
    context.close()
    assert not errors, "script errors in the console:\n" + "\n".join(errors)
