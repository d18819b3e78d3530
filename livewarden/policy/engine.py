"""The policy engine: the only place with rules and state across time.

Per (room, rule, subject) it keeps the recent qualifying hits on the stream
clock and at most one open finding, so a flood of signals updates one alert
instead of creating a thousand copies.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from livewarden.model import Finding, Signal
from livewarden.policy.conditions import CONDITIONS
from livewarden.policy.presence import Presence
from livewarden.policy.rules import Rule
from livewarden.registry.schema import Registry

MAX_EVIDENCE_SIGNALS = 5


@dataclass
class _KeyState:
    hits: deque = field(default_factory=deque)  # (stream_time, Signal)
    open: Finding | None = None


@dataclass
class Update:
    """A change to a finding: `opened` is True the first time it fires."""

    finding: Finding
    opened: bool
    signal: Signal


class Policy:
    """Turns signals into findings; safe to call from several room threads."""

    def __init__(self, registry: Registry, rules: list[Rule]):
        self.registry = registry
        self.rules = rules
        self._by_kind: dict[str, list[Rule]] = {}
        for rule in rules:
            for kind in rule.signals:
                self._by_kind.setdefault(kind, []).append(rule)
        self._state: dict[tuple[str, str, str], _KeyState] = {}
        self.presence = Presence()  # cross-room state: who is live where
        self._lock = threading.Lock()

    def observe(self, signal: Signal) -> list[Update]:
        self.presence.record(signal)
        updates = []
        for rule in self._by_kind.get(signal.kind, ()):
            if signal.confidence < rule.min_confidence:
                continue
            if not CONDITIONS[rule.when](self.registry, signal, self.presence):
                continue
            with self._lock:
                update = self._apply(rule, signal)
            if update:
                updates.append(update)
        return updates

    def _apply(self, rule: Rule, signal: Signal) -> Update | None:
        key = (signal.room_id, rule.id, signal.subject)
        state = self._state.setdefault(key, _KeyState())
        t = signal.stream_time
        finding = state.open
        if finding and t - finding.last_time > rule.close_after_s:
            state.open = finding = None  # stale: a later hit starts a new alert
            state.hits.clear()
        state.hits.append((t, signal))
        while state.hits and t - state.hits[0][0] > rule.window_s:
            state.hits.popleft()

        if finding:
            finding.last_time = max(finding.last_time, t)
            finding.hits += 1
            if signal.confidence > finding.confidence:
                finding.confidence = signal.confidence
                finding.signals = ([signal] + finding.signals)[:MAX_EVIDENCE_SIGNALS]
            finding.severity = self._severity(rule, finding.confidence)
            return Update(finding, opened=False, signal=signal)

        fires = len(state.hits) >= rule.hits or signal.confidence >= rule.instant_confidence
        if not fires:
            return None
        window = [s for _, s in state.hits]
        best = max(window, key=lambda s: s.confidence)
        finding = Finding(
            room_id=signal.room_id,
            rule=rule.id,
            subject=signal.subject,
            severity=self._severity(rule, best.confidence),
            first_time=window[0].stream_time,
            last_time=t,
            confidence=best.confidence,
            hits=len(window),
            shadow=rule.shadow,
            signals=sorted(window, key=lambda s: -s.confidence)[:MAX_EVIDENCE_SIGNALS],
            message=rule.message.format(rule=rule.id, subject=signal.subject, room=signal.room_id),
            first_signal_wall_time=window[0].wall_time,
        )
        state.open = finding
        return Update(finding, opened=True, signal=signal)

    @staticmethod
    def _severity(rule: Rule, confidence: float) -> str:
        return "review" if confidence < rule.review_below else rule.severity
