"""Chat from a websocket (a platform's live-chat socket, or a bridge), reconnecting until stopped.

The `websockets` client is imported when the feed's thread starts, not with this module.
"""

from __future__ import annotations

from collections.abc import Iterable

from livewarden.media.backoff import Backoff
from livewarden.media.chat.feed import ChatFeed, OnError, OnMessage
from livewarden.media.chat.wire import MAX_LINE_BYTES
from livewarden.media.sources import redact


class WebsocketChatSource(ChatFeed):
    """Messages from a websocket that sends one JSON message (or a JSON array) per frame.

    Reconnects with exponential backoff and jitter (`Backoff`: ``initial_backoff``
    doubling up to ``max_backoff``, 10 s) whenever the server refuses, drops or closes
    the connection; the backoff starts over once a connection has delivered a frame.
    ``health()`` adds ``state`` (connecting/live/reconnecting/stopped), ``url``
    (without secrets) and ``frames``. Errors name ``URL message N`` (N counts the
    frames since `start`, 1-based); a frame over 1 MiB makes the client close the
    connection (1009) and reconnect. Each outage is reported once through
    ``on_error`` (not counted in ``errors``, which counts bad messages).
    """

    def __init__(self, url: str, on_message: OnMessage, on_error: OnError | None = None,
                 rooms: Iterable[str] | None = None, *, initial_backoff: float = 0.25,
                 max_backoff: float = 10.0, open_timeout: float = 5.0,
                 headers: dict[str, str] | None = None):
        super().__init__(on_message, on_error, rooms)
        self.url = url
        self.safe_url = redact(url)
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.headers = headers
        self._backoff = Backoff(initial_backoff, max_backoff)
        self._ws = None
        self._frames = 0
        self._set(url=self.safe_url, state="connecting", frames=0)

    def _thread_name(self) -> str:
        return f"chat-ws:{self.safe_url}"

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection and end the thread (within about a second)."""
        super().stop(timeout)
        self._set(state="stopped")

    def _interrupt(self) -> None:
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        connections = 0
        in_outage = False
        while not self._stop.is_set():
            got_frame = opened = False
            try:
                with connect(self.url, open_timeout=self.open_timeout, close_timeout=1,
                             max_size=MAX_LINE_BYTES, additional_headers=self.headers) as ws:
                    opened = True
                    self._ws = ws
                    connections += 1
                    in_outage = False
                    self._set(connected=True, state="live", reconnects=max(0, connections - 1))
                    while not self._stop.is_set():
                        try:
                            frame = ws.recv(timeout=0.5)
                        except TimeoutError:
                            continue
                        got_frame = True
                        self._frames += 1
                        self._set(frames=self._frames)
                        self._handle_text(frame, f"{self.safe_url} message {self._frames}")
            except Exception as error:
                if not self._stop.is_set():
                    if not opened:
                        reason = f"{self.safe_url}: cannot connect: {type(error).__name__}: {error}"
                    elif isinstance(error, ConnectionClosed):
                        reason = f"{self.safe_url}: connection closed ({error}); reconnecting"
                    else:
                        reason = f"{self.safe_url}: connection failed: {type(error).__name__}: {error}; reconnecting"
                    if in_outage:  # one report per outage; later attempts only update health
                        self._set(last_error=reason)
                    else:
                        self._error(reason, count=False)
                        in_outage = True
            finally:
                self._ws = None
                self._set(connected=False)
            if self._stop.is_set():
                break
            if got_frame:
                self._backoff.reset()
            self._set(state="reconnecting")
            self._stop.wait(self._backoff.next())
        self._set(state="stopped", connected=False)
