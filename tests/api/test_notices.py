"""Notice and takedown on a real server: a brand's notice opens a case with an SLA clock the seller sees; the
moderator's decision settles it; the seller's counter-notice starts the brand's window; unanswered, the measure
is lifted by the clock; answered, it stays; a seller's appeal sends the case back to review."""

from __future__ import annotations

import time

NOTICE = {"explanation": "counterfeit NOVA bags sold live in this room", "room_id": "deals", "start_s": 12.0,
          "end_s": 95.0, "notifier_name": "Nova Legal", "notifier_email": "legal@nova.example", "good_faith": True}
COUNTER = {"explanation": "the bags are genuine: bought from Nova's distributor", "name": "Bargain Ltd",
           "email": "help@bargain.example", "good_faith": True}
STATEMENT = {"facts": "a notice by the brand, and the NOVA mark on camera", "ground": "trademark infringement"}


def test_notice_sla_counter_notice_and_the_window(fresh):
    notices = fresh.app.state.notices
    with fresh.client("brand", "nova") as brand, fresh.client("seller", "bargain") as seller, \
            fresh.client("moderator", "shopA") as mod:
        filed = brand.post("/notices", json=NOTICE)
        assert filed.status_code == 201
        notice = filed.json()
        assert notice["state"] == "received" and 86000 < notice["clock"]["time_left_s"] <= 86400
        # the seller is told (and sees the notice); another brand is not
        assert [n["id"] for n in seller.get("/notices").json()["items"]] == [notice["id"]]
        with fresh.client("brand", "koru") as koru:
            assert koru.get(f"/notices/{notice['id']}").status_code == 404
        assert seller.post(f"/notices/{notice['id']}/counter", json=COUNTER).status_code == 409  # nothing to counter
        # the moderator acts within the SLA
        case = mod.post("/queue/claim").json()["case"]
        assert case["id"] == notice["case_id"]
        mod.post(f"/cases/{case['id']}/actions", json={"action": "remove_listing", "statement": STATEMENT})
        decided = brand.get(f"/notices/{notice['id']}").json()
        assert decided["state"] == "actioned" and decided["fields"]["decision"]["within_sla"] is True
        # the seller counters: the brand's window starts
        countered = seller.post(f"/notices/{notice['id']}/counter", json=COUNTER).json()
        assert countered["state"] == "countered"
        assert 15 * 86400 - 60 < countered["clock"]["time_left_s"] <= 15 * 86400
    # the window passes without an answer: the clock lifts the measure, automated
    assert notices.run_clocks(now=time.time() + 16 * 86400) == {"breached": 0, "lifted": 1}
    with fresh.client("moderator", "shopA") as mod:
        case = mod.get(f"/cases/{notice['case_id']}").json()
        assert [a["action"] for a in case["actions"]] == ["remove_listing", "reopen"]
        assert case["actions"][1]["automated"] is True and case["status"] == "open"
        timeline = mod.get(f"/cases/{notice['case_id']}/timeline").json()
        assert "notice_received" in [s["what"] for s in timeline["steps"]] and timeline["audit"]["verified"]
    assert notices.run_clocks(now=time.time() + 17 * 86400) == {"breached": 0, "lifted": 0}  # idempotent


def test_an_answered_counter_notice_keeps_the_measure(fresh):
    with fresh.client("brand", "nova") as brand, fresh.client("seller", "bargain") as seller, \
            fresh.client("moderator", "shopA") as mod:
        notice = brand.post("/notices", json=NOTICE).json()
        mod.post(f"/cases/{notice['case_id']}/actions", json={"action": "pause_room", "statement": STATEMENT})
        seller.post(f"/notices/{notice['id']}/counter", json=COUNTER)
        answered = brand.post(f"/notices/{notice['id']}/answer",
                              json={"explanation": "we filed a complaint with the court on 2026-12-02"})
        assert answered.status_code == 200 and answered.json()["state"] == "upheld"
    assert fresh.app.state.notices.run_clocks(now=time.time() + 16 * 86400)["lifted"] == 0


def test_a_missed_sla_is_announced_once(fresh):
    with fresh.client("brand", "nova") as brand:
        notice = brand.post("/notices", json=NOTICE).json()
    notices = fresh.app.state.notices
    assert notices.run_clocks(now=time.time() + 2 * 86400) == {"breached": 1, "lifted": 0}
    assert notices.run_clocks(now=time.time() + 3 * 86400) == {"breached": 0, "lifted": 0}
    with fresh.client("moderator", "shopA") as mod:
        got = mod.get(f"/notices/{notice['id']}").json()
        assert got["fields"]["sla_breached"] > 0
    assert "sla_breached" in [e.action for e in fresh.store.audit_entries()]


def test_a_notice_without_good_faith_or_with_a_bad_email_names_the_field(fresh):
    with fresh.client("brand", "nova") as brand:
        bad = brand.post("/notices", json={**NOTICE, "good_faith": False, "notifier_email": "nope"})
        assert bad.status_code == 422
        reasons = bad.json()["error"]["reason"]
        assert "notifier_email" in reasons
        unknown = brand.post("/notices", json={**NOTICE, "room_id": "nowhere"})
        assert unknown.status_code == 404 and "nowhere" in unknown.json()["error"]["reason"]
        no_faith = brand.post("/notices", json={**NOTICE, "good_faith": False})
        assert no_faith.status_code == 422 and "good-faith" in no_faith.json()["error"]["reason"]


def test_an_appeal_sends_the_case_back_to_review_and_records_the_result(fresh):
    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod, fresh.client("seller", "bargain") as seller:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        assert seller.post(f"/cases/{case_id}/appeal", json={"explanation": "these are genuine goods"}).status_code == 409
        mod.post(f"/cases/{case_id}/actions", json={"action": "suspend_seller", "statement": STATEMENT})
        appeal = seller.post(f"/cases/{case_id}/appeal", json={"explanation": "these are genuine goods, see invoices"})
        assert appeal.status_code == 201
        assert mod.post("/queue/claim").json()["case"]["id"] == case_id  # back in the queue
        granted = mod.post(f"/cases/{case_id}/actions", json={"action": "reopen", "statement": {
            "facts": "the invoices show the goods came from the brand's distributor", "ground": "appeal granted"}})
        assert granted.status_code == 201
        result = seller.get(f"/notices/{appeal.json()['id']}").json()
        assert result["state"] == "granted" and result["fields"]["decision"]["action"] == "reopen"


def test_a_trusted_flaggers_notice_is_first_in_the_queue(fresh):
    from livewarden.config import CasesSettings

    fresh.app.state.notices.settings = CasesSettings(trusted_flaggers=["ada"])
    with fresh.client("brand", "nova") as brand, fresh.client("person", "ada") as ada, \
            fresh.client("moderator", "shopA") as mod:
        first = brand.post("/notices", json=NOTICE).json()
        trusted = ada.post("/notices", json={**NOTICE, "explanation": "a deepfake of me selling in this room"}).json()
        assert trusted["fields"]["trusted_flagger"] is True and first["fields"]["trusted_flagger"] is False
        claimed = mod.post("/queue/claim").json()["case"]
        assert claimed["id"] == trusted["case_id"] != first["case_id"]
        assert claimed["opened_at"] > 0  # its real time is kept: the timeline still says when it came
