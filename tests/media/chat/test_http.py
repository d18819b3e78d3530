"""The HTTP endpoint through real HTTP: single, array and NDJSON bodies, mixed batches, a quick stop."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from livewarden.media.chat.http import HttpChatIngest

from .conftest import T0, Sink, msg


@pytest.fixture
def ingest():
    sink = Sink()
    server = HttpChatIngest(sink.on_message, sink.on_error, rooms={"deals", "juice"})
    server.start()
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    yield server, sink
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3


def test_http_single_list_and_ndjson(ingest):
    server, sink = ingest
    with httpx.Client(base_url=server.url, timeout=10) as client:
        r = client.post("/chat", json=msg(text="single"))
        assert (r.status_code, r.json()) == (202, {"accepted": 1})
        r = client.post("/chat", json=[msg(text="l1"), msg(text="l2", room="juice", role="viewer")])
        assert (r.status_code, r.json()) == (202, {"accepted": 2})
        body = "\n".join(json.dumps(m) for m in [msg(text="n1"), msg(text="n2", time_="2026-01-01T11:00:00+01:00")])
        r = client.post("/chat", content=body + "\n", headers={"content-type": "application/x-ndjson"})
        assert (r.status_code, r.json()) == (202, {"accepted": 2})
        r = client.post("/chat", json=[msg(text="elsewhere", room="other"), msg(text="here")])
        assert (r.status_code, r.json()) == (202, {"accepted": 1, "ignored": 1})
        health = client.get("/health").json()
    assert sink.texts == ["single", "l1", "l2", "n1", "n2", "here"]
    assert sink.messages[2].role == "viewer" and sink.messages[2].room_id == "juice"
    assert sink.messages[4].time == T0
    assert health["connected"] and health["messages"] == 6 and health["filtered"] == 1 and health["errors"] == 0
    assert not sink.errors


def test_http_mixed_batch_accepts_good_items_and_names_bad_ones(ingest):
    server, sink = ingest
    batch = [msg(text="good0"), msg(text="bad1", role="buyer"), msg(text="good2"),
             {"room": "deals", "time": "2026-13-01T00:00:00Z", "author": "kim"}, "a string"]
    r = httpx.post(server.url + "/chat", json=batch, timeout=10)
    assert r.status_code == 422
    answer = r.json()
    assert answer["accepted"] == 2
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "role"), (3, "time"), (3, "text"), (4, None)]
    assert "'buyer' is not one of seller, moderator, viewer" in answer["errors"][0]["reason"]
    assert answer["errors"][3]["reason"] == "expected a JSON object, got string 'a string'"
    assert sink.texts == ["good0", "good2"]
    assert sink.errors[0].startswith("POST /chat item 1: role: ")

    # NDJSON with a broken line: index and line
    body = json.dumps(msg(text="nd0")) + "\n\n{broken\n" + json.dumps(msg(text="nd2")) + "\n"
    r = httpx.post(server.url + "/chat", content=body, timeout=10)
    assert r.status_code == 422
    assert r.json()["accepted"] == 2
    assert [(e["index"], e["line"], e["field"]) for e in r.json()["errors"]] == [(1, 3, None)]
    assert sink.texts[-2:] == ["nd0", "nd2"]

    r = httpx.post(server.url + "/chat", content=b"hello", timeout=10)
    assert r.status_code == 400 and r.json()["accepted"] == 0
    assert httpx.get(server.url + "/health", timeout=10).json()["errors"] == 3 + 1 + 1  # three bad items, the broken NDJSON line, the 400 body


def test_http_stop_is_quick_and_frees_the_port():
    sink = Sink()
    server = HttpChatIngest(sink.on_message, sink.on_error)
    server.start()
    port = server.port
    assert httpx.post(server.url + "/chat", json=msg(), timeout=10).status_code == 202
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    assert not server.health()["connected"]
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/chat", json=msg(), timeout=2)
    again = HttpChatIngest(sink.on_message, sink.on_error, port=port)  # the port can be bound again at once
    again.start()
    again.stop()
