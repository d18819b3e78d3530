"""(registry, settings) -> the running system: detectors, policy, store, bus, evidence spool.

Every entry point builds through here (watch, scan, demo, the benchmarks, and
next `serve` and a Ray worker), so a setting means the same everywhere and
nothing is wired by hand twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from livewarden.cases.evidence import EvidenceSpool
from livewarden.config import Settings
from livewarden.detectors.base import Detector
from livewarden.detectors.table import detector_class, wanted
from livewarden.errors import LivewardenError
from livewarden.policy.engine import Policy
from livewarden.policy.rules import Rule, load_rules
from livewarden.registry.schema import Registry
from livewarden.runtime.bus import Bus, InProcessBus

# what a run is doing while a detector builds its index ("indexing 120 catalog products…")
Progress = Callable[[str], Any]
BUILDING = {
    "products": lambda r: f"indexing {len(r.products)} catalog products…",
    "faces": lambda r: f"enrolling {len(r.persons)} protected persons…",
    "marks": lambda r: f"indexing {sum(len(b.marks) for b in r.brands)} brand marks…",
}


class BuildError(LivewardenError):
    """The system cannot be built from this registry and these settings; says why."""


@dataclass
class System:
    """Everything a pipeline (or a worker, or the API) runs on."""

    registry: Registry
    settings: Settings
    detectors: list[Detector]
    policy: Policy
    store: Any  # a cases repository
    bus: Bus
    spool: EvidenceSpool

    def __post_init__(self) -> None:
        from livewarden.cases.scope import alert_scope

        self.store.scope = alert_scope(self.registry)  # every alert carries who may see it

    @classmethod
    def of(cls, registry: Registry, detectors: list[Detector], rules: list[Rule] | None = None, *,
           data_dir: str | Path | None = None, store: Any = None, settings: Settings | None = None) -> "System":
        """A system from parts already made (tests, benchmarks that bring their own detectors)."""
        settings = settings or Settings()
        if data_dir is not None:
            settings = settings.with_overrides({"store.data_dir": Path(data_dir)})
        return assemble(registry, settings, detectors, load_rules() if rules is None else rules, store)

    def pipeline(self, rooms: list[str] | None = None, decide: bool = True, name: str | None = None):
        from livewarden.runtime.pipeline import Pipeline

        return Pipeline(self, rooms, decide, name)


def store_url(settings: Settings) -> str:
    """The store's database: the configured URL, or the embedded SQLite file under data_dir."""
    return settings.store.url or f"sqlite:///{Path(settings.store.data_dir) / 'livewarden.db'}"


def open_store(settings: Settings):
    from livewarden.cases import CaseStore

    data_dir = Path(settings.store.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)  # the evidence folder (and, embedded, the SQLite file) go here
    return CaseStore(store_url(settings), data_dir / "evidence")


def open_bus(settings: Settings) -> Bus:
    """In process, or signals on Redis Streams when `bus.url` is set (detection and policy in other processes)."""
    bus = settings.bus
    if bus.url is None:
        return InProcessBus()
    from livewarden.runtime.redis_bus import RedisStreamsBus

    return RedisStreamsBus(bus.url, prefix=bus.prefix, partitions=bus.partitions, lease_s=bus.lease_s,
                           max_deliveries=bus.max_deliveries, evidence_ttl_s=bus.evidence_ttl_s)


def policy_for(registry: Registry, rules: list[Rule], bus: Bus) -> Policy:
    """The policy; over Redis, with who-is-live-where shared by every policy process (policy/shared_presence)."""
    redis = getattr(bus, "redis", None)
    if redis is None:
        return Policy(registry, rules)
    from livewarden.policy.shared_presence import SharedPresence

    return Policy(registry, rules, SharedPresence(redis, bus.prefix))


def assemble(registry: Registry, settings: Settings, detectors: list[Detector], rules: list[Rule],
             store: Any = None) -> System:
    """The system around these detectors: the bus the settings name, the policy over it, the store, the spool."""
    bus = open_bus(settings)
    store = store if store is not None else open_store(settings)
    spool = spool_for(settings)
    if hasattr(bus, "put_evidence"):  # workers and policy processes may be on different machines
        spool.share, store.evidence_from = bus.put_evidence, bus.evidence
    return System(registry, settings, detectors, policy_for(registry, rules, bus), store, bus, spool)


def spool_for(settings: Settings) -> EvidenceSpool:
    return EvidenceSpool(Path(settings.store.data_dir) / "spool", every_s=settings.runtime.evidence_every_s,
                         keep_s=settings.runtime.evidence_keep_s)


def build_detectors(registry: Registry, settings: Settings, progress: Progress | None = None) -> list[Detector]:
    """Every detector the settings enable and the registry has material for, in table order."""
    detectors = []
    for entry in wanted(registry, settings):
        cls = detector_class(entry.name)
        message = BUILDING.get(entry.name)
        try:
            if progress is not None and message is not None:
                with progress(message(registry)):
                    detectors.append(cls.from_registry(registry, settings))
            else:
                detectors.append(cls.from_registry(registry, settings))
        except ValueError as exc:
            raise BuildError(f"cannot build the {entry.name} detector: {exc}") from None
    return detectors


def build_policy(registry: Registry, settings: Settings, rules: list[Rule] | None = None) -> System:
    """A system that only decides (`livewarden policy`): the policy, store and bus, no detector."""
    if settings.bus.url is None:
        raise BuildError("a policy process reads signals from a bus: set bus.url (--bus redis://HOST:6379/0)")
    return assemble(registry, settings, [], load_rules(settings.policy.rules) if rules is None else rules)


def build_system(registry: Registry, settings: Settings, progress: Progress | None = None,
                 rules: list[Rule] | None = None) -> System:
    """Rules first (cheap, and a bad file should not wait for the models), then detectors, store, bus.

    `rules` replaces the rules file (benchmarks bring their own thresholds).
    """
    rules = load_rules(settings.policy.rules) if rules is None else rules
    detectors = build_detectors(registry, settings, progress)
    if not settings.runtime.offline:  # live rooms must not wait for a model at their first candidate
        for detector in detectors:
            detector.warm()
    if not detectors:
        raise BuildError("nothing to look for: the registry has no brand marks, no catalog products and no "
                         "protected persons, and language is off")
    return assemble(registry, settings, detectors, rules)
