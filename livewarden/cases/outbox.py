"""The webhook sender: works off the outbox (`DeliveryRow`) that `append_event` fills in the event's transaction.

At least once, never lost: a delivery row leaves "pending" only when a receiver answered 2xx, answered
410 Gone (the subscription is then switched off), or kept failing for the whole retry period (24 h by
default). Several senders (threads or processes) may share one store: a sender claims a batch in one write
transaction by moving its rows' `next_at` a lease ahead, sends outside any transaction, and writes each
result only if the row still holds its claim. A sender that dies mid-send leaves its rows to be taken again
when the lease runs out, so the receiver may see a message twice, always with the same `webhook-id`.

    sender = WebhookSender(store.engine)
    sender.start()          # polls every 0.5 s; sender.poke() after a commit sends at once
    ...
    sender.stop()
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from livewarden import webhooks
from livewarden.cases import db
from livewarden.cases.events import event_json
from livewarden.cases.schema import DeliveryRow, EventRow, WebhookRow
from livewarden.media.backoff import Backoff

log = logging.getLogger(__name__)

RETRY_FOR_S = 24 * 3600.0


@dataclass(frozen=True)
class _Job:
    """One claimed delivery, copied out of the claim transaction (no rows cross into the send)."""

    id: int
    claim: float  # the next_at we wrote when claiming: the result is written only while it is still there
    attempts: int
    webhook_id: int
    url: str
    secrets: tuple[str, ...]
    msg_id: str
    body: bytes
    event_at: float


class WebhookSender:
    """Sends due outbox rows to their subscriptions, oldest first, `batch` at a time, `concurrency` in flight.

    Retries back off exponentially from `initial_s` to at most `max_s` between tries, with jitter, for at
    least `retry_for_s` after the event. `lease_s` must outlast the sending of a batch (every request
    timing out), or a slow batch could be claimed again and sent twice while it is still in flight.
    """

    def __init__(self, engine: Engine, *, client: httpx.Client | None = None, clock: Callable[[], float] = time.time,
                 batch: int = 32, concurrency: int = 8, timeout_s: float = 10.0, lease_s: float = 60.0,
                 initial_s: float = 5.0, max_s: float = 3600.0, retry_for_s: float = RETRY_FOR_S,
                 poll_s: float = 0.5, rng: random.Random | None = None):
        if lease_s <= timeout_s * math.ceil(batch / concurrency):
            raise ValueError(f"lease_s {lease_s} does not outlast a batch of {batch} timing out "
                             f"({concurrency} at a time, {timeout_s} s each)")
        self.engine = engine
        self._writer = db.writer(engine)
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.clock = clock
        self.batch, self.concurrency, self.lease_s = batch, concurrency, lease_s
        self.initial_s, self.max_s, self.retry_for_s = initial_s, max_s, retry_for_s
        self.poll_s = poll_s
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="webhook-send")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round -------------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Claim one batch of due deliveries, send them, record the results; returns how many were handled."""
        jobs, dropped = self._claim()
        results = list(self._pool.map(self._send, jobs))
        if jobs:
            self._record(jobs, results)
        return len(jobs) + dropped

    def _claim(self) -> tuple[list[_Job], int]:
        now = self.clock()
        jobs, dropped = [], 0
        with Session(self._writer) as s, s.begin():
            # FOR UPDATE SKIP LOCKED where the database has it (PostgreSQL); SQLite's BEGIN IMMEDIATE
            # already makes this transaction the only writer
            rows = s.execute(
                select(DeliveryRow, EventRow, WebhookRow)
                .outerjoin(EventRow, EventRow.id == DeliveryRow.event_id)
                .outerjoin(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
                .where(DeliveryRow.state == "pending", DeliveryRow.next_at <= now)
                .order_by(DeliveryRow.next_at, DeliveryRow.id)
                .limit(self.batch)
                .with_for_update(of=DeliveryRow, skip_locked=True)).all()
            for delivery, event, hook in rows:
                if event is None or hook is None or not hook.active or not hook.secrets:
                    why = ("event is gone" if event is None else "subscription is gone" if hook is None
                           else f"subscription disabled: {hook.disabled_reason or 'inactive'}" if not hook.active
                           else "subscription has no secret")
                    delivery.state, delivery.last_error, delivery.updated_at = "failed", why[:512], now
                    dropped += 1
                    continue
                delivery.next_at = now + self.lease_s
                jobs.append(_Job(delivery.id, delivery.next_at, delivery.attempts, hook.id, hook.url,
                                 tuple(hook.secrets), f"evt_{event.id}",
                                 json.dumps(event_json(event), separators=(",", ":")).encode(), event.at))
        return jobs, dropped

    def _send(self, job: _Job) -> tuple[int | None, str | None]:
        """POST one message: (HTTP status or None, error text or None). Error texts never hold a secret."""
        try:
            sent = webhooks.headers(job.secrets, job.msg_id, int(self.clock()), job.body)
            response = self.client.post(job.url, content=job.body,
                                        headers={**sent, "content-type": "application/json"})
        except Exception as exc:  # timeouts, refused connections, bad URLs: all worth a retry, none fatal
            return None, f"{type(exc).__name__}: {exc}"[:512]
        status = response.status_code
        return status, None if 200 <= status < 300 else f"HTTP {status}"

    def _record(self, jobs: list[_Job], results: list[tuple[int | None, str | None]]) -> None:
        now = self.clock()
        with Session(self._writer) as s, s.begin():
            for job, (status, error) in zip(jobs, results):
                values: dict[str, Any] = {"attempts": job.attempts + 1, "last_status": status,
                                          "last_error": error, "updated_at": now}
                if status is not None and 200 <= status < 300:
                    values["state"] = "delivered"
                elif status == 410:
                    values["state"] = "failed"
                elif now - job.event_at >= self.retry_for_s:
                    values["state"] = "failed"
                else:
                    values["next_at"] = now + self._delay(job.attempts + 1)
                claimed = s.execute(update(DeliveryRow)
                                    .where(DeliveryRow.id == job.id, DeliveryRow.state == "pending",
                                           DeliveryRow.next_at == job.claim)
                                    .values(**values))
                if status == 410:  # after the row's own result: disabling fails what is still pending
                    self._disable(s, job.webhook_id, now)
                if claimed.rowcount == 0:
                    log.info("webhook delivery %s: claim lost (lease ran out); the other sender's result stands",
                             job.id)
                elif error:
                    log.info("webhook delivery %s to subscription %s: %s", job.id, job.webhook_id, error)

    def _disable(self, s: Session, webhook_id: int, now: float) -> None:
        """410 Gone: the receiver asks for no more; switch the subscription off and drop what is queued for it."""
        reason = f"receiver answered 410 Gone at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now))}"
        s.execute(update(WebhookRow).where(WebhookRow.id == webhook_id, WebhookRow.active.is_(True))
                  .values(active=False, disabled_reason=reason))
        s.execute(update(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id, DeliveryRow.state == "pending")
                  .values(state="failed", last_error="subscription disabled: 410 Gone", updated_at=now))

    def _delay(self, attempts: int) -> float:
        """Seconds before try `attempts + 1`: initial_s, doubling, at most max_s; jittered like the reconnect loops."""
        base = min(self.initial_s * 2.0 ** (attempts - 1), self.max_s)
        return Backoff(base, self.max_s, rng=self._rng).next()

    # -- the delivery log ------------------------------------------------------------------------------

    def deliveries(self, webhook_id: int, limit: int = 50) -> list[dict[str, Any]]:
        """A subscription's deliveries, newest first, as the API shows them."""
        with Session(self.engine) as s:
            rows = s.scalars(select(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id)
                             .order_by(DeliveryRow.id.desc()).limit(limit))
            return [{"id": r.id, "event_id": r.event_id, "webhook_id": r.webhook_id, "state": r.state,
                     "attempts": r.attempts, "next_at": r.next_at if r.state == "pending" else None,
                     "last_status": r.last_status, "last_error": r.last_error, "updated_at": r.updated_at}
                    for r in rows]

    # -- the background thread -------------------------------------------------------------------------

    def start(self) -> None:
        """Send in a background thread until `stop()`."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="webhook-sender", daemon=True)
            self._thread.start()

    def poke(self) -> None:
        """Something was committed: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread (after the batch in hand) and release the client and the pool; a sender stops once."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._pool.shutdown(wait=True)
        if self._own_client:
            self.client.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                full = self.run_once() >= self.batch
            except Exception:  # a locked or unreachable database: say so, wait, try again
                log.exception("webhook sender: round failed")
                full = False
            if not full:  # a full batch means more are probably due: go straight on
                self._wake.wait(self.poll_s)
                self._wake.clear()
