"""The chat wire format: what one message looks like, and why an item is refused.

One JSON object per message (README "Feeding chat")::

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
* ``source`` optional, ``chat`` (default) or ``speech`` (captions or an external ASR
  stream of the broadcast; without a role such a line is the seller's).
* Other fields are ignored, so a platform's own event objects can be sent as they are.

A JSONL line or a websocket frame holds one such object or a JSON array of them
(`decode_frame`). Pure functions only: no threads, no I/O, nothing beyond the
standard library and `livewarden.model`, so every feed and every test can use it.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from livewarden.model import ROLES, ChatMessage

DEFAULT_ROLE = "viewer"
FEED_SOURCES = ("chat", "speech")  # "speech": captions or an external ASR text stream sent over the same feeds
#: Epoch seconds above this (year 5138) are epoch milliseconds sent by mistake.
_MAX_EPOCH = 1e11
#: A JSONL line or websocket frame longer than this is refused (a runaway writer, not chat).
MAX_LINE_BYTES = 1 << 20


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


class DeliveryError(RuntimeError):
    """``on_message`` raised for a valid message; ``reason`` says what it raised.

    Not the sender's fault, so kept apart from `ChatFormatError` (HTTP answers 500, not 422).
    """

    def __init__(self, where: str, reason: str):
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


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


def decode_json(raw: bytes | str) -> Any:
    """The JSON value of one line or frame; ValueError says why not (not UTF-8, not valid JSON)."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None


def decode_frame(raw: bytes | str, where: str) -> list[tuple[Any, str]]:
    """The items of one JSONL line / websocket frame (an object, or an array of them), each with its `where`.

    The items are not validated yet (`parse_message` does that one by one, so one bad
    item does not cost its neighbours); a frame that is not JSON raises `ChatFormatError`.
    """
    try:
        data = decode_json(raw)
    except ValueError as error:
        raise ChatFormatError(where, [(None, str(error))]) from None
    if isinstance(data, list):
        return [(item, f"{where} item {i}") for i, item in enumerate(data)]
    return [(data, where)]
