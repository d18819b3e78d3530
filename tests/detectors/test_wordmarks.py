"""Word-marks: a brand's name read on camera is a sighting of the brand (matching rules, a real photo, a scan)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from livewarden.detectors.wordmarks import WordMarks

from ..conftest import DATA

WORDS = WordMarks({"cocacola": ["Coca-Cola"], "dhl": ["DHL"], "mcdonalds": ["McDonald's"], "citroen": ["Citroën"],
                   "starbucks": ["Starbucks"], "redbull": ["Red Bull"], "quiet": []})


def brands(text: str) -> list[str]:
    return sorted(m.brand for m in WORDS.find(text))


@pytest.mark.parametrize("text,expected", [
    ("Coca-Cola", ["cocacola"]), ("COCA COLA zero", ["cocacola"]), ("enjoy cocacola", ["cocacola"]),
    ("Coca-Co", ["cocacola"]),  # the frame cut the end off
    ("STRBUCKS COFFEE", ["starbucks"]),  # one letter lost by the reader
    ("1-800 CALL-DHL", ["dhl"]), ("www.dhl.com", ["dhl"]), ("RedBull", ["redbull"]), ("Red Bull", ["redbull"]),
    ("i'm lovin' it McDonalds", ["mcdonalds"]), ("CITROEN C4", ["citroen"]), ("Citroën", ["citroen"]),
    ("STАRBUCKS", ["starbucks"]),  # a Cyrillic А among the Latin letters
])
def test_a_brand_is_found_however_its_name_was_written_or_read(text, expected):
    assert brands(text) == expected


@pytest.mark.parametrize("text", [
    "adhlx", "D H", "Coca", "Cola", "Star", "bucks", "Redhill", "Jon Ramsey Photography", "2009 (c) Daniel",
])
def test_words_that_only_look_like_a_brand_are_not_one(text):
    assert brands(text) == []  # short words exactly, long words with at most a slip, a cut keeps most of the word


def test_each_brand_once_per_line_and_a_brand_without_words_is_never_read():
    assert [m.brand for m in WORDS.find("DHL DHL dhl.com")] == ["dhl"]
    assert not WordMarks({"quiet": []}) and WordMarks({"dhl": ["DHL"]})


FEDEX = DATA / "logos" / "dev" / "fedex" / "4150061002.jpg"  # a FedEx Express van (FlickrLogos-27, research use)


def test_the_name_on_a_real_photo_is_read_as_the_brand():
    if not FEDEX.is_file():
        pytest.skip(f"reference photo not found at {FEDEX} (../shared/data beside the repo)")
    from livewarden.detectors.ocr import TextReader

    lines = TextReader(languages=("en",)).read(cv2.imread(str(FEDEX)))
    found = {m.brand for line in lines for m in WordMarks({"fedex": ["FedEx"], "dhl": ["DHL"]}).find(line.text)}
    assert found == {"fedex"}


def test_a_card_naming_a_brand_the_seller_may_not_sell_asks_for_review(tmp_path: Path):
    from livewarden.cli import app
    from tests.runtime.test_language_pipeline import card_clip, write_shop

    registry = write_shop(tmp_path)  # bargain sells nova's and koru's products but is authorized for neither
    card_clip(tmp_path / "room.mp4", "NOVA original")
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "room.mp4"), "--room", "deals", "--registry",
                                      str(registry), "--out", str(tmp_path / "scan")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "scan" / "report.json").read_text())
    [finding] = [f for f in report["findings"] if f["rule"] == "unauthorized_brand"]
    assert finding["subject"] == "nova" and finding["severity"] == "review"  # a name read, not a logo matched
    assert 1.0 <= finding["first_stream_time"] < 5.0
    [sighting] = [s for s in report["on_camera"] if s["kind"] == "mark"]
    assert sighting["subject"] == "nova"
