"""A seller's self-check over the API: upload a clip as one of their rooms, follow the progress, get the
report `livewarden scan` writes; a file that is not a video, or one too large, is refused with the reason."""

from __future__ import annotations

import time


def test_a_seller_uploads_a_clip_and_gets_the_scan_report(served, small_clip):
    with served.client("seller", "bargain") as seller:
        submitted = seller.post("/scans", params={"room_id": "deals"}, content=small_clip)
        assert submitted.status_code == 202
        job = submitted.json()
        assert job["state"] in ("queued", "scanning", "done") and job["progress"]["total_s"] == 2.0
        deadline = time.monotonic() + 60
        while job["state"] in ("queued", "scanning") and time.monotonic() < deadline:
            time.sleep(0.2)
            job = seller.get(f"/scans/{job['id']}").json()
        assert job["state"] == "done", job
        report = job["report"]
        assert report["room"] == "deals" and report["seller"] == "bargain" and report["findings"] == []
        assert report["frames_analysed"] >= 3 and job["progress"]["fraction"] == 1.0
        with served.client("seller", "other") as someone_else:
            assert someone_else.get(f"/scans/{job['id']}").status_code == 404


def test_bad_uploads_are_refused_with_the_reason(served):
    with served.client("seller", "bargain") as seller:
        garbage = seller.post("/scans", params={"room_id": "deals"}, content=b"GIF89a not a video" * 50)
        assert garbage.status_code == 400 and "not a readable video" in garbage.json()["error"]["reason"]
        empty = seller.post("/scans", params={"room_id": "deals"}, content=b"")
        assert empty.status_code == 400 and "empty" in empty.json()["error"]["reason"]
        huge = seller.post("/scans", params={"room_id": "deals"}, content=b"\0" * (3 << 20))
        assert huge.status_code == 413
        not_theirs = seller.post("/scans", params={"room_id": "market"}, content=b"x")
        assert not_theirs.status_code == 404
