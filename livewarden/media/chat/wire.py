"""Chat ingest: a room's live chat as `ChatMessage`s, from a JSONL file, a websocket or HTTP.

Wire format — one JSON object per message (README "Feeding chat")::

    {"room": "deal-hunter", "time": 1767261600.25, "author": "kim", "role": "seller", "text": "rep 1:1 here"}

* ``room``   non-empty string: the room id of the registry.
* ``time``   when the message was sent: Unix epoch seconds (int/float, or a numeric
  string) or an ISO-8601 string WITH a zone (``2026-01-01T10:00:00Z``,
  ``...+08:00``). A zone-less ISO time is refused rather than guessed (an eight-hour
  error is silent), and so is a number that looks like epoch *milliseconds*.
* ``author`` non-empty string.
* ``role``   ``seller`` | ``moderator`` | ``viewer`` (case-insensitive). Absent or
  null means ``viewer``: a line is only read as the seller's offer when the feed
  says the seller wrote it.
* ``text``   string (may be empty).
* Other fields are ignored, so a platform's own event objects can be sent as they are.

Every adapter runs in its own thread and calls ``on_message(ChatMessage)`` from that
thread (keep it quick: hand the message to a queue). A bad line is reported through
``on_error(str)`` — the text names where (``file:line``, ``URL message N`` or
``POST /chat item I``), the field and why — and skipped; it never stops the feed
and never loses messages already accepted. An exception raised by ``on_message``
is reported the same way. ``rooms`` keeps only messages of those room ids
(``None`` = all); the others are counted as ``filtered`` in ``health()``.

`HttpChatIngest` lives in `livewarden.media.chat_http` (it needs FastAPI/uvicorn)
and is importable from here too.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from livewarden.media.sources import redact
from livewarden.model import ROLES, ChatMessage

log = logging.getLogger(__name__)

DEFAULT_ROLE = "viewer"
#: Epoch seconds above this (year 5138) are epoch milliseconds sent by mistake.
_MAX_EPOCH = 1e11
#: A JSONL line or websocket frame longer than this is refused (a runaway writer, not chat).
MAX_LINE_BYTES = 1 << 20

OnMessage = Callable[[ChatMessage], Any]
OnError = Callable[[str], Any]


class DeliveryError(RuntimeError):
    """``on_message`` raised for a valid message; ``reason`` says what it raised."""

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class ChatFormatError(ValueError):
    """A chat item that is not a valid message.

    ``str(error)`` is ``"<where>: <field>: <reason>[; <field>: <reason>...]"``;
    ``problems`` holds the ``(field, reason)`` pairs (field is ``None`` when the
    item as a whole is wrong, e.g. not JSON or not an object).
    """

    def __init__(self, where: str, problems: list[tuple[str | None, str]]):
        self.where = where
        self.problems = problems
        text = "; ".join(f"{field}: {reason}" if field else reason for field, reason in problems)
        super().__init__(f"{where}: {text}")


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_JSON_TYPES = {bool: "boolean", str: "string", dict: "object", list: "array", int: "number", float: "number"}


def _got(value: Any) -> str:
    """"got <JSON type> <value>" for error messages."""
    if value is None:
        return "got null"
    return f"got {_JSON_TYPES.get(type(value), type(value).__name__)} {_show(value)}"


def parse_time(value: Any) -> float:
    """Epoch seconds from a number, a numeric string or a zoned ISO-8601 string; ValueError says why not."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be epoch seconds or an ISO-8601 string, {_got(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"{_show(value)} is neither epoch seconds nor an ISO-8601 time") from None
            if parsed.tzinfo is None:
                raise ValueError(f"ISO time {_show(value)} has no zone; add Z or an offset such as +08:00") from None
            return parsed.timestamp()
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{_show(value)} is not a time (must be finite, >= 0)")
    if seconds > _MAX_EPOCH:
        raise ValueError(f"{_show(value)} looks like epoch milliseconds; send seconds")
    return seconds


FEED_SOURCES = ("chat", "speech")  # "speech": captions or an external ASR text stream sent over the same feeds


def parse_message(obj: Any, where: str) -> ChatMessage:
    """Validate one wire-format message (a dict decoded from JSON) into a `ChatMessage`.

    Raises `ChatFormatError` naming `where`, every wrong field and why.
    """
    if not isinstance(obj, dict):
        raise ChatFormatError(where, [(None, f"expected a JSON object, {_got(obj)}")])
    problems: list[tuple[str | None, str]] = []
    values: dict[str, Any] = {}

    for name in ("room", "author"):
        value = obj.get(name)
        if name not in obj:
            problems.append((name, "missing"))
        elif not isinstance(value, str):
            problems.append((name, f"must be a string, {_got(value)}"))
        elif not value.strip():
            problems.append((name, "is empty"))
        else:
            values[name] = value.strip()

    if "time" not in obj:
        problems.append(("time", "missing"))
    else:
        try:
            values["time"] = parse_time(obj["time"])
        except ValueError as error:
            problems.append(("time", str(error)))

    source = obj.get("source", "chat")
    if source not in FEED_SOURCES:
        problems.append(("source", f"{_show(source) if isinstance(source, str) else _got(source)} is not one of "
                                   f"{', '.join(FEED_SOURCES)}"))
    values["source"] = source

    role = obj.get("role")
    if role is None:
        values["role"] = "seller" if source == "speech" else DEFAULT_ROLE  # captions are the broadcaster's words
    elif not isinstance(role, str):
        problems.append(("role", f"must be one of {', '.join(ROLES)}, {_got(role)}"))
    elif role.strip().lower() not in ROLES:
        problems.append(("role", f"{_show(role)} is not one of {', '.join(ROLES)}"))
    else:
        values["role"] = role.strip().lower()

    text = obj.get("text")
    if "text" not in obj:
        problems.append(("text", "missing"))
    elif not isinstance(text, str):
        problems.append(("text", f"must be a string, {_got(text)}"))
    else:
        values["text"] = text

    if problems:
        raise ChatFormatError(where, problems)
    return ChatMessage(room_id=values["room"], time=values["time"], author=values["author"],
                       role=values["role"], text=values["text"], source=values["source"])


@runtime_checkable
class ChatSource(Protocol):
    """What every chat adapter offers; messages go to the ``on_message`` given to its constructor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def health(self) -> dict[str, Any]: ...


class _Feed:
    """Shared plumbing: validation, room filter, callbacks that cannot kill the feed, health counters."""

    def __init__(self, on_message: OnMessage, on_error: OnError | None, rooms: Iterable[str] | None):
        self._on_message = on_message
        self._on_error = on_error
        self.rooms = frozenset(rooms) if rooms is not None else None
        self._lock = threading.Lock()
        self._stats: dict[str, Any] = {"connected": False, "messages": 0, "errors": 0, "filtered": 0,
                                       "last_error": None, "reconnects": 0}

    def health(self) -> dict[str, Any]:
        """connected, messages (delivered), errors, last_error, reconnects, filtered (other rooms)."""
        with self._lock:
            return dict(self._stats)

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._stats.update(values)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    def _error(self, text: str, *, count: bool = True) -> None:
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
        """One JSONL line / websocket frame: a JSON object or a JSON array of them; report problems, never raise."""
        if isinstance(raw, bytes):
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                self._error(f"{where}: not UTF-8 ({error.reason} at byte {error.start})")
                return
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            self._error(f"{where}: not valid JSON ({error.msg} at column {error.colno})")
            return
        items = data if isinstance(data, list) else [data]
        for i, item in enumerate(items):
            item_where = f"{where} item {i}" if isinstance(data, list) else where
            try:
                self._deliver_item(item, item_where)
            except (ChatFormatError, DeliveryError) as error:
                self._error(str(error))


class JsonlChatSource(_Feed):
    """Messages from a JSONL file (one message, or an array of them, per line).

    ``follow=False`` reads the file once (a last line without newline counts) and
    ends — `join()` waits for that. ``follow=True`` keeps tailing it like
    ``tail -F``: it waits for the file to appear, holds back a partial last line
    until its newline arrives, and starts over when the file is truncated or
    replaced (rotation). ``start_at_end=True`` skips what is already in the file.
    Blank lines are skipped; errors name ``path:line``.
    """

    def __init__(self, path: str | os.PathLike, on_message: OnMessage, on_error: OnError | None = None,
                 follow: bool = False, rooms: Iterable[str] | None = None, *, poll: float = 0.1,
                 start_at_end: bool = False):
        super().__init__(on_message, on_error, rooms)
        self.path = Path(path)
        self.follow = follow
        self.poll = poll
        self.start_at_end = start_at_end
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._set(path=str(self.path), lines=0, done=False)

    def start(self) -> None:
        """Start the reader thread. Without follow, a missing file raises FileNotFoundError here."""
        if self._thread is not None:
            raise RuntimeError("JsonlChatSource already started")
        if not self.follow and not self.path.is_file():
            raise FileNotFoundError(f"chat file not found: {self.path}")
        self._thread = threading.Thread(target=self._run, name=f"chat-jsonl:{self.path.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the reader to finish (the end of the file without follow); True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _line(self, raw: bytes, lineno: int) -> None:
        self._set(lines=lineno)
        raw = raw.rstrip(b"\r")
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            return
        self._handle_text(raw, f"{self.path}:{lineno}")

    def _open(self, first: bool):
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return None
        except OSError as error:
            self._error(f"{self.path}: cannot open: {error}", count=False)
            return None
        if first and self.start_at_end:
            handle.seek(0, os.SEEK_END)
        self._set(connected=True)
        return handle

    def _run(self) -> None:
        handle = None
        buffer = b""
        lineno = 0
        skipping = False  # inside an over-long line, dropping bytes up to its newline
        opened_once = False
        try:
            while not self._stop.is_set():
                if handle is None:
                    handle = self._open(first=not opened_once)
                    if handle is None:
                        if not self.follow:
                            self._error(f"{self.path}: file disappeared", count=False)
                            return
                        self._stop.wait(self.poll)
                        continue
                    if opened_once:
                        self._count("reconnects")
                    opened_once = True
                chunk = handle.read(1 << 16)
                if chunk:
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for raw in lines:
                        lineno += 1
                        if skipping:
                            skipping = False
                            continue
                        self._line(raw, lineno)
                    if len(buffer) > MAX_LINE_BYTES:  # drop it up to its newline, reported once
                        if not skipping:
                            self._error(f"{self.path}:{lineno + 1}: line longer than {MAX_LINE_BYTES} bytes, skipped")
                        buffer, skipping = b"", True
                    continue
                # at the end of what is written so far
                if not self.follow:
                    if buffer and not skipping:
                        self._line(buffer, lineno + 1)
                    return
                replaced = False
                try:
                    now = os.stat(self.path)
                    ours = os.fstat(handle.fileno())
                    if (now.st_ino, now.st_dev) != (ours.st_ino, ours.st_dev):
                        replaced = True
                    elif now.st_size < handle.tell():  # truncated in place
                        handle.seek(0)
                        buffer, lineno, skipping = b"", 0, False
                        self._count("reconnects")
                        continue
                except FileNotFoundError:
                    pass  # moved away, the new one not created yet: keep the old one until it is
                if replaced:
                    if buffer and not skipping:  # the writer moved on: its last partial line is complete
                        self._line(buffer, lineno + 1)
                    handle.close()
                    handle, buffer, lineno, skipping = None, b"", 0, False
                    self._set(connected=False)
                    continue
                self._stop.wait(self.poll)
        except Exception as error:  # never die silently
            self._error(f"{self.path}: reader failed: {type(error).__name__}: {error}", count=False)
            log.exception("chat reader %s failed", self.path)
        finally:
            if handle is not None:
                handle.close()
            self._set(connected=False, done=True)


class WebsocketChatSource(_Feed):
    """Messages from a websocket that sends one JSON message (or a JSON array) per frame.

    Reconnects with exponential backoff and jitter (``initial_backoff`` doubling up
    to ``max_backoff``, 10 s) whenever the server refuses, drops or closes the
    connection; the backoff starts over once a connection has delivered a frame.
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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws = None
        self._frames = 0
        self._set(url=self.safe_url, state="connecting", frames=0)

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("WebsocketChatSource already started")
        self._thread = threading.Thread(target=self._run, name=f"chat-ws:{self.safe_url}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Close the connection and end the thread (within about a second)."""
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()
            except Exception:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._set(state="stopped", connected=False)

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        delay = self.initial_backoff
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
                delay = self.initial_backoff
            self._set(state="reconnecting")
            self._stop.wait(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_backoff)
        self._set(state="stopped", connected=False)


def __getattr__(name: str):  # HttpChatIngest without importing FastAPI for the file/websocket users
    if name == "HttpChatIngest":
        from livewarden.media.chat.http import HttpChatIngest

        return HttpChatIngest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChatFormatError", "ChatSource", "HttpChatIngest", "JsonlChatSource", "WebsocketChatSource",
           "parse_message", "parse_time", "DEFAULT_ROLE"]
