"""What is said, shown and typed in a room -> signals: counterfeit talk, viewers' concern, stated prices.

Every source of text (chat, speech segments, OCR lines) arrives as a TextLine,
so one matcher and one price reader serve all three. Who said it matters:
- the seller's speech, on-screen text and seller/moderator chat offering fakes
  is `counterfeit_talk` (the seller admits it);
- a viewer's line that mentions fakes ("is this fake?", "beware, A货") is
  `fake_concern`, a weaker signal: viewers suspect, they do not sell;
- a seller-side line with no lexicon term that the learned reader (`offer_classifier`) scores as an offer
  is `counterfeit_paraphrase`, for a person to read; with a weak lexicon term it confirms `counterfeit_talk`;
- a price stated on the seller's side is a `stated_price`; which product it is
  for and whether it is under the floor is the policy's to decide;
- every line is also a `text_line` (what the transcript shows).
Speech is read by sound as well as by spelling: Chinese the recogniser wrote as a homophone of a term (一笔衣
for 一比一) reads as the term (`homophones`), its evidence marked `homophone`.
Evidence is the exact span, its source, its time and the normalized form that
matched, so an analyst sees the words, not a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from livewarden.detectors.base import Detector, RoomDetector
from livewarden.detectors.offer_classifier import OfferClassifier, packaged
from livewarden.detectors.prices import find_prices
from livewarden.detectors.table import kinds_of
from livewarden.detectors.text import Assessment, LanguageMatcher, Lexicon, TermHit
from livewarden.detectors.text_blocks import Placed, TextBlock
from livewarden.model import Frame, Signal, TextLine

MAX_TEXT_CHARS = 500  # the line kept as evidence
SELLER_ROLES = ("seller", "moderator")


def matcher_for(lexicon: tuple[Path, ...] = ()) -> LanguageMatcher:
    """The matcher over the packaged lexicon plus these files or folders.

    Built once per set of files as they are now (the readers of words in one run share it; an edited file is
    read again).
    """
    missing = [str(p) for p in lexicon if not Path(p).exists()]
    if missing:
        from livewarden.errors import InputError

        raise InputError(f"lexicon not found: {', '.join(missing)}")
    files = sorted(f for p in map(Path, lexicon) for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file())
    return _matcher(tuple(lexicon), tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@lru_cache(maxsize=8)
def _matcher(lexicon: tuple[Path, ...], _fingerprint: tuple) -> LanguageMatcher:
    return LanguageMatcher(Lexicon.load(list(lexicon)))


class LanguageDetector(Detector):
    name = "language"
    kinds = kinds_of("language")
    reads = TextLine

    def __init__(self, registry: Any, matcher: LanguageMatcher | None = None,
                 classifier: OfferClassifier | None = None):
        self.registry = registry
        self.matcher = matcher or matcher_for(())
        self.classifier = classifier  # the learned second reader of seller-side lines (None: lexicon only)

    @classmethod
    def from_registry(cls, registry: Any, settings: Any = None) -> "LanguageDetector":
        language = settings.detectors.language if settings is not None else None
        lexicon = tuple(language.lexicon) if language is not None else ()
        learned = language.classifier if language is not None else True
        return cls(registry, matcher_for(lexicon), packaged() if learned else None)

    def open_room(self, room_id: str) -> "LanguageRoom":
        return LanguageRoom(self)

    def warm(self) -> None:
        if self.classifier is not None:
            self.classifier.probability("warm")  # loads the encoder

    def read(self, line: TextLine, frame: Frame | None = None, polygon: list[list[float]] | None = None,
             detector: str | None = None) -> list[Signal]:
        """The signals one line gives; `frame` and `polygon` when it was read off the screen. An empty line
        gives none."""
        block = TextBlock([Placed(line.text, polygon or [])])
        return self.read_block(line, block, frame, detector)

    def read_block(self, line: TextLine, block: TextBlock, frame: Frame | None = None,
                   detector: str | None = None) -> list[Signal]:
        """The signals of a block of screen text judged as one (`line` carries its time, source and role; its
        text is the block's): the verdict is the block's, the evidence span stays on the line it is on."""
        text = block.text
        if not text.strip():
            return []
        assessment = self.matcher.assess(text, heard=line.source == "speech")
        placed = bool(block.lines[0].polygon)
        base = {"source": line.source, "role": line.role, "author": line.author,
                "text": text[:MAX_TEXT_CHARS], "time": round(line.stream_time, 3),
                **({"language": line.language} if line.language else {})}
        if placed:
            base["polygon"] = block.polygon  # OCR: where on the frame the words were
        signals = []

        def signal(kind: str, subject: str, confidence: float, **evidence) -> None:
            signals.append(Signal(room_id=line.room_id, stream_time=line.stream_time, kind=kind, subject=subject,
                                  confidence=confidence, detector=detector or self.name,
                                  evidence={**base, **evidence}, frame=frame, wall_time=line.wall_time))

        def on_its_line(hit: TermHit) -> dict:
            span = _span(hit)
            if len(block.lines) == 1:
                return span
            i, start = block.locate(hit.start)
            here = block.lines[i]
            end = start + len(hit.span) if block.locate(hit.end - 1)[0] == i else len(here.text)
            return {**span, "start": start, "end": end, "text": here.text[:MAX_TEXT_CHARS],
                    "polygon": [list(map(float, p)) for p in here.polygon], "block": text[:MAX_TEXT_CHARS]}

        seller_side = line.role in SELLER_ROLES
        verdict = judge(assessment, text, self.classifier if seller_side else None)
        learned, standing = verdict.learned, [h for h in assessment.hits if not h.negated]
        signal("text_line", line.source, assessment.score, offer=assessment.offer, flags=_flags(assessment),
               **({"learned": learned} if learned is not None else {}))
        if seller_side and verdict.red_flag:
            best = max(standing, key=lambda h: h.weight)
            score = assessment.score if assessment.offer else round(1 - (1 - assessment.score) * (1 - learned), 4)
            signal("counterfeit_talk", self._seller(line.room_id), score, **on_its_line(best),
                   terms=[_term(h) for h in assessment.hits], **self._learned(learned))
        elif seller_side and verdict.review:
            # no lexicon term: no span to show, so the whole line is the evidence, and a person reads it
            signal("counterfeit_paraphrase", self._seller(line.room_id), learned, span=text[:MAX_TEXT_CHARS],
                   start=0, end=min(len(text), MAX_TEXT_CHARS), **self._learned(learned))
        elif not seller_side and assessment.hits:
            # a viewer asking or warning about fakes: concern, never an admission (negated hits count here)
            signal("fake_concern", "viewers", max(0.5, min(0.7, assessment.score or 0.5)),
                   **on_its_line(assessment.hits[0]), terms=[_term(h) for h in assessment.hits])
        if seller_side:
            for here in block.lines:  # a price is read on its own line, and its box is that line's
                where = {"text": here.text[:MAX_TEXT_CHARS]} if len(block.lines) > 1 else {}
                if where and placed:
                    where["polygon"] = [list(map(float, p)) for p in here.polygon]
                for price in find_prices(here.text):
                    signal("stated_price", price.span, 0.5, span=price.span, start=price.start, end=price.end,
                           amount=price.amount, currency=price.currency, **where)
        return signals

    def _learned(self, probability: float | None) -> dict:
        return {"learned": {"model": self.classifier.name, "probability": probability}} if probability else {}

    def _seller(self, room_id: str) -> str:
        room = self.registry.room(room_id)
        return room.seller if room else room_id


@dataclass(frozen=True)
class Verdict:
    """What the readers make of one line: the lexicon's call, and with the classifier a red flag or a review."""

    lexicon: bool
    red_flag: bool  # a lexicon offer, or a weak lexicon term the classifier confirms
    review: bool  # no lexicon term, and the classifier alone reads an offer (`counterfeit_paraphrase`)
    learned: float | None  # the classifier's probability, when it was asked

    @property
    def finding(self) -> bool:
        return self.red_flag or self.review


def judge(assessment: Assessment, text: str, classifier: OfferClassifier | None) -> Verdict:
    """The decision for a seller-side line (`classifier` None: the lexicon alone, as for a viewer's line). The
    classifier is asked only when the lexicon neither calls the line an offer nor negates a term in it."""
    standing = [h for h in assessment.hits if not h.negated]
    learned = None
    if classifier is not None and not assessment.offer and len(standing) == len(assessment.hits):
        learned = classifier.probability(text)
    red = assessment.offer or (bool(standing) and learned is not None and learned >= classifier.confirm_at)
    review = not red and not standing and learned is not None and learned >= classifier.review_at
    return Verdict(assessment.offer, red, review, learned)


class LanguageRoom(RoomDetector):
    """Chat lines of one room (nothing to remember between lines: the policy keeps what was on camera)."""

    def __init__(self, detector: LanguageDetector):
        self.detector = detector

    def process(self, line: TextLine) -> list[Signal]:
        return self.detector.read(line)


def _flags(assessment: Assessment) -> list[dict]:
    return [{"span": h.span, "start": h.start, "end": h.end, "term": h.term_id, "normalized": h.normalized,
             **({"negated_by": h.negation} if h.negated else {}), **_heard(h)} for h in assessment.hits]


def _span(hit: TermHit) -> dict:
    return {"span": hit.span, "start": hit.start, "end": hit.end, "normalized": hit.normalized,
            "term": hit.term_id, "lang": hit.lang, **_heard(hit)}


def _heard(hit: TermHit) -> dict:
    """A term the recogniser spelled as a homophone: the analyst sees what was written and what it sounds like."""
    return {"homophone": True} if hit.homophone else {}


def _term(hit: TermHit) -> dict:
    return {"term": hit.term_id, "span": hit.span, "normalized": hit.normalized, "negated": hit.negated,
            **({"negation": hit.negation} if hit.negated else {})}
