"""Bad input, fuzzed: schemathesis drives every operation of the server's own OpenAPI spec (`/openapi.json`) with
each role's key, on a real server over a real SQLite store holding alerts, cases, a notice and a webhook.

On each operation the role may call it sends the coverage phase's edge cases (boundaries, huge integers, missing,
extra and wrong-typed parameters and fields, unexpected methods) and random valid and invalid data (Hypothesis);
on the others, a few random requests (403). Every response goes through schemathesis's default checks: no server
error; a status code, content type, headers and body the spec declares for the operation; invalid data rejected;
valid data not refused; authentication enforced (the request again without a key and with a wrong one); ... and
every error body must be the API's JSON error: {"error": {"status", "reason", "fields"?}} with its own status.

(schemathesis's pytest loader, `schemathesis.pytest.from_fixture`, does not run on pytest 9.2 — it sets
`node._nodeid`, which pytest 9.2 no longer has — so the test drives schemathesis's Python API itself.)
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup

from livewarden.api.access import ACCESS, PUBLIC
from tests.api.conftest import TENANTS, serve

ROLES = tuple(TENANTS)
MIN_REQUESTS = 2000  # generated requests, over every role
FUZZ_EXAMPLES = 12  # random cases per operation, role and mode (valid, invalid): all in < 3 min on 2 slow cores
FORBIDDEN_EXAMPLES = 3  # on an operation the role may not call (403 whatever it sends): a few random cases
STREAMING = ("GET", "/events")  # server-sent events never end: tests/api/test_feed.py tests the live feed


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    served, server, thread = serve(tmp_path_factory.mktemp("fuzz"))
    _seed(served)
    config = schemathesis.Config.from_dict({
        # the role's key is the test's to send (not generated, nor left out as invalid data)
        "generation": {"with-security-parameters": False},
        # a notice's range may not end before it starts: a rule JSON Schema cannot state, so data valid by the
        # spec may still be refused there with 422
        "operations": [{"include-name": "POST /notices", "checks": {"positive_data_acceptance": {
            "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}}}]})
    served.schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json", config=config)
    served.sent = Counter()  # role -> generated requests
    served.statuses = {role: Counter() for role in ROLES}
    yield served
    server.should_exit = True
    thread.join(10)


def _seed(served) -> None:
    """Objects for the object routes to find: two alerts in two cases, one decided, a notice and a webhook."""
    served.see("deals", "mark", "nova")
    served.see("deals", "face", "ada")
    with served.client("brand", "nova") as brand, served.client("moderator", "shopA") as mod:
        notice = brand.post("/notices", json={"explanation": "counterfeit NOVA bags sold live", "room_id": "deals",
                                              "notifier_name": "Nova Legal", "notifier_email": "legal@nova.example",
                                              "good_faith": True})
        assert notice.status_code == 201, notice.text
        done = mod.post("/cases/1/actions", json={"action": "remove_listing", "statement": {
            "facts": "the NOVA mark on camera", "ground": "trademark infringement"}})
        assert done.status_code == 201, done.text
        assert mod.post("/webhooks", json={"url": "https://hooks.example/lw"}).status_code == 201


def error_is_the_json_error(ctx, response, case):
    """Every 4xx/5xx answer is {"error": {"status", "reason", "fields"?}} with its own status and a reason."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith("application/json"), f"an error that is not JSON: {content_type}"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"not the API's error body: {body}"
    error = body["error"]
    assert error.get("status") == response.status_code, f"an error body with status {error.get('status')}"
    assert isinstance(error.get("reason"), str) and error["reason"], "an error without a reason"
    return None


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_holds_to_the_spec_for_every_role(api, role):
    headers = {"Authorization": f"Bearer {api.keys[(role, TENANTS[role][0])]}"}
    failures: Counter[str] = Counter()  # "METHOD /path: check failed" -> times
    reports: dict[str, str] = {}  # the first failure of each kind in full (with a curl command to replay it)

    session = requests.Session()  # one kept-alive connection
    transport = {"session": session, "headers": headers, "timeout": 10}  # also for the checks' own requests

    def send(case) -> None:
        api.sent[role] += 1
        response = case.call(**transport)
        api.statuses[role][response.status_code] += 1
        try:
            case.validate_response(response, headers=headers, transport_kwargs=transport,
                                   additional_checks=[error_is_the_json_error])
        except FailureGroup as exc:
            for failure in exc.exceptions:
                kind = f"{case.operation.label}: {failure.title}"
                failures[kind] += 1
                reports.setdefault(kind, str(exc))

    operations = [result.ok() for result in api.schema.get_all_operations()]
    assert len(operations) >= 25
    for operation in operations:
        route = (operation.method.upper(), operation.path)
        if route == STREAMING:
            continue
        allowed = ACCESS[route] == PUBLIC or role in ACCESS[route]
        if allowed:
            generation = api.schema.config.generation_for(operation=operation, phase="coverage")
            for case in api.schema.iter_coverage_cases(operation, generation_modes=list(GenerationMode),
                                                       generation_config=generation):
                send(case)
        for mode in GenerationMode if allowed else [GenerationMode.POSITIVE]:
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=FUZZ_EXAMPLES if allowed else FORBIDDEN_EXAMPLES, deadline=None, database=None,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))
            def fuzz(case):
                send(case)

            try:
                fuzz()
            except Unsatisfiable:  # nothing to make invalid: no parameters, or only ones any string fits
                assert mode is GenerationMode.NEGATIVE, operation.label
    session.close()
    print(f"\n{role}: {api.sent[role]} requests, statuses {dict(sorted(api.statuses[role].items()))}")
    assert not failures, (f"{sum(failures.values())} failures as {role}:\n"
                          + "\n".join(f"  {n:4} x {what}" for what, n in sorted(failures.items()))
                          + "\n\nthe first of each kind:\n\n" + "\n\n".join(reports.values()))


def test_the_fuzz_sent_enough_requests_and_lost_nothing(api):
    if set(api.sent) != set(ROLES):
        pytest.skip("the fuzz did not run for every role (a selection of the tests)")
    print(f"\ngenerated requests per role: {dict(api.sent)}, {sum(api.sent.values())} in all")
    assert sum(api.sent.values()) >= MIN_REQUESTS, dict(api.sent)
    # what was accepted before and between the bad requests is all there, and the audit chain still holds
    with api.client("regulator", "shopA") as regulator, api.client("brand", "nova") as brand:
        assert regulator.get("/audit/verify").json()["verified"] is True
        assert [regulator.get(f"/alerts/{i}").status_code for i in (1, 2)] == [200, 200]
        assert brand.get("/notices/1").json()["fields"]["explanation"] == "counterfeit NOVA bags sold live"


def _json_error(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["status"] == status and error["reason"]
    return error["reason"]


def test_bad_input_gets_a_clear_json_error(api):
    """The cases the fuzz found, and a few it cannot reach (a streamed body, the live feed's bad cursors)."""
    with api.client("admin", "shopA") as admin, api.client("brand", "nova") as brand:
        # ids beyond what a JSON number holds exactly: 422, not the database's overflow (500)
        assert "alert_id" in _json_error(admin.get(f"/alerts/{2**63}"), 422)
        assert "after" in _json_error(admin.get(f"/alerts?after={2**64}"), 422)
        assert "webhook_id" in _json_error(admin.get(f"/webhooks/{10**30}/deliveries"), 422)
        _json_error(admin.get("/cases/0/timeline"), 422)
        assert "finite" in _json_error(admin.get("/aggregates?since=inf"), 422)
        # unknown objects and rooms: 404
        assert _json_error(admin.get("/alerts/999"), 404) == "no alert 999"
        notice = {"explanation": "counterfeit NOVA bags sold live", "room_id": "nowhere", "notifier_name": "Nova",
                  "notifier_email": "legal@nova.example", "good_faith": True}
        assert _json_error(brand.post("/notices", json=notice), 404) == "no room nowhere"
        assert "alert_id" in _json_error(brand.post("/notices", json={**notice, "alert_id": 2**63}), 422)
        # no such path, no such method (with every method of the path in Allow), a body that is not JSON
        _json_error(admin.get("/nowhere"), 404)
        refused = admin.put("/webhooks")
        _json_error(refused, 405)
        assert refused.headers["allow"] == "GET, POST"
        as_json = {"content-type": "application/json"}
        assert "JSON decode error" in _json_error(admin.post("/webhooks", content=b"{", headers=as_json), 422)
        _json_error(admin.post("/webhooks", content=b"\x80\x13", headers=as_json), 400)  # not even text
        # a body over the limit, declared or streamed (chunked, no Content-Length)
        big = b'{"url": "https://hooks.example/' + b"a" * (2 << 20) + b'"}'
        _json_error(admin.post("/webhooks", content=big, headers=as_json), 413)
        _json_error(admin.post("/webhooks", content=iter([big]), headers=as_json), 413)
        # the live feed (out of the fuzz: it streams) refuses bad cursors before it streams
        _json_error(admin.get("/events?after=-1"), 422)
        for last in (b"x", "²".encode("latin-1"), str(2**63).encode()):
            _json_error(admin.get("/events", headers={"Last-Event-ID": last}), 400)
    # an evidence file is served with a content type the spec declares
    operation = api.schema["/alerts/{alert_id}/evidence/{index}"]["GET"]
    token = api.keys[("admin", "shopA")]
    response = operation.Case(path_parameters={"alert_id": 1, "index": 0}).call_and_validate(
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.headers["content-type"][0].startswith("image/")
