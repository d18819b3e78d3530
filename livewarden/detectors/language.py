"""What is said, shown and typed in a room -> signals: counterfeit talk, viewers' concern, stated prices.

Every source of text (chat, speech segments, OCR lines) arrives as a TextLine,
so one matcher and one price reader serve all three. Who said it matters:
- the seller's speech, on-screen text and seller/moderator chat offering fakes
  is `counterfeit_talk` (the seller admits it);
- a viewer's line that mentions fakes ("is this fake?", "beware, A货") is
  `fake_concern`, a weaker signal: viewers suspect, they do not sell;
- a price stated on the seller's side becomes a `price` signal for the product
  it most likely refers to, with its ratio to the MSRP; the policy decides
  whether that is below the brand's floor.
Evidence is the exact span, its source, its time and the normalized form that
matched, so an analyst sees the words, not a score.
"""

from __future__ import annotations

import re
from typing import Callable

from livewarden.detectors.prices import Price, find_prices
from livewarden.detectors.text import Assessment, LanguageMatcher, TermHit
from livewarden.model import Frame, Signal, TextLine
from livewarden.registry.schema import Registry

MAX_TEXT_CHARS = 500  # the line kept as evidence
SELLER_ROLES = ("seller", "moderator")

# the products on camera in a room lately, most recent first: (room_id, stream_time) -> product ids
OnCamera = Callable[[str, float], list[str]]
# told of every line read, with its assessment and the prices compared (the pipeline keeps a transcript)
OnLine = Callable[[TextLine, Assessment, list[dict]], None]


class LanguageDetector:
    name = "language"

    def __init__(self, registry: Registry, matcher: LanguageMatcher | None = None,
                 on_camera: OnCamera | None = None, on_line: OnLine | None = None):
        self.registry = registry
        self.matcher = matcher or LanguageMatcher()
        self.on_camera = on_camera or (lambda room_id, t: [])
        self.on_line = on_line

    def read(self, line: TextLine, frame: Frame | None = None,
             polygon: list[list[float]] | None = None) -> tuple[Assessment, list[Signal]]:
        """Assess one line; return the assessment (for transcripts) and the signals it gives."""
        assessment = self.matcher.assess(line.text)
        base = {"source": line.source, "role": line.role, "author": line.author,
                "text": line.text[:MAX_TEXT_CHARS], "time": round(line.stream_time, 3)}
        if polygon:
            base["polygon"] = polygon  # OCR: where on the frame the words were
        signals = []

        def signal(kind: str, subject: str, confidence: float, **evidence) -> None:
            signals.append(Signal(room_id=line.room_id, stream_time=line.stream_time, kind=kind, subject=subject,
                                  confidence=confidence, detector=self.name, evidence={**base, **evidence},
                                  frame=frame, wall_time=line.wall_time))

        seller_side = line.role in SELLER_ROLES
        if seller_side and assessment.offer:
            best = max((h for h in assessment.hits if not h.negated), key=lambda h: h.weight)
            signal("counterfeit_talk", self._seller(line.room_id), assessment.score,
                   **_span(best), terms=[_term(h) for h in assessment.hits])
        elif not seller_side and assessment.hits:
            # a viewer asking or warning about fakes: concern, never an admission (negated hits count here)
            signal("fake_concern", "viewers", max(0.5, min(0.7, assessment.score or 0.5)),
                   **_span(assessment.hits[0]), terms=[_term(h) for h in assessment.hits])
        if seller_side:
            for price in find_prices(line.text):
                found = self._priced_product(line, price)
                if found is not None:
                    product_id, msrp, ratio, why = found
                    floor = self.registry.price_floor(product_id)
                    confidence = 0.5 + 0.5 * max(0.0, 1.0 - ratio / floor) if ratio < floor else 0.5 * ratio
                    signal("price", product_id, min(1.0, confidence), span=price.span, start=price.start,
                           end=price.end, amount=price.amount, currency=price.currency, msrp=msrp,
                           ratio=round(ratio, 4), floor=floor, product_from=why)
        if self.on_line is not None:
            prices = [{k: s.evidence[k] for k in ("span", "start", "end", "ratio", "floor")}
                      | {"product": s.subject, "below_floor": s.evidence["ratio"] < s.evidence["floor"]}
                      for s in signals if s.kind == "price"]
            self.on_line(line, assessment, prices)
        return assessment, signals

    def _seller(self, room_id: str) -> str:
        room = self.registry.room(room_id)
        return room.seller if room else room_id

    def _priced_product(self, line: TextLine, price: Price) -> tuple[str, float, float, str] | None:
        """Which product a stated price is for: (product id, MSRP, price/MSRP, why that product), or None.

        In order: a catalog product on camera right now; a listed product named in the line; otherwise the
        room's cheapest listed product (a price below *its* floor is impossible for anything the room sells).
        Prices in another currency than the product's are not compared (no exchange rates are kept).
        """
        candidates: list[tuple[str, str]] = [(pid, "on camera") for pid in self.on_camera(line.room_id, line.stream_time)]
        room = self.registry.room(line.room_id)
        listed = [self.registry.product(listing.product) for listing in (room.listings if room else [])]
        listed = [p for p in listed if p is not None and p.msrp]
        text = line.text.casefold()
        candidates += [(p.id, "named") for p in listed if _names(p.name, text)]
        if listed:
            candidates.append((min(listed, key=lambda p: p.msrp).id, "cheapest listed"))
        for product_id, why in candidates:
            product = self.registry.product(product_id)
            if product is None or not product.msrp:
                continue
            if price.currency is not None and price.currency != product.currency:
                continue
            return product_id, product.msrp, price.amount / product.msrp, why
        return None


def _names(name: str, text: str) -> bool:
    """True when every word of a product name of 4+ letters appears in the (case-folded) line."""
    words = [w for w in re.findall(r"\w+", name.casefold()) if len(w) >= 4]
    return bool(words) and all(w in text for w in words)


def _span(hit: TermHit) -> dict:
    return {"span": hit.span, "start": hit.start, "end": hit.end, "normalized": hit.normalized,
            "term": hit.term_id, "lang": hit.lang}


def _term(hit: TermHit) -> dict:
    return {"term": hit.term_id, "span": hit.span, "normalized": hit.normalized, "negated": hit.negated,
            **({"negation": hit.negation} if hit.negated else {})}
