"""On-screen text: TextReader on a real video frame with livestream-card text rendered in en, zh and vi."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from livewarden.detectors.ocr import OcrLine, TextReader, fold, merge_readings

from ..conftest import DATA

CLIP = DATA / "video" / "dev" / "liveportrait_driving_d3.mp4"
LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    if not CLIP.is_file():
        pytest.skip(f"reference video not found at {CLIP} (set LIVEWARDEN_DATA to ../shared/data)")
    with av.open(str(CLIP)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == 60:
                img = f.to_ndarray(format="bgr24")
                break
    return cv2.resize(img, (1280, 720), interpolation=cv2.INTER_CUBIC)


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader()


def draw(frame: np.ndarray, items: list[tuple[str, Path, int, tuple[int, int], str]]) -> np.ndarray:
    for font in {it[1] for it in items}:
        if not font.is_file():
            pytest.skip(f"font {font} missing (Debian fonts-dejavu-core / fonts-wqy-zenhei, see scripts/setup.sh)")
    pil = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    d = ImageDraw.Draw(pil)
    for text, font_path, px, (x, y), style in items:
        font = ImageFont.truetype(str(font_path), px)
        l, t, r, b = font.getbbox(text)
        if style == "card":
            d.rectangle((x - 10, y - 10, x + r - l + 10, y + b - t + 10), fill=(250, 250, 245))
            d.text((x - l, y - t), text, font=font, fill=(20, 20, 20))
        else:
            d.text((x - l, y - t), text, font=font, fill=(255, 255, 255), stroke_width=3, stroke_fill=(0, 0, 0))
    return cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def test_reads_english_chinese_and_vietnamese_on_a_real_frame(frame, reader):
    img = draw(
        frame,
        [
            ("高仿A货 只要99元", CJK_FONT, 44, (60, 60), "card"),
            ("AAA replica 1:1 $25", LATIN_FONT, 36, (60, 560), "outline"),
            ("Hàng fake loại 1 giá 199k", LATIN_FONT, 36, (60, 640), "card"),
        ],
    )
    lines = reader.read(img)
    assert all(isinstance(ln, OcrLine) for ln in lines)
    text = nfc(" ".join(ln.text for ln in lines))
    assert "高仿" in text and "99元" in text
    assert "replica" in text.lower() and "1:1" in text
    assert nfc("Hàng") in text and nfc("loại") in text and nfc("giá") in text  # diacritics survive
    vi = next(ln for ln in lines if "fake" in ln.text)
    assert len(vi.box) == 4 and 600 < np.mean([p[1] for p in vi.box]) < 700  # box in image pixels
    assert 0.5 <= vi.confidence <= 1.0 and vi.engine.startswith("rapidocr")
    zh = next(ln for ln in lines if "高仿" in ln.text)
    assert zh.engine == "rapidocr"  # Chinese lines never go to tesseract


def test_frame_without_text_gives_no_lines(frame, reader):
    assert reader.read(frame) == []


def test_rejects_non_bgr_input(reader):
    with pytest.raises(ValueError):
        reader.read(np.zeros((10, 10), dtype=np.uint8))


def test_merge_takes_tesseract_diacritics_only_for_the_same_words():
    tess = [("Hàng", 90.0), ("fake", 95.0), ("loại", 88.0), ("1", 90.0), ("giá", 91.0), ("199k", 90.0)]
    assert merge_readings("Hang fake loi 1 gia 199k", tess, 60, 0.6) == "Hàng fake loại 1 giá 199k"
    # a low-confidence or unrelated tesseract word never replaces RapidOCR's
    assert merge_readings("Hang fake", [("Hàng", 20.0), ("fake", 95.0)], 60, 0.6) == "Hang fake"
    assert merge_readings("AAA replica 1:1", [("ẶẠÀ", 90.0), ("replíca", 90.0), ("1:1", 90.0)], 60, 0.6) == "AAA replica 1:1"
    assert fold("Đồng hồ") == "dong ho"


def test_merge_never_puts_a_diacritic_on_an_english_word():
    """The card that came back as "the real deại from the brạng": tesseract's accents only land on words that
    can be Vietnamese syllables, and a line of English words is not re-read at all."""
    from livewarden.detectors.ocr import is_vietnamese_syllable, reads_as_vietnamese

    tess = [("the", 90.0), ("real", 90.0), ("deại", 80.0), ("from", 90.0), ("the", 90.0), ("brạng", 75.0)]
    assert merge_readings("the real deal from the brand", tess, 60, 0.6) == "the real deal from the brand"
    assert not reads_as_vietnamese("the real deal from the brand") and reads_as_vietnamese("Hang fake loai 1 gia")
    assert all(map(is_vietnamese_syllable, "nghiêng khuyến trường Đồng hồ giá".split()))
    assert not any(map(is_vietnamese_syllable, "deal brand from ship knockoff".split()))


def card(frame: np.ndarray, lines: list[str], x: int, y: int, px: int = 34) -> np.ndarray:
    """A white card with these lines, left-aligned, one line height apart (as a seller prints one)."""
    step = int(px * 1.5)
    return draw(frame, [(text, LATIN_FONT, px, (x, y + i * step), "card") for i, text in enumerate(lines)])


@pytest.fixture
def screen_text(tmp_path, reader):
    from livewarden.detectors.language import LanguageDetector
    from livewarden.detectors.screen_text import ScreenTextDetector
    from livewarden.registry.schema import Registry

    return ScreenTextDetector(reader, LanguageDetector(Registry()))


def test_a_card_is_judged_as_one_text_and_english_lines_keep_their_spelling(frame, reader, screen_text):
    from livewarden.model import Frame

    story = ["she said the knockoff she bought", "elsewhere fell apart, this one is", "the real deal from the brand"]
    img = card(frame, story, 60, 80)
    lines = reader.read(img)
    assert [nfc(ln.text) for ln in sorted(lines, key=lambda ln: ln.box[0][1])] == story  # no "deại", no "brạng"
    signals = screen_text.read(Frame("r", 3.0, img))
    assert [s.kind for s in signals] == ["text_line"]  # one block, and its negation on the next line holds
    assert signals[0].evidence["text"] == " ".join(story)


def test_an_offer_on_a_card_points_at_its_line_and_a_second_card_stays_apart(frame, screen_text):
    from livewarden.model import Frame

    img = card(frame, ["NEW IN TODAY", "AAA replica 1:1 bags", "only $25 each"], 60, 80)
    img = card(img, ["free shipping", "over $50"], 820, 520)  # another card, elsewhere on the frame
    signals = screen_text.read(Frame("r", 3.0, img))
    blocks = [s.evidence["text"] for s in signals if s.kind == "text_line"]
    assert sorted(blocks) == ["NEW IN TODAY AAA replica 1:1 bags only $25 each", "free shipping over $50"]
    talk = next(s for s in signals if s.kind == "counterfeit_talk")
    ev = talk.evidence
    assert ev["text"] == "AAA replica 1:1 bags" and ev["text"][ev["start"]:ev["end"]] == ev["span"]
    assert ev["block"].startswith("NEW IN TODAY") and 110 < np.mean([p[1] for p in ev["polygon"]]) < 170
    prices = {s.evidence["span"]: s.evidence["text"] for s in signals if s.kind == "stated_price"}
    assert prices == {"$25": "only $25 each", "$50": "over $50"}
