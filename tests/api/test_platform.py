"""The platform's flow on a real server: the queue holds a case for one moderator, an action carries its
statement of reasons onto the audit chain, a red flag acts by itself, and the timeline answers "when did you
know, and what did you do?" with real times."""

from __future__ import annotations

import json
import time

import httpx

from livewarden.cases.keys import create_key
from livewarden.policy.rules import Rule
from tests.api.conftest import RULES, serve

STATEMENT = {"facts": "the NOVA mark on bags sold by a seller NOVA never authorized",
             "ground": "trademark infringement (EU Trade Mark Regulation Art. 9)"}


def test_a_claimed_case_is_worked_by_one_moderator_at_a_time(fresh):
    fresh.see("deals", "mark", "nova")
    fresh.keys[("moderator", "shopA2")] = create_key(fresh.store.engine, "moderator", "shopA")[1]
    with fresh.client("moderator", "shopA") as first, fresh.client("moderator", "shopA2") as second:
        case = first.post("/queue/claim").json()["case"]
        assert case["room_id"] == "deals" and case["first_seen_at"] is not None
        assert second.post("/queue/claim").json()["case"] is None  # the only case is held
        refused = second.post(f"/cases/{case['id']}/actions", json={"action": "dismiss", "statement": STATEMENT})
        assert refused.status_code == 409 and "held by another moderator" in refused.json()["error"]["reason"]
        assert first.post(f"/cases/{case['id']}/release").status_code == 200
        assert second.post("/queue/claim").json()["case"]["id"] == case["id"]


def test_an_expired_claim_goes_back_to_the_queue(fresh):
    fresh.platform.claim_ttl_s = 0.2
    fresh.see("deals", "mark", "nova")
    other = create_key(fresh.store.engine, "moderator", "shopA")[1]
    with fresh.client("moderator", "shopA") as first:
        case = first.post("/queue/claim").json()["case"]
    time.sleep(0.3)
    with httpx.Client(base_url=fresh.url, headers={"Authorization": f"Bearer {other}"}) as second:
        assert second.post("/queue/claim").json()["case"]["id"] == case["id"]


def test_an_action_is_recorded_with_its_reasons_on_the_audit_chain(fresh):
    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod, fresh.client("regulator", "shopA") as regulator:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        done = mod.post(f"/cases/{case_id}/actions",
                        json={"action": "pause_room", "alert_id": alert_id, "statement": STATEMENT})
        assert done.status_code == 201
        reasons = done.json()["statement"]
        assert reasons["restriction"] == "suspension of the live broadcast"
        assert reasons["facts"] == STATEMENT["facts"] and reasons["automated_detection"] is True
        assert reasons["automated_decision"] is False and "appeal" in reasons["redress"]
        case = mod.get(f"/cases/{case_id}").json()
        assert case["status"] == "actioned" and [a["action"] for a in case["actions"]] == ["pause_room"]
        assert regulator.get("/audit/verify").json()["verified"] is True
    actions = [(e.action, e.alert_id) for e in fresh.store.audit_entries()]
    assert ("action_pause_room", alert_id) in actions


def test_a_bad_action_names_the_field(fresh):
    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        bad = mod.post(f"/cases/{case_id}/actions", json={"action": "ban_forever", "statement": {"facts": ""}})
        assert bad.status_code == 422
        fields = {f["field"] for f in bad.json()["error"]["fields"]}
        assert {"body.action", "body.statement.facts", "body.statement.ground"} <= fields
        assert mod.post(f"/cases/{case_id}/actions", content=b"x" * (2 << 20),
                        headers={"content-type": "application/json"}).status_code == 413
    assert [a.status for a in fresh.store.alerts()] == ["open"]  # nothing accepted before was lost


def test_a_red_flag_rule_acts_at_once_and_says_it_was_automated(tmp_path):
    rules = [Rule(**{**RULES[1].model_dump(), "auto_action": "pause_room"}), RULES[0]]
    served, server, thread = serve(tmp_path, rules)
    try:
        alert_id = served.see("deals", "face", "ada")
        with served.client("admin", "shopA") as admin:
            case = admin.get(f"/cases/{admin.get(f'/alerts/{alert_id}').json()['case_id']}").json()
            [action] = case["actions"]
            assert action["action"] == "pause_room" and action["automated"] is True
            assert action["statement"]["automated_decision"] is True and case["status"] == "actioned"
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_shadow_rule_never_acts(tmp_path):
    served, server, thread = serve(tmp_path, [Rule(**{**RULES[1].model_dump(), "auto_action": "pause_room",
                                                      "shadow": True})])
    try:
        alert_id = served.see("deals", "face", "ada")
        with served.client("admin", "shopA") as admin:
            alert = admin.get(f"/alerts/{alert_id}").json()
            assert alert["shadow"] is True
            assert admin.get(f"/cases/{alert['case_id']}").json()["actions"] == []
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_timeline_answers_when_did_you_know_and_what_did_you_do(fresh):
    alert_id = fresh.see("deals", "mark", "nova")
    time.sleep(0.05)
    with fresh.client("moderator", "shopA") as mod, fresh.client("brand", "nova") as brand:
        case = mod.post("/queue/claim").json()["case"]
        time.sleep(0.05)
        mod.post(f"/cases/{case['id']}/actions", json={"action": "warn_seller", "statement": STATEMENT})
        timeline = brand.get(f"/cases/{case['id']}/timeline").json()
    steps = [s["what"] for s in timeline["steps"]]
    assert steps == ["first_signal", "alert_opened", "first_seen_by_moderator", "action", "message_to_seller"]
    assert timeline["steps"][0]["alert_id"] == alert_id and timeline["audit"]["verified"] is True
    assert all(s["since_previous_s"] >= 0 for s in timeline["steps"])
    assert timeline["steps"][3]["since_first_s"] >= 0.1  # real times: the claim and the action came later


def test_metrics_count_what_the_caller_may_see(fresh):
    fresh.see("deals", "mark", "nova")
    with fresh.client("admin", "shopA") as mine, fresh.client("admin", "shopB") as theirs:
        text = mine.get("/metrics").text
        assert 'livewarden_alerts{rule="unauthorized_brand",status="open"} 1.0' in text
        assert "livewarden_queue_depth 1.0" in text
        other = theirs.get("/metrics").text
        assert "unauthorized_brand" not in other and "livewarden_queue_depth 0.0" in other


def test_the_cli_prints_the_same_timeline(fresh):
    from typer.testing import CliRunner

    from livewarden.cli import app

    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        mod.post(f"/cases/{case_id}/actions", json={"action": "end_room", "statement": STATEMENT})
        served = mod.get(f"/cases/{case_id}/timeline").json()
    where = ["--db", fresh.store.url]  # the SQLite file or the PostgreSQL database
    printed = CliRunner().invoke(app, ["case", "timeline", str(case_id), *where, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["steps"] == served["steps"]
    text = CliRunner().invoke(app, ["case", "timeline", str(case_id), *where])
    assert "action end_room by moderator:shopA:" in text.output and "audit chain verified" in text.output
    missing = CliRunner().invoke(app, ["case", "timeline", "999", *where])
    assert missing.exit_code != 0 and "no case 999" in missing.output


def test_a_nul_character_is_refused_not_stored(fresh):
    """PostgreSQL cannot store NUL: it is bad input (400/422) on every store, never a server error."""
    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod, fresh.client("brand", "nova") as brand:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        body = mod.post(f"/cases/{case_id}/actions", json={"action": "dismiss", "statement": {
            "facts": "a\x00b", "ground": "none"}})
        assert body.status_code == 422 and "NUL" in body.json()["error"]["reason"]
        assert mod.get("/alerts", params={"rule": "a\x00"}).status_code == 400
        notice = brand.post("/notices", json={"explanation": "counterfeit\x00 bags sold here", "room_id": "deals",
                                              "notifier_name": "N", "notifier_email": "n@x.example",
                                              "good_faith": True})
        assert notice.status_code == 422


def test_a_number_with_spaces_around_it_is_refused_not_read(fresh):
    """The spec says integer: "2 " (a query's "2+") is bad input that names its field, in a query or a path."""
    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod:
        assert mod.get("/cases?limit=2").status_code == 200
        for url, field in (("/cases?limit=2+", "query.limit"), ("/alerts?since=1.5%20", "query.since"),
                           (f"/alerts/{alert_id}%20", "path.alert_id"), (f"/alerts/%20{alert_id}", "path.alert_id")):
            refused = mod.get(url)
            assert refused.status_code == 422 and refused.json()["error"]["fields"][0]["field"] == field, url


def test_the_timeline_names_an_edited_entry_of_its_case(fresh):
    from tests.cases.support import tamper

    alert_id = fresh.see("deals", "mark", "nova")
    with fresh.client("moderator", "shopA") as mod:
        case_id = mod.get(f"/alerts/{alert_id}").json()["case_id"]
        mod.post(f"/cases/{case_id}/actions", json={"action": "warn_seller", "statement": STATEMENT})
        audit = mod.get(f"/cases/{case_id}/timeline").json()["audit"]
        assert audit["verified"] is True and audit["entries_checked"] >= 2
        [action] = [e for e in fresh.store.audit_entries() if e.action == "action_warn_seller"]
        tamper(fresh.store, action.id, actor="someone else")  # rewriting who decided
        audit = mod.get(f"/cases/{case_id}/timeline").json()["audit"]
        assert audit["verified"] is False and audit["first_bad_entry"] == action.id


def test_a_revoked_key_stops_working(fresh):
    """Revoked through the server: at once. Revoked from another process (the CLI, straight in the database):
    within the key check's second."""
    from livewarden.api.access import KEY_CHECK_S
    from livewarden.cases.keys import create_key, revoke_key

    with fresh.client("admin", "shopA") as admin:
        made = admin.post("/keys", json={"role": "moderator", "name": "night shift"}).json()
        with httpx.Client(base_url=fresh.url, headers={"Authorization": f"Bearer {made['token']}"}) as mod:
            assert mod.get("/me").json()["role"] == "moderator"
            assert admin.delete(f"/keys/{made['id']}").status_code == 200
            assert mod.get("/me").status_code == 401
    info, token = create_key(fresh.platform.engine, "moderator", "shopA")
    with httpx.Client(base_url=fresh.url, headers={"Authorization": f"Bearer {token}"}) as mod:
        assert mod.get("/me").status_code == 200
        revoke_key(fresh.platform.engine, info.id)
        time.sleep(KEY_CHECK_S + 0.1)
        assert mod.get("/me").status_code == 401
