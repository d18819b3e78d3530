"""What every chat feed shares: its thread, the rooms filter, health counters, and delivery that cannot kill it.

Every feed runs in its own thread and calls ``on_message(ChatMessage)`` from that
thread (keep it quick: hand the message to a queue). A bad item is reported through
``on_error(str)`` — the text names where (``file:line``, ``URL message N`` or
``POST /chat item I``), the field and why — and skipped; it never stops the feed and
never loses messages already accepted. An exception raised by ``on_message`` is
reported the same way. ``rooms`` keeps only messages of those room ids (``None`` =
all); the others are counted as ``filtered`` in ``health()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any, Protocol, runtime_checkable

from livewarden.media.chat.wire import ChatFormatError, DeliveryError, decode_frame, parse_message
from livewarden.model import ChatMessage

log = logging.getLogger(__name__)

OnMessage = Callable[[ChatMessage], Any]
OnError = Callable[[str], Any]


@runtime_checkable
class ChatSource(Protocol):
    """What every chat feed offers; messages go to the ``on_message`` given to its constructor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class ChatFeed:
    """The base of the feeds: subclasses give `_run` (the thread's work) and `_thread_name`.

    `start` runs `_prepare` first (what must fail in the caller's thread: a missing
    file, a port in use), then `_run` in a daemon thread. `stop` sets `_stop`, calls
    `_interrupt` (to wake a `_run` blocked in I/O) and waits for the thread.
    """

    def __init__(self, on_message: OnMessage, on_error: OnError | None, rooms: Iterable[str] | None):
        self._on_message = on_message
        self._on_error = on_error
        self.rooms = frozenset(rooms) if rooms is not None else None
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {"connected": False, "messages": 0, "errors": 0, "filtered": 0,
                                       "last_error": None, "reconnects": 0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- thread

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} already started")
        self._prepare()
        self._thread = threading.Thread(target=self._run, name=self._thread_name(), daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the feed's thread to end and wait for it (at most `timeout` seconds)."""
        self._stop.set()
        self._interrupt()
        self.join(timeout)
        self._set(connected=False)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the feed's thread to end (a file read to its end, or after `stop`); True if it has."""
        thread = self._thread
        if thread is None:
            return True
        if thread is not threading.current_thread():
            thread.join(timeout)
        return not thread.is_alive()

    def _prepare(self) -> None:
        """Checks and set-up that must raise in `start`, before the thread exists."""

    def _run(self) -> None:
        raise NotImplementedError

    def _thread_name(self) -> str:
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Wake a `_run` that is blocked, once `_stop` is set."""

    # ---------------------------------------------------------------- health

    def health(self) -> dict[str, Any]:
        """connected, messages (delivered), errors, last_error, reconnects, filtered (other rooms), and the feed's own."""
        with self._lock:
            return dict(self._stats)

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._stats.update(values)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _error(self, text: str, *, count: bool = True) -> None:
        """Report through on_error (or the log); `count=False` for outages, which are not bad messages."""
        with self._lock:
            if count:
                self._stats["errors"] += 1
            self._stats["last_error"] = text
        if self._on_error is None:
            log.warning("%s", text)
            return
        try:
            self._on_error(text)
        except Exception:  # a broken error handler must not stop the feed either
            log.exception("chat on_error failed for: %s", text)

    # ---------------------------------------------------------------- delivery

    def _deliver_item(self, obj: Any, where: str) -> str:
        """Validate, filter and hand over one decoded item: "delivered", "filtered", or raise.

        Raises ChatFormatError (bad item) or DeliveryError (on_message failed); the
        error is NOT reported here, so HTTP can also put it in its answer.
        """
        message = parse_message(obj, where)
        if self.rooms is not None and message.room_id not in self.rooms:
            self._count("filtered")
            return "filtered"
        try:
            self._on_message(message)
        except Exception as error:
            raise DeliveryError(where, f"on_message failed: {type(error).__name__}: {error}") from error
        self._count("messages")
        return "delivered"

    def _handle_text(self, raw: bytes | str, where: str) -> None:
        """One JSONL line / websocket frame: deliver its items, report its problems, never raise."""
        try:
            items = decode_frame(raw, where)
        except ChatFormatError as error:
            self._error(str(error))
            return
        for item, item_where in items:
            try:
                self._deliver_item(item, item_where)
            except (ChatFormatError, DeliveryError) as error:
                self._error(str(error))
