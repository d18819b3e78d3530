"""A seller's voice for demo rooms, tests and benchmarks: English from espeak-ng, a Mandarin offer from a file.

English is synthesised when needed with Debian's espeak-ng, which a recogniser hears well. Its Mandarin is not
speech Whisper can hear, so the Chinese offer is a recording made once with Kokoro-82M
(`scripts/make_voice_fixture.py`, which says how; `voices/NOTICE` gives the licences), shipped here as 16 kHz
FLAC. `with_sound` puts a sound track under a clip, or under a grey picture.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from livewarden.media.audio import RATE, load_audio

ZH_OFFER = Path(__file__).parent / "voices" / "zh_offer.flac"


def espeak(line: str, speed: int = 140) -> np.ndarray:
    """`line` said in American English by espeak-ng, as float32 samples at the recogniser's rate."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("a speaking room needs espeak-ng (scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        said = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(said), line], check=True)
        return load_audio(said)


def with_sound(track: np.ndarray, out: Path, video: Path | None = None, *, fps: int = 10) -> Path:
    """Write `out`: `video`'s picture (copied) or a grey 640x360 one, over `track` (float32 at RATE) as AAC;
    as long as the shorter of the two."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "track.f32"
        np.asarray(track, np.float32).tofile(raw)
        picture = (["-i", str(video)] if video is not None
                   else ["-f", "lavfi", "-i", f"color=c=gray:s=640x360:r={fps}"])
        encode = (["-c:v", "copy"] if video is not None
                  else ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", str(fps)])
        made = Path(tmp) / f"made{out.suffix}"  # written aside, so `out` may be `video` itself
        subprocess.run(["ffmpeg", "-v", "error", "-y", *picture, "-f", "f32le", "-ar", str(RATE), "-ac", "1",
                        "-i", str(raw), "-map", "0:v", "-map", "1:a", *encode, "-c:a", "aac", "-b:a", "64k",
                        "-ar", "44100", "-shortest", str(made)], check=True)
        shutil.move(made, out)
    return out
