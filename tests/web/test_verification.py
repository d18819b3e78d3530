"""The buyers' verification page on a real server: verdicts, counts, the warning for copied codes, the page in a
real browser with JavaScript off, the rate limit per client, and nothing about the buyer kept."""

from __future__ import annotations

import pytest

from livewarden.registry.issued import IssuedCodes
from tests.api.conftest import serve


@pytest.fixture
def shop(tmp_path):
    served, server, thread = serve(tmp_path, verify_limit="12/minute")
    bank = IssuedCodes(tmp_path / "data" / "codes.db")
    (tmp_path / "nova.csv").write_text("serial,batch,revoked\nNV0001,B1,\nNV0002,B1,\nNV0003,B2,true\n")
    registry = served.app.state.registry
    bank.import_file(registry.code_scheme("nova-tags"), tmp_path / "nova.csv")
    yield served, bank, tmp_path
    server.should_exit = True
    thread.join(10)


def check(served, code: str) -> dict:
    with served.client() as anyone:
        response = anyone.get("/verify", params={"code": code, "format": "json"})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_genuine_code_then_a_copied_one_a_fake_and_a_revoked_one(shop):
    served, bank, _ = shop
    first = check(served, "https://nova.example/NV0001")
    assert (first["verdict"], first["genuine"], first["brand"], first["verifications"]) == ("genuine", True, "Nova", 1)
    assert first["first_verified_at"] and first["batch"] == "B1"
    for _ in range(5):  # max_verifications defaults to 5: the 6th check is one too many for one unit
        last = check(served, "https://nova.example/NV0001")
    assert (last["verdict"], last["verifications"]) == ("copied", 6)
    assert "seen on several units" in last["message"] and last["first_verified_at"] == first["first_verified_at"]
    assert check(served, "https://nova.example/NV9999")["verdict"] == "not_issued"
    assert check(served, "https://nova.example/NV0003")["verdict"] == "revoked"
    assert check(served, "https://elsewhere.example/123")["verdict"] == "unknown"


def test_a_code_seen_in_two_live_rooms_warns_the_buyer(shop):
    served, bank, _ = shop
    bank.record_sighting("nova-tags", "NV0002", "deals")
    bank.record_sighting("nova-tags", "NV0002", "market")
    answer = check(served, "https://nova.example/NV0002")
    assert (answer["verdict"], answer["seen_live_rooms"]) == ("copied", 2)


def test_the_brands_qr_path_reads_as_its_payload_and_answers_html_by_default(shop):
    served, _, _ = shop
    with served.client() as anyone:
        page = anyone.get("/verify/nova-tags/NV0002")
        as_json = anyone.get("/verify/nova-tags/NV0002", headers={"Accept": "application/json"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Genuine" in page.text and "<script" not in page.text
    assert as_json.json()["verdict"] == "genuine" and as_json.json()["verifications"] == 2


def test_the_page_works_in_a_browser_with_javascript_off_on_a_phone(shop, chromium):
    served, _, _ = shop
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 800})
    page = context.new_page()
    page.goto(served.url + "/verify")
    page.fill("input[name=code]", "https://nova.example/NV9999")
    page.click("button")
    page.wait_for_selector(".v.not_issued")
    assert "Not genuine" in page.inner_text("[role=status]")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    context.close()


def test_too_many_checks_from_one_client_are_refused_with_retry_after(shop):
    served, _, _ = shop
    with served.client() as anyone:
        statuses = [anyone.get("/verify", params={"code": f"https://nova.example/NV{i:04d}", "format": "json"})
                    for i in range(14)]
        page = anyone.get("/verify", params={"code": "https://nova.example/NV0001"})
    assert [r.status_code for r in statuses] == [200] * 12 + [429] * 2
    assert int(statuses[-1].headers["Retry-After"]) >= 1 and "too many checks" in statuses[-1].json()["error"]["reason"]
    assert page.status_code == 429 and "too many checks" in page.text  # a phone gets a page, not JSON


def test_nothing_about_the_buyer_is_written_down(shop):
    served, _, tmp = shop
    with served.client() as anyone:
        anyone.get("/verify", params={"code": "https://nova.example/NV0001"},
                   headers={"User-Agent": "BuyerPhone/1.0", "Cookie": "tracking=abc"})
    written = b"".join(p.read_bytes() for p in (tmp / "data").glob("codes.db*"))
    assert b"127.0.0.1" not in written and b"BuyerPhone" not in written and b"tracking" not in written
