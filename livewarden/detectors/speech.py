"""What a seller says: speech to text with faster-whisper, Whisper tiny.en (English) or base (multilingual: zh, vi
and 97 more), both from installed packages (detectors/speech_models.py).

Models load by path with int8 weights on one CPU thread: nothing is downloaded, ever, and a missing file is a
`SpeechModelMissing` error naming the package. A room is heard in its declared language, or in the language
Whisper hears, held against one-window flips (`LanguageHold`); external captions still come in as `speech` lines.

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
from livewarden.detectors.text_blocks import Placed, TextBlock
from livewarden.detectors.text_normalize import simplified
from livewarden.detectors.transcription_pool import TranscriptionPool
from livewarden.detectors.speech_models import SpeechModelMissing, check_model_dir  # noqa: F401 (re-exported)
from livewarden.detectors.speech_models import model_dir as packaged_dir
from livewarden.model import AudioChunk, Signal, TextLine

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
    language: str = "en"


class LanguageHold:
    """A room's spoken language, held: one window heard as another language (a loan word, a noisy second) does not
    flip it; `switch_after` windows in a row, each at least `min_probability` sure, do. A room that declares its
    languages is only ever heard in one of them (one declared: that one, no detection at all)."""

    def __init__(self, declared: tuple[str, ...] = (), switch_after: int = 2, min_probability: float = 0.7):
        self.declared, self.switch_after, self.min_probability = tuple(declared), switch_after, min_probability
        self.current: str | None = declared[0] if len(declared) == 1 else None
        self._candidate, self._count = None, 0

    @property
    def forced(self) -> str | None:
        return self.declared[0] if len(self.declared) == 1 else None

    def observe(self, probabilities: list[tuple[str, float]]) -> str:
        """The window's language probabilities (Whisper's) -> the language the room is heard in now."""
        if self.declared:
            probabilities = [(lang, p) for lang, p in probabilities if lang in self.declared] or \
                [(self.declared[0], 1.0)]
            total = sum(p for _, p in probabilities) or 1.0
            probabilities = [(lang, p / total) for lang, p in probabilities]
        best, p = max(probabilities, key=lambda lp: lp[1])
        if self.current is None or best == self.current:
            self.current, self._candidate, self._count = best, None, 0
        elif p >= self.min_probability:
            self._count = self._count + 1 if best == self._candidate else 1
            self._candidate = best
            if self._count >= self.switch_after:
                self.current, self._candidate, self._count = best, None, 0
        else:
            self._candidate, self._count = None, 0
        return self.current


class SpeechTranscriber:
    """Transcribes 16 kHz mono float32 audio; the model loads on first use, once, under a lock."""

    def __init__(
        self,
        model_dir: str | Path | None = None,
        cpu_threads: int = 1,
        beam_size: int = 1,
        vad_filter: bool = True,
        model: str = "tiny.en",
        cache: Path | None = None,
        pool: TranscriptionPool | None = None,
    ) -> None:
        from livewarden.config import Settings

        self.model_dir = check_model_dir(Path(model_dir)) if model_dir is not None else \
            packaged_dir(model, cache or Settings().store.index_dir)
        self.english_only = model == "tiny.en" and model_dir is None
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.pool = pool or TranscriptionPool(1)  # shared by every transcriber of a detector: the speech budget
        self._model: Any = None
        self._lock = threading.Lock()  # the model loads once

    def load(self) -> Any:
        """The model, loaded on first use (once)."""
        with self._lock:
            if self._model is None:
                from faster_whisper import WhisperModel

                self._model = WhisperModel(
                    str(self.model_dir),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.cpu_threads,
                    num_workers=self.pool.workers,  # as many windows at once as the pool lets through
                    local_files_only=True,
                )
            return self._model

    def transcribe(
        self, samples: np.ndarray, start_time: float = 0.0, keep: tuple[float, float] | None = None,
        language: str | None = "en", hold: LanguageHold | None = None,
    ) -> list[SpeechSegment]:
        """Segments of `samples` (float32 mono 16 kHz) with times `start_time + offset`.

        `keep=(lo, hi)` keeps only words whose midpoint lies in `[lo, hi)` on the caller's
        clock (a streaming window's owned span) and rebuilds each segment from them. `language`: the language
        spoken (None: Whisper tells, per call); with `hold`, the room's held language decides (detected once per
        call, decoded again only when the window was heard in another language than the held one).
        """
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if samples.size < 1600:  # under 0.1 s: nothing to say
            return []
        if self.english_only:
            language = "en"
        elif hold is not None:
            language = hold.forced
        segments, info = self._run(samples, language, keep is not None)
        if hold is not None and language is None and info.all_language_probs:
            held = hold.observe(info.all_language_probs)
            if held != info.language:
                segments, info = self._run(samples, held, keep is not None)
        spoken = language or info.language
        script = simplified if spoken == "zh" else (lambda text: text)
        out = []
        for s in segments:
            words = tuple(
                SpeechWord(float(start_time + w.start), float(start_time + w.end), script(w.word), float(w.probability))
                for w in (s.words or ())
            )
            if keep is not None:
                lo, hi = keep
                words = tuple(w for w in words if lo <= (w.start + w.end) / 2 < hi)
                if not words:
                    continue
                out.append(SpeechSegment(words[0].start, words[-1].end, "".join(w.word for w in words).strip(), words,
                                         spoken))
            else:
                text = script(s.text.strip())
                if text:
                    out.append(SpeechSegment(float(start_time + s.start), float(start_time + s.end), text, words,
                                             spoken))
        return out

    def _run(self, samples: np.ndarray, language: str | None, words: bool):
        model = self.load()
        with self.pool.slot():
            segments, info = model.transcribe(samples, language=language, beam_size=self.beam_size,
                                              vad_filter=self.vad_filter, condition_on_previous_text=False,
                                              word_timestamps=words)
            return list(segments), info  # the generator does the work: run it inside the slot


class SpeechDetector(Detector):
    """What the seller says: each audio window transcribed in the room's language (declared in the registry, or
    heard and held: `LanguageHold`), each segment read as a line from the seller's side. `model`: "auto" hears a
    room that declares English only with tiny.en and every other room with the multilingual base."""

    name = "speech"
    kinds = kinds_of("speech")
    reads = AudioChunk

    def __init__(self, transcribers: dict[str, SpeechTranscriber] | Any, language: Any, model: str = "auto",
                 room_languages: dict[str, tuple[str, ...]] | None = None, rooms: tuple[str, ...] = ()):
        self.transcribers = transcribers if isinstance(transcribers, dict) else {"any": transcribers}
        self.language, self.model = language, model
        self.room_languages = room_languages or {}
        self.rooms = rooms  # the registry's rooms: warm() loads the models they will be heard with

    @classmethod
    def from_registry(cls, registry: Any, settings: Any) -> "SpeechDetector":
        from livewarden.detectors.language import LanguageDetector

        speech = settings.detectors.speech
        cache = settings.store.index_dir
        pool = TranscriptionPool(speech.workers)
        if speech.model_dir is not None:
            transcribers = {"any": SpeechTranscriber(speech.model_dir, pool=pool)}
        else:
            names = {"tiny.en", "base"} if speech.model == "auto" else {speech.model}
            transcribers = {n: SpeechTranscriber(model=n, cache=cache, pool=pool) for n in sorted(names)}
        languages = {r.id: tuple(r.languages) for r in registry.rooms if r.languages}
        return cls(transcribers, LanguageDetector.from_registry(registry, settings), speech.model, languages,
                   tuple(r.id for r in registry.rooms))

    def transcriber_for(self, room_id: str) -> SpeechTranscriber:
        if "any" in self.transcribers:
            return self.transcribers["any"]
        if len(self.transcribers) == 1:
            return next(iter(self.transcribers.values()))
        english = self.room_languages.get(room_id) == ("en",)
        return self.transcribers["tiny.en" if english else "base"]

    def open_room(self, room_id: str) -> "SpeechRoom":
        return SpeechRoom(self, room_id)

    def warm(self) -> None:
        """Load the models the registry's rooms will be heard with (a room added later loads its own)."""
        needed = {id(self.transcriber_for(r)): self.transcriber_for(r) for r in self.rooms}
        for transcriber in needed.values():
            transcriber.load()
        self.language.warm()


class SpeechRoom(RoomDetector):
    """One room's audio windows (the windowing itself is media.audio's), its held language, and the last thing
    said: an offer cut in two by a window's edge ("交易" | "几乎停滞", "same fac" | "tory as") is read whole,
    as the two lines joined, when neither half says it alone."""

    def __init__(self, detector: SpeechDetector, room_id: str = ""):
        self.detector = detector
        self.transcriber = detector.transcriber_for(room_id)
        self.hold = LanguageHold(detector.room_languages.get(room_id, ()))
        self.last: TextLine | None = None  # the previous segment, if it said nothing on its own

    def process(self, chunk: AudioChunk) -> list[Signal]:
        signals = []
        for segment in self.transcriber.transcribe(chunk.samples, chunk.stream_time, keep=chunk.keep, language=None,
                                                   hold=self.hold):
            if segment.text.strip():
                line = TextLine(chunk.room_id, segment.start, "speech", segment.text.strip(),
                                language=segment.language)
                read = self.detector.language.read(line, detector=self.detector.name)
                said = any(s.kind in OFFERS for s in read)
                if not said and self.last is not None:
                    read += self._across(self.last, line)
                    said = any(s.kind in OFFERS for s in read)
                self.last = None if said else line
                signals += read
        return signals

    def _across(self, before: TextLine, line: TextLine) -> list[Signal]:
        """What the two lines say together that neither says alone (the offer's evidence only: each line
        was already shown and its prices read)."""
        block = TextBlock([Placed(before.text, []), Placed(line.text, [])])
        joined = self.detector.language.read_block(line, block, detector=self.detector.name)
        return [s for s in joined if s.kind in OFFERS]

    def close(self) -> None:
        self.hold = self.transcriber = self.last = None  # type: ignore[assignment]


OFFERS = ("counterfeit_talk", "counterfeit_paraphrase")
