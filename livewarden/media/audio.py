"""Audio for speech recognition: decoded with PyAV to 16 kHz mono float32, cut into short overlapping windows.

Streaming speech recognition here means transcribing short windows (5 s by default) as they
complete, so a word said on air reaches the matcher within a few seconds. Windows overlap
(1 s by default) so a word cut by one window's edge is whole in the next.

Duplicates at the overlap: each window *owns* the part of the stream between the middles of
its two overlaps, `[start + overlap/2, start + window - overlap/2)` (the first window owns from
its start, a short final window to its end), and only words whose midpoint falls in the owned
span are kept (`SpeechTranscriber.transcribe(..., keep=owned_span(...))` does this with word
timestamps). Owned spans tile the stream without gaps or overlap, so every word is kept
exactly once, from the window in which it sits furthest from an edge.

Timing: a window's start time is on the stream clock of the frames pushed (`frame.time`, i.e.
pts x time_base), counted in samples from the first frame; a jump of more than
`max_gap_s` in the frames' times (a reconnect, a pts reset) drops the partial window and
restarts the count at the new time, so start times never drift from the stream clock.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from livewarden.model import AudioChunk

RATE = 16000


def owned_span(
    start_time: float, duration_s: float, window_s: float, overlap_s: float, first: bool = False
) -> tuple[float, float]:
    """The stream-time span `[lo, hi)` a window owns; words whose midpoint is outside it belong to a neighbour.

    `first` is the first window of a stream (owns from its start); a window shorter than
    `window_s` is a stream's last (owns to its end).
    """
    lo = -math.inf if first else start_time + overlap_s / 2
    hi = start_time + window_s - overlap_s / 2 if duration_s >= window_s - 1e-3 else math.inf
    return lo, hi


class AudioWindows:
    """Collects `av.AudioFrame`s of any format/rate/layout and returns complete 16 kHz mono windows.

    `push(frame)` returns the windows completed by that frame as `(start_time, samples)`
    (float32, exactly `window_s * 16000` samples, start times `window_s - overlap_s` apart);
    `flush()` returns what is left at the end of a stream as one shorter window, if it holds
    any audio not already returned.
    """

    def __init__(self, window_s: float = 5.0, overlap_s: float = 1.0, max_gap_s: float = 0.5) -> None:
        if not 0 <= overlap_s < window_s:
            raise ValueError("need 0 <= overlap_s < window_s")
        self.window_s, self.overlap_s, self.max_gap_s = window_s, overlap_s, max_gap_s
        self.window_n = int(round(window_s * RATE))
        self.hop_n = self.window_n - int(round(overlap_s * RATE))
        self._resampler: av.AudioResampler | None = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start: float | None = None  # stream time of _buf[0]
        self._next_in: float | None = None  # expected time of the next input frame
        self._fresh = 0  # samples in _buf not yet returned in any window
        self._first_start: float | None = None  # start of the first window since the last (re)start

    def _reset(self, t: float) -> None:
        self._resampler = None
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = t
        self._fresh = 0
        self._first_start = t

    def push(self, frame: av.AudioFrame) -> list[tuple[float, np.ndarray]]:
        t = frame.time
        if t is None:  # no timestamps: count samples
            t = self._next_in if self._next_in is not None else 0.0
        if self._buf_start is None or (self._next_in is not None and abs(t - self._next_in) > self.max_gap_s):
            self._reset(t)
        self._next_in = t + frame.samples / float(frame.sample_rate or RATE)
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        self._append(self._resampler.resample(frame))
        return self._take()

    def flush(self) -> list[tuple[float, np.ndarray]]:
        """The stream ended: the remaining audio as a final, shorter window (if any of it is new)."""
        if self._resampler is not None:
            self._append(self._resampler.resample(None))
        out = self._take()
        if self._fresh > 0 and self._buf.size and self._buf_start is not None:
            out.append((self._buf_start, self._buf.copy()))
        self._buf = np.zeros(0, dtype=np.float32)
        self._fresh = 0
        self._resampler = None
        return out

    def owned_span(self, start_time: float, samples: np.ndarray) -> tuple[float, float]:
        """`owned_span` for a window this object returned (knows whether it was the first)."""
        first = self._first_start is not None and abs(start_time - self._first_start) < 1e-6
        return owned_span(start_time, samples.size / RATE, self.window_s, self.overlap_s, first)

    def _append(self, frames: list[av.AudioFrame]) -> None:
        for f in frames:
            a = f.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            self._buf = np.concatenate([self._buf, a])
            self._fresh += a.size

    def _take(self) -> list[tuple[float, np.ndarray]]:
        out = []
        assert self._buf_start is not None or self._buf.size == 0
        while self._buf.size >= self.window_n:
            out.append((float(self._buf_start), self._buf[: self.window_n].copy()))
            self._buf = self._buf[self.hop_n :]
            self._buf_start = float(self._buf_start) + self.hop_n / RATE
            self._fresh = max(0, self._buf.size - (self.window_n - self.hop_n))
        return out


class NoAudio(ValueError):
    """The source carries no audio stream (a video-only broadcast): nothing to hear until it does."""


def read_audio(
    path_or_url: str | Path, window_s: float = 5.0, overlap_s: float = 1.0
) -> Iterator[tuple[float, np.ndarray]]:
    """A file's (or URL's) first audio stream as `(start_time, samples)` windows, the last one shorter.

    `start_time` is on the file's own clock (the first audio frame's time, usually 0).
    """
    windows = AudioWindows(window_s, overlap_s, max_gap_s=math.inf)
    with av.open(str(path_or_url)) as container:
        if not container.streams.audio:
            raise NoAudio(f"{path_or_url}: no audio stream")
        for frame in container.decode(container.streams.audio[0]):
            yield from windows.push(frame)
    yield from windows.flush()


def load_audio(path_or_url: str | Path) -> np.ndarray:
    """A whole file as one 16 kHz mono float32 array (for offline use and benchmarks)."""
    parts = [s for _, s in read_audio(path_or_url, window_s=3600.0, overlap_s=0.0)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def audio_chunks(room_id: str, path_or_url: str | Path, window_s: float = 5.0,
                 overlap_s: float = 1.0) -> Iterator[AudioChunk]:
    """A room's audio as AudioChunks: overlapping windows, each knowing the span it owns (see owned_span)."""
    for i, (start, samples) in enumerate(read_audio(path_or_url, window_s, overlap_s)):
        keep = owned_span(start, samples.size / RATE, window_s, overlap_s, first=i == 0)
        yield AudioChunk(room_id, start, samples, keep, RATE)
