"""The websocket feed against a real websocket server that goes away and comes back."""

from __future__ import annotations

import json
import time

from livewarden.media.chat.websocket import WebsocketChatSource
from livewarden.model import ChatMessage

from .conftest import T0, ChatServer, Sink, free_port, msg, wait_until


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
