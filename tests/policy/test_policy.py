"""Rules as data and the policy engine: K hits in W seconds, instant red flags, one alert per key, shadow."""

import time
from dataclasses import replace
from pathlib import Path

import pytest

from livewarden.model import Signal
from livewarden.policy import Policy, load_rules
from livewarden.policy.rules import Rule
from livewarden.registry import RegistryError, load_registry


def sig(room: str, t: float, conf: float, subject: str = "nova") -> Signal:
    return Signal(room_id=room, stream_time=t, kind="mark", subject=subject, confidence=conf, detector="test")


def rule(**overrides) -> Rule:
    base = dict(id="unauthorized_brand", signal="mark", when="seller_not_authorized", min_confidence=0.5, hits=2,
                window_s=3.0, instant_confidence=0.9, severity="red_flag", review_below=0.7, close_after_s=10.0)
    return Rule(**{**base, **overrides})


@pytest.fixture
def registry(two_brand_registry: Path):
    return load_registry(two_brand_registry)


def test_packaged_rules_load():
    rules = load_rules()
    assert {r.id for r in rules} == {"unauthorized_brand", "unlisted_product", "listing_mismatch", "unknown_product",
                                     "impersonation", "concurrent_impersonation", "counterfeit_language",
                                     "counterfeit_paraphrase",
                                     "viewer_fake_concern", "price_anomaly", "non_live_content",
                                     "restreamed_content", "concurrent_restream", "code_invalid", "code_cloned",
                                     "code_product_mismatch"}
    assert next(r for r in rules if r.id == "unknown_product").severity == "review"


def test_authorized_room_never_fires(registry):
    policy = Policy(registry, [rule()])
    assert all(policy.observe(sig("official", t, 0.95)) == [] for t in range(10))


def test_needs_k_hits_within_window(registry):
    policy = Policy(registry, [rule(hits=3)])
    assert policy.observe(sig("deals", 0.0, 0.6)) == []
    assert policy.observe(sig("deals", 0.5, 0.6)) == []
    assert policy.observe(sig("deals", 4.0, 0.6)) == []  # the first two fell out of the 3 s window
    assert policy.observe(sig("deals", 4.5, 0.6)) == []
    [update] = policy.observe(sig("deals", 5.0, 0.6))
    assert update.opened
    f = update.finding
    assert (f.first_time, f.last_time, f.hits) == (4.0, 5.0, 3)
    assert f.severity == "review"  # 0.6 < review_below


def test_low_confidence_is_ignored(registry):
    policy = Policy(registry, [rule(hits=1)])
    assert policy.observe(sig("deals", 0.0, 0.49)) == []


def test_one_strong_hit_is_an_instant_red_flag(registry):
    policy = Policy(registry, [rule()])
    [update] = policy.observe(sig("deals", 2.0, 0.95))
    assert update.opened and update.finding.severity == "red_flag"


def test_flood_updates_one_alert_and_escalates(registry):
    policy = Policy(registry, [rule()])
    updates = [u for t in range(0, 20) for u in policy.observe(sig("deals", t * 0.5, 0.6 if t < 10 else 0.8))]
    assert sum(u.opened for u in updates) == 1
    final = updates[-1].finding
    assert final.hits == 20 and final.severity == "red_flag" and final.confidence == 0.8
    assert len({id(u.finding) for u in updates}) == 1


def test_stale_alert_closes_and_a_new_one_opens(registry, tmp_path):
    from livewarden.cases import CaseStore

    policy = Policy(registry, [rule(close_after_s=5.0)])
    store = CaseStore.at(tmp_path)
    [first] = policy.observe(sig("deals", 0.0, 0.95))
    [again] = policy.observe(sig("deals", 4.0, 0.95))  # within close_after_s: the same alert, updated
    assert not again.opened and again.finding is first.finding
    store.record(first)
    store.record(again)
    [second] = policy.observe(sig("deals", 30.0, 0.95))  # 26 s without a hit: the old alert is over
    assert second.opened and second.finding is not first.finding
    # the stale alert ended where it was last seen; the new one carries none of its hits
    assert (first.finding.first_time, first.finding.last_time, first.finding.hits) == (0.0, 4.0, 2)
    assert (second.finding.first_time, second.finding.hits) == (30.0, 1)
    store.record(second)
    old, new = store.alerts()
    assert (old.status, old.last_stream_time, new.status, new.first_stream_time) == ("closed", 4.0, "open", 30.0)
    assert [e.action for e in store.audit_entries()] == ["alert_opened", "alert_closed", "alert_opened"]


def test_subjects_and_rooms_are_separate_keys(registry):
    policy = Policy(registry, [rule(hits=1)])
    a = policy.observe(sig("deals", 0.0, 0.6, subject="nova"))
    b = policy.observe(sig("official", 0.0, 0.6, subject="koru"))  # official may not sell koru
    assert a[0].opened and b[0].opened and a[0].finding.key != b[0].finding.key


def test_shadow_rule_marks_its_findings(registry):
    policy = Policy(registry, [rule(shadow=True)])
    [update] = policy.observe(sig("deals", 0.0, 0.95))
    assert update.finding.shadow


@pytest.mark.parametrize(
    "text, expected",
    [
        ("rules:\n  - id: r\n    signal: mark\n    severity: urgent\n", ":4: rules[0].severity: Value error, must be one of red_flag, review"),
        ("rules:\n  - id: r\n    signal: mark\n    when: full_moon\n", ":4: rules[0].when: Value error, unknown condition 'full_moon'"),
        ("rules:\n  - id: r\n    signal: mark\n    hits: 0\n", ":4: rules[0].hits: Input should be greater than or equal to 1"),
        ("rules:\n  - id: r\n    signal: mark\n  - id: r\n    signal: mark\n", ":4: rules[1].id: duplicate rule id 'r'"),
    ],
)
def test_bad_rules_name_line_and_field(tmp_path: Path, text: str, expected: str):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RegistryError) as info:
        load_rules(path)
    assert expected in str(info.value)


def test_a_room_decided_afresh_continues_its_open_alert_instead_of_opening_a_second(registry, tmp_path):
    """A policy that starts without the room's state (its decisions moved to another process, or it restarted)
    continues the alert the store has open, if its last hit is within close_after_s: on the same stream clock,
    or by the wall clock when the stream clock began again (the room moved to another worker)."""
    from livewarden.cases import SqlCaseRepository

    store = SqlCaseRepository.at(tmp_path / "data")
    first, second, third = (Policy(registry, [rule()]) for _ in range(3))
    updates = [store.record(u) for t in (1.0, 1.5, 2.0) for u in first.observe(sig("deals", t, 0.8))]
    [opened] = {a.id for a in updates}
    moved = [u for t in (6.0, 6.5) for u in second.observe(sig("deals", t, 0.85))]
    assert moved[0].opened  # the new process opens it, as far as it knows ...
    committed = [store.record(u) for u in moved]
    assert not moved[0].opened and {a.id for a in committed} == {opened}  # ... and the store continues it
    [alert] = store.alerts()
    assert alert.hits == 5 and alert.first_stream_time == 1.0 and alert.last_stream_time == 6.5
    later = [store.record(u) for t in (30.0, 30.5) for u in third.observe(sig("deals", t, 0.8))]
    assert {a.id for a in later} != {opened} and len(store.alerts()) == 2  # 23.5 s after: a new episode
    assert [a.status for a in store.alerts()] == ["closed", "open"]
    [ongoing] = {a.id for a in later}
    new_clock = [replace(sig("deals", t, 0.8), wall_time=time.time() + 2) for t in (0.5, 1.0)]
    worker = Policy(registry, [rule()])
    moved = [store.record(u) for s in new_clock for u in worker.observe(s)]
    assert {a.id for a in moved} == {ongoing} and len(store.alerts()) == 2  # a new worker, 2 s later: the same
    long_after = [replace(sig("deals", t, 0.8), wall_time=time.time() + 60) for t in (0.5, 1.0)]
    worker = Policy(registry, [rule()])
    fresh = [store.record(u) for s in long_after for u in worker.observe(s)]
    assert len(store.alerts()) == 3 and fresh[-1].id != ongoing  # a minute later: a new episode
