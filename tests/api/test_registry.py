"""The registry over the API: each role's view of it, and a reload that applies a changed file to a running
server (rooms added and removed in the pipeline, authorizations in the policy), or changes nothing when the
file has a problem."""

from __future__ import annotations

import time

import numpy as np
import yaml

from livewarden.model import Frame, Signal
from livewarden.runtime.build import System
from livewarden.runtime.reload import RegistryReload
from tests.api.conftest import POLY, RULES, serve


def test_each_role_sees_its_part_of_the_registry(served):
    views = {}
    for role, tenant in [("admin", "shopA"), ("regulator", "shopB"), ("brand", "nova"), ("person", "ada"),
                         ("seller", "bargain")]:
        with served.client(role, tenant) as client:
            response = client.get("/registry")
            assert response.status_code == 200, response.text
            views[role] = response.json()
    ids = {role: {k: [x["id"] for x in v[k]] for k in ("brands", "persons", "sellers", "rooms")}
           for role, v in views.items()}
    assert ids["admin"]["rooms"] == ["deals"] and ids["admin"]["sellers"] == ["bargain"]
    assert ids["admin"]["brands"] == ["nova", "koru"]  # the reference catalog is every platform's
    assert ids["regulator"]["rooms"] == ["market"]
    assert ids["brand"] == {"brands": ["nova"], "persons": [], "sellers": [], "rooms": []}
    assert ids["person"] == {"brands": [], "persons": ["ada"], "sellers": [], "rooms": []}
    assert ids["seller"]["rooms"] == ["deals"] and ids["seller"]["sellers"] == ["bargain"]
    assert views["admin"]["brands"][0]["marks"] == ["nova.png"]  # named, not located on the server
    assert len(views["admin"]["sha256"]) == 64


def _mark_alerts(system, room: str) -> list:
    """What the policy decides for a NOVA mark seen in `room` now."""
    frame = Frame(room, 0.0, np.full((360, 640, 3), 90, np.uint8))
    signal = system.policy.resolve(Signal(room, 0.0, "mark", "nova", 0.95, "test", {"polygon": POLY},
                                          frame=frame, wall_time=time.time()))
    return list(system.policy.observe(signal)) if signal else []


def test_a_reload_applies_the_changed_file_and_a_bad_file_changes_nothing(tmp_path):
    served, server, thread = serve(tmp_path)
    try:
        path = tmp_path / "registry.yaml"
        with served.client("admin", "shopA") as admin:
            before = admin.get("/registry").json()
            data = yaml.safe_load(path.read_text())
            data["sellers"][0]["authorized_brands"] = ["nova"]  # bargain may now sell nova
            data["rooms"].append({"id": "outlet", "seller": "bargain", "source": "outlet.mp4", "platform": "shopA"})
            path.write_text(yaml.safe_dump(data, sort_keys=False))
            response = admin.post("/registry/reload")
            assert response.status_code == 200, response.text
            summary = response.json()
            assert summary["rooms_added"] == ["outlet"] and summary["rooms_removed"] == []
            assert summary["detectors_rebuilt"] is False and summary["sha256"] != before["sha256"]
            after = admin.get("/registry").json()
            assert [r["id"] for r in after["rooms"]] == ["deals", "outlet"]
            assert after["sellers"][0]["authorized_brands"] == ["nova"]
            [entry] = [e for e in served.platform.store.audit_entries() if e.action == "registry_reloaded"]
            assert entry.detail["rooms_added"] == ["outlet"] and entry.actor.startswith("admin")
            assert admin.get("/audit/verify").json()["verified"] is True

            path.write_text(path.read_text().replace("seller: bargain", "seler: bargain", 1))
            bad = admin.post("/registry/reload")
            assert bad.status_code == 409, bad.text
            problems = bad.json()["error"]["fields"]
            assert any(f["field"].startswith(str(path) + ":") for f in problems), problems
            assert admin.get("/registry").json()["sha256"] == after["sha256"]  # nothing changed
        with served.client("seller", "bargain") as seller:
            assert [r["id"] for r in seller.get("/registry").json()["rooms"]] == ["deals", "outlet"]
        with served.client("moderator", "shopA") as moderator:
            assert moderator.post("/registry/reload").status_code == 403
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_reload_starts_and_stops_rooms_and_the_policy_follows(tmp_path):
    from livewarden.registry import load_registry
    from tests.api.conftest import world_registry

    path = world_registry(tmp_path)
    system = System.of(load_registry(path, check_images=False), [], RULES, data_dir=tmp_path / "data")
    pipeline = system.pipeline()  # not started: rooms are registered, no video is read
    assert set(pipeline.rooms) == {"deals", "market"}
    assert [u.finding.rule for u in _mark_alerts(system, "deals")] == ["unauthorized_brand"]

    data = yaml.safe_load(path.read_text())
    data["sellers"][0]["authorized_brands"] = ["nova"]
    data["rooms"] = [r for r in data["rooms"] if r["id"] != "market"]
    data["rooms"][0]["source"] = "deals-2.mp4"
    data["rooms"].append({"id": "outlet", "seller": "other", "source": "outlet.mp4", "platform": "shopB"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    reload = RegistryReload(path, system, pipeline, check_images=False)
    summary = reload()
    assert (summary["rooms_added"], summary["rooms_removed"], summary["rooms_restarted"]) == \
        (["outlet"], ["market"], ["deals"])
    assert set(pipeline.rooms) == {"deals", "outlet"}
    assert pipeline.rooms["deals"].source.url.endswith("deals-2.mp4")
    assert system.store.scope("outlet", "nova")["platform"] == "shopB"
    assert _mark_alerts(system, "deals") == []  # bargain is authorized for nova now
