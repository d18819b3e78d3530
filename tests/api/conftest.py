"""A served platform for the API tests: a real SQLite store, alerts recorded through the policy, a real
uvicorn server on a free loopback port, and one key per role for an own and a foreign tenant."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn

from livewarden.api.app import create_app
from livewarden.cases import CaseStore, migrate
from livewarden.cases.keys import create_key
from livewarden.cases.platform import Platform
from livewarden.cases.scope import alert_scope
from livewarden.model import Frame, Signal
from livewarden.policy import Policy
from livewarden.policy.rules import Rule
from livewarden.detectors.marks import MarksDetector
from livewarden.registry import load_registry
from livewarden.registry.issued import IssuedCodes
from livewarden.runtime.build import System
from livewarden.runtime.reload import RegistryReload
from livewarden.runtime.scan_jobs import ScanJobs
from livewarden.testing.clips import write_clip
from livewarden.testing.private_server import free_port
from tests.conftest import write_registry

# role -> (own tenant, foreign tenant): the own one sees the alerts below, the foreign one sees none of them
TENANTS = {"admin": ("shopA", "shopB"), "moderator": ("shopA", "shopB"), "regulator": ("shopA", "shopB"),
           "brand": ("nova", "koru"), "person": ("ada", "bob"), "seller": ("bargain", "other")}
POLY = [[300, 100], [450, 100], [450, 240], [300, 240]]
RULES = [Rule(id="unauthorized_brand", signal="mark", when="seller_not_authorized", hits=1, severity="red_flag",
              close_after_s=600),
         Rule(id="impersonation", signal="face", when="person_not_authorized", hits=1, severity="red_flag",
              close_after_s=600)]


def world_registry(directory: Path) -> Path:
    for person, shade in (("ada", 120), ("bob", 160)):  # reference photos the console shows beside evidence
        cv2.imwrite(str(directory / f"{person}.jpg"), np.full((96, 96, 3), shade, np.uint8))
    return write_registry(directory, {
        "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]},
                   {"id": "koru", "name": "Koru", "marks": ["marks/koru.png"]}],
        "persons": [{"id": "ada", "name": "Ada", "photos": ["ada.jpg"]},
                    {"id": "bob", "name": "Bob", "photos": ["bob.jpg"]}],
        "sellers": [{"id": "bargain", "name": "Bargain", "authorized_brands": ["koru"]},
                    {"id": "other", "name": "Other"}],
        "rooms": [{"id": "deals", "seller": "bargain", "source": "deals.mp4", "platform": "shopA"},
                  {"id": "market", "seller": "other", "source": "market.mp4", "platform": "shopB"}],
        "code_schemes": [{"id": f"{b}-tags", "brand": b, "kind": "url", "template": f"https://{b}.example/{{serial}}"}
                         for b in ("nova", "koru")],
    }, marks={"nova": ("NOVA", 11), "koru": ("KORU", 23)})


@dataclass
class Served:
    url: str
    platform: Platform
    store: CaseStore
    policy: Policy
    app: object
    clip: bytes = b""  # a clip to upload (tests that need one set it)
    keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (role, tenant) -> token

    def client(self, role: str | None = None, tenant: str | None = None) -> httpx.Client:
        headers = {} if role is None else {"Authorization": f"Bearer {self.keys[(role, tenant)]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def see(self, room: str, kind: str, subject: str, t: float = 0.0, **evidence) -> int:
        """Record what a detector saw through the policy and the store; the alert id (opened or updated)."""
        image = np.full((360, 640, 3), 90, np.uint8)
        image[100:240, 300:450] = (0, 200, 255)
        frame = Frame(room, t, image)
        signal = self.policy.resolve(Signal(room, t, kind, subject, 0.95, "test", {"polygon": POLY, **evidence},
                                            frame=frame, wall_time=time.time()))
        [alert] = [self.store.record(u) for u in self.policy.observe(signal)] if signal else [None]
        return alert.id if alert else 0



def serve(tmp: Path, rules: list[Rule] = RULES, url: str | None = None, verify_limit: str = "1000/minute"):
    """The world served from a SQLite store under `tmp`, or from the (empty) PostgreSQL database at `url`."""
    path = world_registry(tmp)
    registry = load_registry(path, check_images=False)
    if url is None:
        store = CaseStore.at(tmp / "data")
    else:
        migrate.upgrade(url)
        store = CaseStore(url, tmp / "data" / "evidence")
    store.scope = alert_scope(registry)
    platform = Platform(store, rules=rules)
    scanner = System.of(registry, [MarksDetector.from_registry(registry)], rules, data_dir=tmp / "scanner")
    scans = ScanJobs(scanner, tmp / "scans", max_seconds=30, max_upload_bytes=2 << 20)
    reload = RegistryReload(path, scanner, check_images=False)  # the scanner's system follows the file
    pipeline = scanner.pipeline()  # the rooms as a server watches them (never started: no video is read)
    app = create_app(platform, registry, pipeline=pipeline, scans=scans, reload=reload,
                     codes=IssuedCodes(tmp / "data" / "codes.db"), verify_limit=verify_limit)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    served = Served(f"http://127.0.0.1:{port}", platform, store, Policy(registry, rules), app)
    for role, tenants in TENANTS.items():
        for tenant in tenants:
            served.keys[(role, tenant)] = create_key(store.engine, role, tenant)[1]
    return served, server, thread


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    served, server, thread = serve(tmp_path_factory.mktemp("served"))
    yield served
    server.should_exit = True
    thread.join(10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request, tmp_path):
    """A served platform of its own (for tests that change its state), on SQLite and on PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    served, server, thread = serve(tmp_path, url=url)
    yield served
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory) -> bytes:
    """Two seconds of a plain 320x180 picture: a clip a seller uploads to check."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_clip(path, (np.full((180, 320, 3), 60 + i, np.uint8) for i in range(20)), 10)
    return path.read_bytes()
