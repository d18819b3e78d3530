"""The learned reader behind the lexicon: it reads the seller's side only, never overrules a negation, and
alone it only asks a person to read the line."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from livewarden.config import Settings
from livewarden.detectors.language import LanguageDetector
from livewarden.detectors.offer_classifier import WEIGHTS, OfferClassifier, packaged
from livewarden.errors import InputError
from livewarden.media.chat import JsonlChatSource
from livewarden.model import TextLine
from livewarden.registry import load_registry
from livewarden.runtime.build import System

from ..runtime.test_language_pipeline import wait_for, write_shop

PARAPHRASE = "made in the same workshop as the boutique ones, nobody will ever know, forty bucks"  # no lexicon term
WEAK = "the quality is like the counter one, nobody will know, only forty bucks"  # one weak term ("can't tell")
PLAIN = "okay next up handmade soy candles, lavender and cedar, sixteen dollars"


class Rooms:
    def room(self, room_id):
        return None


@pytest.fixture(scope="module")
def reader() -> LanguageDetector:
    return LanguageDetector(Rooms(), classifier=packaged())


def kinds(signals) -> list[str]:
    return [s.kind for s in signals]


def test_a_paraphrase_with_no_lexicon_term_is_for_a_person_to_read(reader):
    signals = reader.read(TextLine("r", 4.0, "speech", PARAPHRASE))
    assert kinds(signals) == ["text_line", "counterfeit_paraphrase"]
    review = signals[1]
    learned = review.evidence["learned"]
    assert learned["model"] == packaged().name and learned["probability"] >= packaged().review_at
    assert review.confidence == learned["probability"] and isinstance(review.confidence, float)
    assert review.evidence["span"] == PARAPHRASE and (review.evidence["start"], review.evidence["end"]) == (0, len(PARAPHRASE))
    assert signals[0].evidence["learned"] == learned["probability"]  # the transcript shows what it thought


def test_a_weak_lexicon_term_the_classifier_confirms_is_counterfeit_talk(reader):
    lexicon_alone = LanguageDetector(Rooms()).read(TextLine("r", 1.0, "speech", WEAK))
    assert kinds(lexicon_alone) == ["text_line"]  # the term alone is too weak to call
    signals = reader.read(TextLine("r", 1.0, "speech", WEAK))
    assert kinds(signals) == ["text_line", "counterfeit_talk"]
    talk = signals[1].evidence
    assert talk["term"] == "cant_tell" and talk["span"] in WEAK  # the evidence span is still the lexicon's
    assert talk["learned"]["probability"] >= packaged().confirm_at
    assert signals[1].confidence > lexicon_alone[0].confidence


def test_viewers_lines_are_never_read_by_the_classifier(reader):
    signals = reader.read(TextLine("r", 1.0, "chat", PARAPHRASE, role="viewer", author="ana"))
    assert kinds(signals) == ["text_line"] and "learned" not in signals[0].evidence


def test_a_negated_lexicon_term_keeps_the_line_clean(reader):
    line = "this is not a replica, it is genuine, bought from the brand store, nobody sells it cheaper"
    signals = reader.read(TextLine("r", 1.0, "speech", line))
    assert kinds(signals) == ["text_line"] and "learned" not in signals[0].evidence  # not even asked


def test_an_ordinary_sales_line_raises_nothing(reader):
    signals = reader.read(TextLine("r", 1.0, "speech", PLAIN))
    assert kinds(signals) == ["text_line"] and signals[0].evidence["learned"] < packaged().review_at


def test_the_setting_turns_the_classifier_off(tmp_path: Path):
    registry = load_registry(write_shop(tmp_path))
    off = LanguageDetector.from_registry(registry, Settings().with_overrides({"detectors.language.classifier": False}))
    assert off.classifier is None
    assert kinds(off.read(TextLine("deals", 1.0, "speech", PARAPHRASE))) == ["text_line"]
    assert LanguageDetector.from_registry(registry, Settings()).classifier is packaged()


def test_unreadable_weights_are_named(tmp_path: Path):
    bad = tmp_path / "weights.json"
    bad.write_text('{"weights": [0.1], "bias": 0}')
    with pytest.raises(InputError, match="weights.json"):
        OfferClassifier.load(bad)


def test_the_packaged_weights_say_what_they_were_trained_on():
    model = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    assert len(model["weights"]) == 384 and model["review_at"] > model["confirm_at"]
    assert all("heldout" not in path for path in model["trained_on"]) and len(model["trained_on"]) >= 6
    assert all(path.startswith("chat/dev/") for path in model["negatives_from"])


def test_a_seller_paraphrase_in_chat_opens_a_review_case(tmp_path: Path):
    registry = load_registry(write_shop(tmp_path))
    settings = Settings().with_overrides({"runtime.realtime": True})
    system = System.of(registry, [LanguageDetector.from_registry(registry, settings)], data_dir=tmp_path / "data",
                       settings=settings)
    feed = tmp_path / "chat.jsonl"
    feed.write_text("")
    pipeline = system.pipeline()
    pipeline.add_chat(lambda on_message, on_error: JsonlChatSource(feed, on_message, on_error, follow=True))
    pipeline.start()
    try:
        with feed.open("a") as f:
            for role, text in (("viewer", PARAPHRASE), ("seller", PLAIN), ("seller", PARAPHRASE)):
                f.write(json.dumps({"room": "deals", "time": time.time(), "author": role, "role": role,
                                    "text": text}) + "\n")
        alerts = wait_for(lambda: system.store.alerts(), timeout=15)
    finally:
        pipeline.stop()
    assert [(a.room_id, a.rule, a.severity, a.subject) for a in alerts] == [
        ("deals", "counterfeit_paraphrase", "review", "bargain")]
    assert alerts[0].signals[0]["evidence"]["role"] == "seller"
