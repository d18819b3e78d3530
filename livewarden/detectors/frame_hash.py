"""Frame fingerprints: Meta's PDQ (256 bits) with its quality score, the signal type of broadcast matching.

`pdqhash` wraps Meta's C++ PDQ; its hashes are the ones Meta's own python-threatexchange publishes for its
reference images (tests/detectors/test_frame_hash.py checks one bit for bit). A frame is scaled to
`HASH_WIDTH` before hashing: PDQ reduces every picture to 64x64 anyway, and hashing a 720p frame whole costs
~27 ms against ~0.5 ms scaled (measured: the scaled hash is 10-14 bits from the full one, far inside the
match distance, and the same for every frame hashed here, bank or room).

A hash is 32 bytes (uint8, big-endian bit order, as PDQ's hex strings); distances are Hamming distances,
counted with numpy's `bitwise_count`. Besides the whole picture, `variants` hashes what thieves change: the
mirror image (hashed flipped) and the centre of the frame (a new border, banner
or price strip around the stolen picture).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pdqhash

HASH_BYTES = 32
HASH_WIDTH = 256  # pixels: frames are scaled to this width before hashing
MATCH_DISTANCE = 31  # vPDQ's frame match distance (of 256 bits)
MIN_QUALITY = 50  # vPDQ ignores frames below PDQ quality 50 (flat, dark, blurred: they match anything)
CENTRE = 0.8  # the centre variant keeps this fraction of each side (a border or banner of up to 10%)
VARIANTS = ("whole", "mirror", "centre", "centre_mirror")


@dataclass(frozen=True)
class FrameHash:
    """One frame's PDQ hash and quality (0-100)."""

    bits: np.ndarray  # (32,) uint8
    quality: int

    @property
    def usable(self) -> bool:
        return self.quality >= MIN_QUALITY

    def hex(self) -> str:
        return self.bits.tobytes().hex()


def _scaled_rgb(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    if w > HASH_WIDTH:
        image = cv2.resize(image, (HASH_WIDTH, max(1, round(h * HASH_WIDTH / w))), interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_GRAY2RGB))
    return np.ascontiguousarray(image[:, :, ::-1])  # BGR -> RGB


def _pack(vector: np.ndarray) -> np.ndarray:
    return np.packbits(vector.astype(np.uint8))


def hash_image(image: np.ndarray, scaled: bool = True) -> FrameHash:
    """PDQ of a BGR (or grey) image; `scaled=False` hashes it at full size (what the reference tools do)."""
    rgb = _scaled_rgb(image) if scaled else np.ascontiguousarray(image[:, :, ::-1])
    vector, quality = pdqhash.compute(rgb)
    return FrameHash(_pack(vector), int(quality))


def centre(image: np.ndarray, keep: float = CENTRE) -> np.ndarray:
    h, w = image.shape[:2]
    dy, dx = int(h * (1 - keep) / 2), int(w * (1 - keep) / 2)
    return image[dy:h - dy, dx:w - dx]


def variants(image: np.ndarray) -> dict[str, FrameHash]:
    """The hashes a query frame is looked up with: whole, mirrored, centre, centre mirrored (see VARIANTS).

    The mirror images are hashed flipped: PDQ's own dihedral flip (`compute_dihedral`) lands 12-34 bits from
    the hash of the flipped picture on the video dev clips, too far for a distance of 31."""
    out = {}
    for name, part in (("whole", image), ("centre", centre(image))):
        rgb = _scaled_rgb(part)
        for key, pixels in ((name, rgb), ("mirror" if name == "whole" else "centre_mirror", rgb[:, ::-1])):
            vector, quality = pdqhash.compute(np.ascontiguousarray(pixels))
            out[key] = FrameHash(_pack(vector), int(quality))
    return {name: out[name] for name in VARIANTS}


def from_hex(text: str) -> np.ndarray:
    data = bytes.fromhex(text)
    if len(data) != HASH_BYTES:
        raise ValueError(f"a PDQ hash is {HASH_BYTES * 2} hex digits, not {len(text)}")
    return np.frombuffer(data, np.uint8).copy()


def distances(query: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Hamming distances from one hash (32,) to each row of `hashes` (n, 32)."""
    return np.bitwise_count(np.bitwise_xor(hashes, query)).sum(axis=-1, dtype=np.int32)


def distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum())
