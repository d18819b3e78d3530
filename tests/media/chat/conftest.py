"""What the chat tests share: a message maker, a recording sink, waiting helpers, a free port, a websocket server.

Plain helpers, imported as ``from .conftest import ...`` (and by other tests as ``tests.media.chat.conftest``).
"""

from __future__ import annotations

import socket
import threading
import time

from websockets.sync.server import serve

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
