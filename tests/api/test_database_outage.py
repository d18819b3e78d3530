"""The case database goes down under a running API server (a real PostgreSQL, stopped and started again): the
API answers 503 with the reason and changes nothing meanwhile, then recovers by itself; the audit chain holds."""

from __future__ import annotations

import time

import pytest

from .conftest import serve
from .test_platform import STATEMENT

pytestmark = pytest.mark.postgres


def test_the_api_answers_503_while_postgres_is_down_and_recovers_by_itself(own_postgres, tmp_path):
    served, server, thread = serve(tmp_path, url=own_postgres.new_database("outage"))
    try:
        alert_id = served.see("deals", "mark", "nova")
        moderator = served.client("moderator", "shopA")
        case_id = moderator.get(f"/alerts/{alert_id}").json()["case_id"]
        act = {"action": "pause_room", "alert_id": alert_id, "statement": STATEMENT}
        own_postgres.down()
        during = moderator.get("/alerts")
        assert during.status_code == 503 and during.headers["Retry-After"] == "2", during.text
        reason = during.json()["error"]["reason"]
        assert reason.startswith("the case database is unavailable (") and "nothing was changed" in reason
        assert own_postgres.password not in reason
        action = moderator.post(f"/cases/{case_id}/actions", json=act)
        assert action.status_code == 503, action.text
        own_postgres.restart()
        deadline = time.monotonic() + 15
        while moderator.get("/alerts").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert moderator.get("/alerts").status_code == 200  # the same server process, no restart
        assert moderator.get(f"/cases/{case_id}").json()["actions"] == []  # nothing was done while it was down
        done = moderator.post(f"/cases/{case_id}/actions", json=act)
        assert done.status_code == 201, done.text
        assert served.store.verify_audit() == (True, None)
    finally:
        server.should_exit = True
        thread.join(10)
