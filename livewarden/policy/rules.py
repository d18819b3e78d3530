"""Rules are data: load them from YAML and validate them like the registry.

A rule names the signal kind(s) it consumes and a condition (`when`) from the
small table in `conditions.py`; everything else is thresholds.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from livewarden.model import SEVERITIES
from livewarden.policy.conditions import CONDITIONS
from livewarden.registry.located import RegistryError, read_yaml


AUTO_ACTIONS = ("warn_seller", "pause_room", "end_room", "remove_listing")  # what a rule may do on its own


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    signal: str | list[str]  # one kind, or several (e.g. a brand seen as a mark or as a product)
    when: str = "always"
    min_confidence: float = Field(0.5, ge=0, le=1)
    hits: int = Field(2, ge=1)
    window_s: float = Field(3.0, gt=0)
    instant_confidence: float = Field(1.01, ge=0)
    severity: str = "review"
    review_below: float = Field(0.0, ge=0, le=1)
    close_after_s: float = Field(30.0, gt=0)
    shadow: bool = False
    auto_action: str | None = None  # a red flag: the platform acts at once (recorded as automated); never if shadow
    message: str = "{rule}: {subject}"

    @field_validator("auto_action")
    @classmethod
    def _auto_action(cls, v: str | None) -> str | None:
        if v is not None and v not in AUTO_ACTIONS:
            raise ValueError(f"must be one of {', '.join(AUTO_ACTIONS)}")
        return v

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        if v not in SEVERITIES:
            raise ValueError(f"must be one of {', '.join(SEVERITIES)}")
        return v

    @property
    def signals(self) -> list[str]:
        return [self.signal] if isinstance(self.signal, str) else list(self.signal)

    @field_validator("when")
    @classmethod
    def _when(cls, v: str) -> str:
        if v not in CONDITIONS:
            raise ValueError(f"unknown condition {v!r}; known: {', '.join(sorted(CONDITIONS))}")
        return v


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rules: list[Rule]


def default_rules_path() -> Path:
    return Path(str(resources.files("livewarden.policy") / "rules.yaml"))


def load_rules(path: str | Path | None = None) -> list[Rule]:
    """Load rules from `path` (the packaged defaults when None); errors name file, line and field."""
    doc = read_yaml(Path(path) if path else default_rules_path(), "rules")
    try:
        rules = RuleSet.model_validate(doc.data or {}).rules
    except ValidationError as exc:
        raise RegistryError(doc.validation_problems(exc)) from None
    known = known_kinds()
    problems, seen = [], set()
    for i, rule in enumerate(rules):
        if rule.id in seen:
            problems.append(doc.problem(("rules", i, "id"), f"duplicate rule id {rule.id!r}"))
        seen.add(rule.id)
        for kind in rule.signals:
            if kind not in known:
                problems.append(doc.problem(("rules", i, "signal"), f"no detector emits signals of kind {kind!r}; "
                                                                    f"kinds: {', '.join(sorted(known))}"))
    if problems:
        raise RegistryError(problems)
    return rules


def known_kinds() -> set[str]:
    """Kinds a rule may read: what the detectors emit plus what the policy derives (stated_price -> price)."""
    from livewarden.detectors.table import emitted_kinds
    from livewarden.policy.derived import DERIVED

    return emitted_kinds() | set(DERIVED.values())
