"""The live feed (server-sent events): one reader of the event log for every subscriber.

A single task reads the events committed since the last look (every `poll_s` while anyone is subscribed, every
`idle_poll_s` while no one is; by any process writing to the store) into a window in memory and wakes the
subscribers; each one sends what its caller may see. A client
that reconnects with `Last-Event-ID` older than the window is served the gap from the store first, so it
misses nothing however long it was away.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any, AsyncIterator

from starlette.concurrency import run_in_threadpool

from livewarden.cases.scope import Principal

HEARTBEAT_S = 15.0


class EventFeed:
    def __init__(self, platform: Any, poll_s: float = 0.05, window: int = 5000, idle_poll_s: float = 1.0):
        self.platform, self.poll_s, self.idle_poll_s = platform, poll_s, idle_poll_s
        self.window: deque[dict[str, Any]] = deque(maxlen=window)  # events with their scope, oldest first
        self.last_id = 0
        # set (and replaced by a fresh one) when new events came in: subscribers wait on the one they hold
        self._tick: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        # 20 reads a second with no one listening were a third of an idle API server's CPU against PostgreSQL
        # (benchmarks/cluster_overhead.py): with no subscriber the feed looks every idle_poll_s, and the first
        # subscriber wakes it at once
        self.subscribers = 0
        self._wanted: asyncio.Event | None = None

    async def start(self) -> None:
        self.last_id = await run_in_threadpool(self.platform.last_event_id)
        self._tick, self._wanted = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._tail())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()

    async def _tail(self) -> None:
        while True:
            try:
                rows = await run_in_threadpool(self.platform.events_since, self.last_id)
            except Exception:  # a locked or restarting database: look again
                rows = []
            if rows:
                self.window.extend(rows)
                self.last_id = rows[-1]["id"]
                tick, self._tick = self._tick, asyncio.Event()
                tick.set()
            if self.subscribers:
                await asyncio.sleep(self.poll_s)
            else:
                try:
                    await asyncio.wait_for(self._wanted.wait(), self.idle_poll_s)
                except asyncio.TimeoutError:
                    pass
                self._wanted.clear()

    def _after(self, sent: int) -> list[dict[str, Any]]:
        """The window's events after id `sent`, oldest first, read from the new end: a wake-up costs what is
        new, not the whole window (200 subscribers x 5,000 events took more than a core)."""
        out = []
        for event in reversed(self.window):  # ids only grow: the new ones are at the right end
            if event["id"] <= sent:
                break
            out.append(event)
        return out[::-1]

    async def subscribe(self, who: Principal, after: int | None) -> AsyncIterator[str]:
        """SSE lines for this caller: the gap since `after` (None: from now), then everything as it comes."""
        self.subscribers += 1
        self._wanted.set()
        try:
            async for line in self._lines(who, after):
                yield line
        finally:
            self.subscribers -= 1

    async def _lines(self, who: Principal, after: int | None) -> AsyncIterator[str]:
        # "from now" is the store's newest event, not the window's: an idle feed may be up to idle_poll_s behind
        sent = await run_in_threadpool(self.platform.last_event_id) if after is None else after
        while sent < (self.window[0]["id"] - 1 if self.window else self.last_id):  # before the window: the store
            gap = await run_in_threadpool(self.platform.events_since, sent, 500)
            if not gap:
                break
            for event in gap:
                if who.sees(event["scope"]):
                    yield _sse(event)
            sent = gap[-1]["id"]
        yield ": connected\n\n"
        while True:
            tick = self._tick  # taken before reading: events that come in meanwhile set this one
            for event in self._after(sent):
                if who.sees(event["scope"]):
                    yield _sse(event)
                sent = event["id"]
            try:
                await asyncio.wait_for(tick.wait(), HEARTBEAT_S)
            except asyncio.TimeoutError:
                yield ": keep-alive\n\n"


def _sse(event: dict[str, Any]) -> str:
    body = {k: event[k] for k in ("id", "type", "at", "data")}
    return f"id: {event['id']}\nevent: {event['type']}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n"
