"""The wire format: a message's fields, their defaults, and errors that say where, which field and why."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from livewarden.media.chat.wire import ChatFormatError, decode_frame, parse_message
from livewarden.model import ChatMessage

from .conftest import T0, msg


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


def test_decode_frame_splits_arrays_and_names_what_is_not_json():
    assert decode_frame('{"a": 1}', "f") == [({"a": 1}, "f")]
    assert decode_frame(b'[{"a": 1}, 2]', "f") == [({"a": 1}, "f item 0"), (2, "f item 1")]
    with pytest.raises(ChatFormatError, match=r"^f: not valid JSON \(Expecting value at column 1\)$"):
        decode_frame("nope", "f")
    with pytest.raises(ChatFormatError, match=r"^f: not UTF-8 \(invalid start byte at byte 0\)$"):
        decode_frame(b"\xff{}", "f")
