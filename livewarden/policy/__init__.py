"""Policy: rules (data) and the engine that turns signals into findings."""

from livewarden.policy.engine import Policy, Update
from livewarden.policy.rules import Rule, load_rules

__all__ = ["Policy", "Rule", "Update", "load_rules"]
