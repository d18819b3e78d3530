"""Every route of the access table, called with every role, for an own and a foreign tenant, on a real server.

A route added without an entry in the table cannot start (`check_table`); this test then holds each entry
to what it promises: no key 401, a role the route does not admit 403, an object of another tenant 404 (as
if it did not exist), a list without the other tenant's objects, and the own tenant served.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from livewarden.api.access import ACCESS, PUBLIC
from livewarden.cases.keys import create_key
from livewarden.cases.notices import CounterIn, NoticeIn
from livewarden.cases.platform import Statement
from livewarden.runtime.pipeline import thumbnail_jpeg
from tests.api.conftest import TENANTS

ROUTES = sorted(ACCESS)
STATEMENT = {"facts": "the NOVA mark on a bag sold by an unauthorized seller", "ground": "trademark infringement"}


@pytest.fixture(scope="module")
def objects(served, small_clip):
    """The objects each role's own tenant can see (ids by kind), made once: alerts and their cases, notices in
    each state a route needs (filed and decided, countered), a decided case to appeal."""
    mark = served.see("deals", "mark", "nova")
    served.see("market", "mark", "nova")  # another platform's alert about the same brand
    face = served.see("deals", "face", "ada")
    admin = _principal(served, "admin", "shopA")
    alerts = {a["id"]: a for a in served.platform.alerts(admin)}
    assert {mark, face} <= set(alerts)
    notices = served.app.state.notices
    moderator = _principal(served, "moderator", "shopA")
    seller = _principal(served, "seller", "bargain")

    def notice(role, tenant, alert_id=None):
        body = NoticeIn(explanation="counterfeit goods sold under our mark", room_id="deals", alert_id=alert_id,
                        notifier_name="Legal", notifier_email="legal@example.com", good_faith=True)
        return notices.file(_principal(served, role, tenant), body)

    def decide(case_id):
        served.platform.act(moderator, case_id, "pause_room", Statement(**STATEMENT))

    counter = CounterIn(explanation="these are genuine, bought from the brand", name="B", email="b@example.com",
                        good_faith=True)
    n1, n2 = notice("brand", "nova", mark), notice("person", "ada", face)
    decide(n1["case_id"]), decide(n2["case_id"])
    notices.counter(seller, n1["id"], counter), notices.counter(seller, n2["id"], counter)
    n3 = notice("brand", "nova")  # a case of its own (the first is decided)
    decide(n3["case_id"])
    served.clip = small_clip
    for status in served.app.state.pipeline.rooms.values():  # as if each room had been analysed a second ago
        status.thumbnail, status.thumbnail_at = thumbnail_jpeg(np.full((360, 640, 3), 80, np.uint8)), time.time()
    with served.client("seller", "bargain") as mine:  # a finished scan with a finding (its evidence route)
        scan = mine.post("/scans", params={"room_id": "deals"}, content=_clip_with_nova()).json()["id"]
        deadline = time.monotonic() + 60
        while mine.get(f"/scans/{scan}").json()["state"] != "done":
            assert time.monotonic() < deadline, mine.get(f"/scans/{scan}").json()
            time.sleep(0.2)
    out = {}
    for role in TENANTS:
        alert = face if role == "person" else mark
        out[role] = {"alert_id": alert, "case_id": alerts[alert]["case_id"],
                     "notice_id": (n2 if role == "person" else n1)["id"], "counter_notice_id": n3["id"],
                     "answer_notice_id": (n2 if role == "person" else n1)["id"], "appeal_case_id": n2["case_id"],
                     "scan_id": scan, "room_id": "deals",
                     # a reference image the own tenant sees: its brand, its person, a brand it may sell
                     "section": "persons" if role == "person" else "brands",
                     "entry_id": {"brand": TENANTS[role][0], "person": TENANTS[role][0], "seller": "koru"}.get(
                         role, "nova")}
    return out


def _clip_with_nova() -> bytes:
    import tempfile
    from pathlib import Path

    from livewarden.assets.marks import generate_mark
    from livewarden.testing.clips import write_clip
    from livewarden.testing.scenes import room_frames

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "nova.mp4"
        write_clip(path, room_frames(generate_mark("NOVA", 11), seconds=3.0, fps=10, size=(640, 360),
                                     mark_on=(0.5, 2.5)), 10)
        return path.read_bytes()


def _principal(served, role, tenant):
    from livewarden.cases.keys import authenticate

    return authenticate(served.store.engine, served.keys[(role, tenant)])


def _request(served, client, method: str, path: str, role: str, tenant: str, ids: dict):
    params = dict(ids)
    if "{webhook_id}" in path:
        made = client.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"})
        params["webhook_id"] = made.json()["id"] if made.status_code == 201 else 1
    if "{key_id}" in path:
        params["key_id"] = create_key(served.store.engine, "moderator", TENANTS[role][0])[0].id
    params.setdefault("index", 0)
    params.setdefault("finding", 0)
    params.setdefault("page", "wall")
    params.setdefault("scheme", "nova-tags")
    params.setdefault("serial", "NV0001")

    if path.endswith("/counter"):
        params["notice_id"] = ids["counter_notice_id"]
    elif path.endswith("/answer"):
        params["notice_id"] = ids["answer_notice_id"]
    elif path.endswith("/appeal"):
        params["case_id"] = ids["appeal_case_id"]
    url = re.sub(r"\{(\w+)\}", lambda m: str(params[m.group(1)]), path)
    body = {"/cases/{case_id}/actions": {"action": "confirm", "statement": STATEMENT},
            "/webhooks": {"url": "http://127.0.0.1:9/hook"}, "/keys": {"role": "moderator"},
            "/notices": {"explanation": "counterfeit goods sold under our mark", "room_id": "deals",
                         "notifier_name": "Legal", "notifier_email": "legal@example.com", "good_faith": True},
            "/notices/{notice_id}/counter": {"explanation": "genuine goods, receipts attached", "name": "B",
                                             "email": "b@example.com", "good_faith": True},
            "/notices/{notice_id}/answer": {"explanation": "we filed a complaint with the court"},
            "/cases/{case_id}/appeal": {"explanation": "the bags are genuine, see the invoices"},
            "/session": {"key": served.keys[("admin", "shopA")]}}.get(path)
    if path == "/scans":
        return _status(client.post(url, params={"room_id": "deals"}, content=served.clip))
    if path == "/events":
        with client.stream("GET", url, params={"after": 0}) as response:
            first = next(response.iter_text()) if response.status_code == 200 else ""
            return response.status_code, first
    return _status(client.request(method, url, json=body))


def _status(response):
    return response.status_code, response


@pytest.mark.parametrize("method,path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_route_checks_role_and_tenant(served, objects, method, path):
    roles = ACCESS[(method, path)]
    if roles == PUBLIC:
        with served.client() as anonymous:
            expected = 307 if path == "/console" else 200  # the console's root sends the browser to the wall
            assert _request(served, anonymous, method, path, "admin", "shopA", objects["admin"])[0] == expected
        return
    with served.client() as anonymous:
        assert _request(served, anonymous, method, path, "admin", "shopA", objects["admin"])[0] == 401
    for role, (own, foreign) in TENANTS.items():
        ids = objects[role]
        with served.client(role, own) as mine, served.client(role, foreign) as theirs:
            status, got = _request(served, mine, method, path, role, own, ids)
            if role not in roles:
                assert status == 403, (role, status)
                assert _request(served, theirs, method, path, role, foreign, ids)[0] == 403
                continue
            assert status in (200, 201, 202), (role, status, getattr(got, "text", got))
            other_status, other = _request(served, theirs, method, path, role, foreign, ids)
            if path == "/scans":  # the foreign seller names a room that is not theirs
                assert other_status == 404, (role, other_status)
            elif "{entry_id}" in path and role in ("admin", "moderator", "regulator"):
                assert other_status == 200  # the reference catalog is every platform's
            elif any(f"{{{name}}}" in path
                     for name in ("alert_id", "case_id", "notice_id", "webhook_id", "key_id", "scan_id", "entry_id", "room_id")):
                if "{webhook_id}" in path or "{key_id}" in path:
                    # the foreign caller asks for an object of the own tenant's
                    other_status = _foreign_object(served, theirs, method, path, role, ids)
                assert other_status == 404, (role, other_status)
            elif path == "/events":
                assert other_status == 200
            elif path == "/codes/statistics" and role == "brand":  # each brand its own schemes' scans
                assert [s["brand"] for s in got.json()["schemes"]] == [own]
                assert [s["brand"] for s in other.json()["schemes"]] == [foreign]
            elif path == "/export":  # CSV: the foreign tenant's export lacks the own tenant's alert
                assert str(ids["alert_id"]) in [line.split(",")[0] for line in got.text.splitlines()]
                assert str(ids["alert_id"]) not in [line.split(",")[0] for line in other.text.splitlines()]
            elif method == "GET" and path != "/metrics":
                items = other.json().get("items")
                if items is not None and path in ("/alerts", "/cases", "/notices"):
                    key = {"/alerts": "alert_id", "/cases": "case_id", "/notices": "notice_id"}[path]
                    assert ids[key] not in {i["id"] for i in items}, (role, path)
                    assert ids[key] in {i["id"] for i in got.json()["items"]}, (role, path)


def _foreign_object(served, theirs, method, path, role, ids):
    own = TENANTS[role][0]
    with served.client(role, own) as mine:
        if "{webhook_id}" in path:
            made = mine.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()["id"]
            url = path.replace("{webhook_id}", str(made))
        else:
            url = path.replace("{key_id}", create_key(served.store.engine, "moderator", own)[0].id)
    return theirs.request(method, url).status_code


def test_the_evidence_route_serves_only_kept_files(served, objects):
    with served.client("admin", "shopA") as admin:
        alert = admin.get(f"/alerts/{objects['admin']['alert_id']}").json()
        crop = admin.get(alert["evidence"][0])
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
        assert crop.content[:2] == b"\xff\xd8"
        assert admin.get(f"/alerts/{alert['id']}/evidence/7").status_code == 404
        for sneaky in ("..%2F..%2Fetc%2Fpasswd", "-1", "%2Fetc%2Fpasswd"):
            assert admin.get(f"/alerts/{alert['id']}/evidence/{sneaky}").status_code in (404, 422)
