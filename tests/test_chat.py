"""Chat ingest through the real paths: a JSONL file (read and tailed), a websocket server, the HTTP endpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from websockets.sync.server import serve

from livewarden.media.chat import (
    ChatFormatError,
    ChatSource,
    HttpChatIngest,
    JsonlChatSource,
    WebsocketChatSource,
    parse_message,
)
from livewarden.model import ChatMessage

T0 = 1767261600.0  # 2026-01-01T10:00:00Z


def msg(room: str = "deals", text: str = "hello", role: str | None = "seller", time_: object = T0, **extra) -> dict:
    item = {"room": room, "time": time_, "author": "kim", "text": text, **extra}
    if role is not None:
        item["role"] = role
    return item


class Sink:
    """on_message / on_error that record what arrives, with a wait helper."""

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.errors: list[str] = []
        self._cond = threading.Condition()

    def on_message(self, message: ChatMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def on_error(self, text: str) -> None:
        with self._cond:
            self.errors.append(text)
            self._cond.notify_all()

    def wait(self, predicate, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.messages]


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# ------------------------------------------------------------------ parse_message


def test_parse_message_fields_defaults_and_iso_time():
    m = parse_message(msg(role=None, time_="2026-01-01T18:00:00+08:00"), "x")
    assert m == ChatMessage(room_id="deals", time=T0, author="kim", role="viewer", text="hello")
    assert parse_message(msg(time_="2026-01-01T10:00:00.5Z", role="Moderator"), "x").time == T0 + 0.5
    assert parse_message(msg(time_="2026-01-01T10:00:00Z"), "x").role == "seller"
    assert parse_message(msg(time_=str(T0)), "x").time == T0
    assert parse_message(msg(time_=int(T0), extra_field=[1]), "x").time == T0  # unknown fields ignored
    assert datetime.fromtimestamp(parse_message(msg(time_="2026-01-01T10:00:00Z"), "x").time,
                                  timezone.utc).hour == 10


@pytest.mark.parametrize(
    "item, field, reason",
    [
        (msg(time_="2026-01-01T10:00:00"), "time", "no zone"),
        (msg(time_=T0 * 1000), "time", "milliseconds"),
        (msg(time_="yesterday"), "time", "neither epoch seconds nor an ISO-8601 time"),
        (msg(time_=True), "time", "got boolean"),
        (msg(role="buyer"), "role", "not one of seller, moderator, viewer"),
        (msg(room=42), "room", "must be a string, got number 42"),
        (msg(room="  "), "room", "is empty"),
        ({"room": "deals", "time": T0, "author": "kim"}, "text", "missing"),
    ],
)
def test_parse_message_errors_name_where_field_and_why(item, field, reason):
    with pytest.raises(ChatFormatError) as caught:
        parse_message(item, "chat.jsonl:7")
    text = str(caught.value)
    assert text.startswith("chat.jsonl:7: ") and f"{field}: " in text and reason in text
    assert field in [f for f, _ in caught.value.problems]


def test_parse_message_rejects_non_objects():
    with pytest.raises(ChatFormatError, match=r"^w: expected a JSON object, got array"):
        parse_message([msg()], "w")


# ------------------------------------------------------------------ JSONL


def test_jsonl_file_bad_line_is_reported_and_skipped(tmp_path: Path):
    path = tmp_path / "chat.jsonl"
    lines = [
        json.dumps(msg(text="one")),
        "",  # blank: skipped silently
        json.dumps(msg(text="two", role="shopper")),  # line 3: bad role
        "{not json",  # line 4
        json.dumps([msg(text="three"), msg(text="four", room="other")]),  # an array per line is fine
        json.dumps(msg(text="five", time_="2026-01-01T10:00:05Z")),  # last line without newline
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    sink = Sink()
    source = JsonlChatSource(path, sink.on_message, sink.on_error)
    assert isinstance(source, ChatSource)
    source.start()
    assert source.join(10)
    assert sink.texts == ["one", "three", "four", "five"]
    assert sink.messages[-1].time == T0 + 5
    assert len(sink.errors) == 2
    assert sink.errors[0].startswith(f"{path}:3: role: ") and "'shopper'" in sink.errors[0]
    assert sink.errors[1].startswith(f"{path}:4: not valid JSON")
    health = source.health()
    assert health["messages"] == 4 and health["errors"] == 2 and health["done"]
    assert health["last_error"] == sink.errors[-1]


def test_jsonl_rooms_filter(tmp_path: Path):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(msg(room=r, text=r)) + "\n" for r in ["a", "b", "a", "c"]))
    sink = Sink()
    source = JsonlChatSource(path, sink.on_message, sink.on_error, rooms=["a", "c"])
    source.start()
    assert source.join(10)
    assert sink.texts == ["a", "a", "c"] and not sink.errors
    assert source.health()["filtered"] == 1


def test_jsonl_follow_picks_up_appended_and_partial_lines(tmp_path: Path):
    path = tmp_path / "live.jsonl"
    path.write_text(json.dumps(msg(text="before")) + "\n")
    sink = Sink()
    source = JsonlChatSource(path, sink.on_message, sink.on_error, follow=True, poll=0.02)
    source.start()
    try:
        assert sink.wait(lambda s: s.texts == ["before"])
        line = json.dumps(msg(text="appended"))
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line[:20])  # a writer caught mid-line: nothing yet
            handle.flush()
            time.sleep(0.2)
            assert sink.texts == ["before"] and not sink.errors
            handle.write(line[20:] + "\n")
            handle.write("oops\n")
            handle.write(json.dumps(msg(text="after bad")) + "\n")
        assert sink.wait(lambda s: s.texts == ["before", "appended", "after bad"])
        assert sink.errors == [f"{path}:3: not valid JSON (Expecting value at column 1)"]
        assert source.health()["connected"]
        # truncated and rewritten (log rotation with copytruncate): starts over
        path.write_text(json.dumps(msg(text="fresh")) + "\n")
        assert sink.wait(lambda s: s.texts[-1] == "fresh")
        # renamed away and a new file created (log rotation with create)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(msg(text="last words")))  # no newline: complete once the file moves on
        path.rename(tmp_path / "live.jsonl.1")
        path.write_text(json.dumps(msg(text="new file")) + "\n")
        assert sink.wait(lambda s: s.texts[-2:] == ["last words", "new file"])
        assert source.health()["reconnects"] == 2 and len(sink.errors) == 1
    finally:
        source.stop()
    assert not source._thread.is_alive()


def test_jsonl_follow_waits_for_the_file(tmp_path: Path):
    path = tmp_path / "later.jsonl"
    sink = Sink()
    source = JsonlChatSource(path, sink.on_message, sink.on_error, follow=True, poll=0.02)
    source.start()
    try:
        time.sleep(0.1)
        assert not source.health()["connected"]
        path.write_text(json.dumps(msg(text="hi")) + "\n")
        assert sink.wait(lambda s: s.texts == ["hi"])
    finally:
        source.stop()
    with pytest.raises(FileNotFoundError):
        JsonlChatSource(tmp_path / "missing.jsonl", sink.on_message).start()


# ------------------------------------------------------------------ websocket


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChatServer:
    """A real websocket chat server in a thread: every client gets `frames`, then the connection stays open."""

    def __init__(self, port: int, frames: list[str]):
        self.frames = frames
        self.closing = threading.Event()
        self.server = serve(self._handler, "127.0.0.1", port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handler(self, connection) -> None:
        for frame in self.frames:
            connection.send(frame)
        self.closing.wait()

    def stop(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.thread.join(5)


def test_websocket_delivers_reconnects_and_filters_rooms():
    port = free_port()
    url = f"ws://127.0.0.1:{port}/chat"
    first = [
        json.dumps(msg(text="ws1")),
        "not json",  # message 2
        json.dumps([msg(text="ws2"), msg(text="elsewhere", room="other"), msg(text="bad", time_=None)]),
    ]
    server = ChatServer(port, first)
    sink = Sink()
    source = WebsocketChatSource(url, sink.on_message, sink.on_error, rooms={"deals"}, initial_backoff=0.1)
    source.start()
    try:
        assert sink.wait(lambda s: s.texts == ["ws1", "ws2"] and len(s.errors) == 2)
        assert sink.errors[0] == f"{url} message 2: not valid JSON (Expecting value at column 1)"
        assert sink.errors[1].startswith(f"{url} message 3 item 2: time: ")
        health = source.health()
        assert health["connected"] and health["state"] == "live" and health["reconnects"] == 0
        assert health["filtered"] == 1 and health["messages"] == 2 and health["errors"] == 2

        server.stop()  # the server goes away ...
        assert wait_until(lambda: not source.health()["connected"], 5)
        assert any("reconnecting" in e for e in sink.errors)
        time.sleep(0.3)  # ... refused connections in between ...
        server = ChatServer(port, [json.dumps(msg(text="ws3", time_="2026-01-01T10:00:03Z"))])  # ... and comes back
        assert sink.wait(lambda s: s.texts == ["ws1", "ws2", "ws3"])
        health = source.health()
        assert health["connected"] and health["reconnects"] == 1 and health["messages"] == 3
        assert sink.messages[-1].time == T0 + 3
    finally:
        started = time.monotonic()
        source.stop()
        assert time.monotonic() - started < 3
        server.stop()
    assert source.health()["state"] == "stopped" and not source._thread.is_alive()


def test_websocket_consumer_exception_does_not_stop_the_feed():
    port = free_port()
    server = ChatServer(port, [json.dumps(msg(text=t)) for t in ["ok1", "boom", "ok2"]])
    seen: list[str] = []
    errors: list[str] = []

    def on_message(message: ChatMessage) -> None:
        if message.text == "boom":
            raise ValueError("queue full")
        seen.append(message.text)

    source = WebsocketChatSource(f"ws://127.0.0.1:{port}", on_message, errors.append)
    source.start()
    try:
        assert wait_until(lambda: seen == ["ok1", "ok2"], 10)
        assert errors == [f"ws://127.0.0.1:{port} message 2: on_message failed: ValueError: queue full"]
    finally:
        source.stop()
        server.stop()


# ------------------------------------------------------------------ HTTP


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
