"""Every detector, by name: where its class lives, what registry material it needs, the kinds it emits.

Discovered from this table with no import until a run needs the detector (the
catalog's torch or the faces' dlib cost seconds to load), and the one place a
signal kind is declared, so a rule that names a kind nobody emits is refused
when the rules load. A new detector is one file under detectors/ plus one line
here and one settings section in config.py.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


def _always(registry: Any) -> bool:
    return True


@dataclass(frozen=True)
class Entry:
    name: str  # also its settings section: settings.detectors.<name> (with `enabled`)
    target: str  # "module:Class"
    kinds: tuple[str, ...]
    needs: Callable[[Any], bool] = _always  # the registry has material for it


# the language kinds: every reader of words gives lines, offers and prices; only chat has viewers (concern)
SELLER_WORDS = ("counterfeit_talk", "counterfeit_paraphrase", "stated_price", "text_line")
WORDS = SELLER_WORDS + ("fake_concern",)

TABLE: tuple[Entry, ...] = (
    Entry("marks", "livewarden.detectors.marks:MarksDetector", ("mark",), lambda r: any(b.marks for b in r.brands)),
    Entry("products", "livewarden.detectors.products:ProductsDetector", ("product", "unknown_product"),
          lambda r: bool(r.products)),
    Entry("faces", "livewarden.detectors.faces:FacesDetector", ("face",), lambda r: bool(r.persons)),
    Entry("language", "livewarden.detectors.language:LanguageDetector", WORDS),
    Entry("screen_text", "livewarden.detectors.screen_text:ScreenTextDetector", SELLER_WORDS + ("mark",)),
    Entry("speech", "livewarden.detectors.speech:SpeechDetector", SELLER_WORDS),
    Entry("broadcast", "livewarden.detectors.broadcast:BroadcastDetector",
          ("loop", "frozen", "broadcast_match", "stream_frame")),
    Entry("codes", "livewarden.detectors.codes:CodesDetector", ("code",),
          lambda r: bool(r.code_schemes) or any(p.gtin for p in r.products)),
)
BY_NAME = {e.name: e for e in TABLE}


def kinds_of(name: str) -> tuple[str, ...]:
    return BY_NAME[name].kinds


def emitted_kinds() -> set[str]:
    """Every kind some detector may emit."""
    return {k for e in TABLE for k in e.kinds}


def wanted(registry: Any, settings: Any) -> list[Entry]:
    """The detectors a run needs: enabled in the settings, with material in the registry."""
    return [e for e in TABLE if getattr(settings.detectors, e.name).enabled and e.needs(registry)]


def detector_class(name: str):
    module, _, cls = BY_NAME[name].target.partition(":")
    return getattr(importlib.import_module(module), cls)
