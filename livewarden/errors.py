"""Every error livewarden raises on purpose, under one root, and the file:line problem list.

A caller (the CLI, the API) catches `LivewardenError` and prints it; anything
else is a bug. Errors about user-written files carry every `Problem` found, so
a user can fix a file in one go.
"""

from __future__ import annotations

from dataclasses import dataclass


class LivewardenError(Exception):
    """The root: a problem the user can act on (bad input, a missing model, a source that cannot be read)."""


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ProblemsError(LivewardenError):
    """Raised with every problem found in a file (registry, rules, lexicon, settings)."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RegistryError(ProblemsError):
    """A registry, rules or lexicon file has problems."""


class SettingsError(ProblemsError):
    """A settings file or a LIVEWARDEN_* variable has problems."""


class InputError(LivewardenError):
    """An input the user named (a clip, an image, a chat feed) cannot be used; says which and why."""


class Unavailable(LivewardenError):
    """Something this work depends on is down (the case database): nothing was done, try again later. A bus
    retries such a signal without counting it against the signal (it is not the signal's fault)."""
