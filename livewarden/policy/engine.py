"""The policy engine: the only place with rules and state across time and rooms.

Per (room, rule, subject) it keeps the recent qualifying hits on the stream
clock and at most one open finding, so a flood of signals updates one alert
instead of creating a thousand copies. Per room it keeps what was on camera
(the timeline, which also says which product a stated price is for); across
rooms, who is live where (presence). A room's state is dropped when the room
ends (`close_room`). A signal delivered twice (an at-least-once bus) is
counted once, by its key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from livewarden.model import Finding, Signal
from livewarden.policy.conditions import CONDITIONS
from livewarden.policy.presence import Presence
from livewarden.policy.derived import DERIVED
from livewarden.policy.prices import attribute_price
from livewarden.policy.rules import Rule
from livewarden.policy.streams import LiveStreams
from livewarden.policy.timeline import Timeline
from livewarden.registry.schema import Registry

MAX_EVIDENCE_SIGNALS = 5
REMEMBERED_KEYS = 4096  # signal keys kept to recognise a redelivery


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

    def __init__(self, registry: Registry, rules: list[Rule], presence: Presence | None = None):
        self.registry = registry
        self.rules = rules
        self._by_kind: dict[str, list[Rule]] = {}
        for rule in rules:
            for kind in rule.signals:
                self._by_kind.setdefault(kind, []).append(rule)
        self._state: dict[tuple[str, str, str], _KeyState] = {}
        self.presence = presence or Presence()  # cross-room state: who is live where (shared: SharedPresence)
        self.timeline = Timeline()  # per room: what was on camera, when
        self.streams = LiveStreams()  # cross-room: which room shows which room's stream
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def kinds(self) -> set[str]:
        """The signal kinds some rule reads (before the policy's own derivations, e.g. stated_price -> price)."""
        read = set(self._by_kind)
        return read | {source for source, derived in DERIVED.items() if derived in read}

    def wants(self, signal: Signal) -> bool:
        """Whether this signal's evidence may be kept: some rule would act on it, and it could open an alert.

        Evidence is kept when an alert opens; while one is open for (room, rule, subject) its updates keep
        none, so the worker need not cut any. A kind the policy derives from (a stated price) is wanted whenever
        its derived kind is read: its subject and confidence are only known once it is attributed. (Read
        without the lock: a stale answer costs one cut too many or too few for a signal that opens nothing.)
        """
        if signal.kind == "stream_frame":  # only a frame of a room already seen copying another is worth a cut
            return "stream_copy" in self._by_kind and self.streams.suspect(signal.room_id)
        if signal.kind in DERIVED:
            return DERIVED[signal.kind] in self._by_kind
        for rule in self._by_kind.get(signal.kind, ()):
            if signal.confidence < rule.min_confidence or not CONDITIONS[rule.when](self.registry, signal,
                                                                                    self.presence):
                continue
            state = self._state.get((signal.room_id, rule.id, signal.subject))
            finding = state.open if state is not None else None
            if finding is None or signal.stream_time - finding.last_time > rule.close_after_s:
                return True
        return False

    def resolve(self, signal: Signal) -> Signal | None:
        """The signal as the rules see it: a stated price is attributed to a product (None: to no product), a
        frame fingerprint is a copy of another room's stream (None: of none); a redelivered signal (same key)
        is None."""
        with self._lock:
            if signal.key in self._seen:
                return None
            self._seen[signal.key] = None
            if len(self._seen) > REMEMBERED_KEYS:
                self._seen.popitem(last=False)
        if signal.kind == "stream_frame":
            return self.streams.observe(signal) if "stream_copy" in self._by_kind else None
        if signal.kind == "stated_price":
            return attribute_price(self.registry, signal, self.timeline.seen(signal.room_id, "product",
                                                                             signal.stream_time))
        return signal

    def close_room(self, room_id: str) -> None:
        """The room ended: forget its hits, open findings and timeline (the store keeps the alerts)."""
        with self._lock:
            for key in [k for k in self._state if k[0] == room_id]:
                del self._state[key]
            for key in [k for k in self._seen if k.startswith(room_id + "|")]:
                del self._seen[key]
        self.timeline.forget(room_id)
        self.presence.forget(room_id)
        self.streams.forget(room_id)

    def observe(self, signal: Signal) -> list[Update]:
        """Updates to findings from one (resolved) signal."""
        self.timeline.observe(signal)
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
            resume_within_s=rule.close_after_s,
        )
        state.open = finding
        return Update(finding, opened=True, signal=signal)

    @staticmethod
    def _severity(rule: Rule, confidence: float) -> str:
        return "review" if confidence < rule.review_below else rule.severity
