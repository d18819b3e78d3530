"""The JSONL feed through a real file: read once, and tailed through appends, truncation and rotation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from livewarden.media.chat.feed import ChatSource
from livewarden.media.chat.jsonl import JsonlChatSource

from .conftest import T0, Sink, msg


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
