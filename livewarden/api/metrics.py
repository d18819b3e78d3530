"""`/metrics` for Prometheus: the rooms' health, detector latency, alerts per rule, the review queue, webhook
deliveries and notice clocks.

Counts are read from the store when scraped (no bookkeeping on the hot path, and the same numbers whichever
process wrote them), limited to what the caller may see; the detectors' latency histograms come from the
pipeline of this process.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from livewarden.cases.schema import AlertRow, CaseRow, DeliveryRow, NoticeRow, WebhookRow
from livewarden.cases.scope import Principal, room_scope


class _Collector:
    def __init__(self, platform: Any, views: dict[str, dict], registry: Any, who: Principal):
        self.platform, self.views, self.registry, self.who = platform, views, registry, who

    def collect(self):
        yield from self._rooms()
        who, now = self.who, time.time()
        with Session(self.platform.engine) as s:
            alerts = GaugeMetricFamily("livewarden_alerts", "alerts by rule and status", labels=["rule", "status"])
            for rule, status, n in s.execute(select(AlertRow.rule, AlertRow.status, func.count())
                                             .where(who.visible(AlertRow)).group_by(AlertRow.rule, AlertRow.status)):
                alerts.add_metric([rule, status], n)
            yield alerts
            waiting = select(func.count(), func.min(CaseRow.opened_at)).where(
                who.visible(CaseRow), CaseRow.status.in_(("open", "appealed")))
            depth, oldest = s.execute(waiting).one()
            yield GaugeMetricFamily("livewarden_queue_depth", "cases waiting for review", value=depth)
            yield GaugeMetricFamily("livewarden_queue_oldest_age_seconds", "age of the oldest waiting case",
                                    value=max(0.0, now - oldest) if oldest else 0.0)
            deliveries = GaugeMetricFamily("livewarden_webhook_deliveries", "webhook deliveries by state",
                                           labels=["state"])
            for state, n in s.execute(select(DeliveryRow.state, func.count()).join(
                    WebhookRow, WebhookRow.id == DeliveryRow.webhook_id).where(
                    WebhookRow.role == who.role, WebhookRow.tenant == who.tenant).group_by(DeliveryRow.state)):
                deliveries.add_metric([state], n)
            yield deliveries
            clocks = GaugeMetricFamily("livewarden_notice_clocks", "notice clocks running and breached",
                                       labels=["state"])
            running = select(NoticeRow.due_at).join(CaseRow, CaseRow.id == NoticeRow.case_id).where(
                who.visible(CaseRow), NoticeRow.state.in_(("received", "countered")))
            dues = [d for (d,) in s.execute(running) if d is not None]
            clocks.add_metric(["running"], sum(d >= now for d in dues))
            clocks.add_metric(["breached"], sum(d < now for d in dues))
            yield clocks

    def _rooms(self):
        rooms = {r.id: r for r in (self.registry.rooms if self.registry is not None else [])}
        fps = GaugeMetricFamily("livewarden_room_fps", "frames per second decoded", labels=["room"])
        lag = GaugeMetricFamily("livewarden_room_lag_seconds", "how far behind live the room is", labels=["room"])
        speech_lag = GaugeMetricFamily("livewarden_room_speech_lag_seconds",
                                       "how far the room's transcript is behind its live audio", labels=["room"])
        drops = GaugeMetricFamily("livewarden_room_drops", "frames dropped (decode errors, overload)", labels=["room"])
        analysed = GaugeMetricFamily("livewarden_room_analysed_frames", "frames through the detectors",
                                     labels=["room"])
        for room_id, view in self.views.items():
            room = rooms.get(room_id)
            if room is None or not self.who.sees(room_scope(room)) or not view.get("watched", True):
                continue
            h = view["health"]
            fps.add_metric([room_id], h["fps_in"])
            lag.add_metric([room_id], h["lag_s"])
            if h["speech_lag_s"] is not None:
                speech_lag.add_metric([room_id], h["speech_lag_s"])
            drops.add_metric([room_id], h["drops"])
            analysed.add_metric([room_id], h["analysed"])
        yield from (fps, lag, speech_lag, drops, analysed)


def exposition(platform: Any, pipeline: Any, views: dict[str, dict], registry: Any, who: Principal) -> bytes:
    """The Prometheus text format for this caller: the rooms' health from their `views` (watched here or
    elsewhere), the detectors' latency from this process's `pipeline`."""
    scrape = CollectorRegistry()
    scrape.register(_Collector(platform, views, registry, who))
    text = generate_latest(scrape)
    if pipeline is not None:
        text += generate_latest(pipeline.metrics)
    return text
