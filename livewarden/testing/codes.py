"""Codes drawn for tests, benchmarks and the demo: a QR (or any zxing format) rendered, printed on a swing tag
beside a brand's mark, or held up in a 720p frame at a size, tilt and blur."""

from __future__ import annotations

import cv2
import numpy as np
import zxingcpp

from livewarden.assets.marks import generate_background, place_mark


def code_image(payload: str, fmt: str = "QRCode", module_px: int = 4) -> np.ndarray:
    """The code as a grey image with its quiet zone (zxing-cpp's writer)."""
    barcode = zxingcpp.create_barcode(payload, getattr(zxingcpp.BarcodeFormat, fmt))
    return np.array(zxingcpp.write_barcode_to_image(barcode, scale=module_px))


def tag(mark: np.ndarray, payload: str, code_share: float = 0.45) -> np.ndarray:
    """A white swing tag: the brand's mark on the left, the unit's QR on the right (`code_share` of the width)."""
    h, w = mark.shape[:2]
    side = int(round(w * code_share / (1 - code_share)))
    code = cv2.resize(code_image(payload), (side, side), interpolation=cv2.INTER_NEAREST)
    height = max(h, side)
    card = np.full((height + 2 * 16, w + side + 3 * 16, 3), 245, np.uint8)
    card[16 + (height - h) // 2:16 + (height - h) // 2 + h, 16:16 + w] = mark
    card[16 + (height - side) // 2:16 + (height - side) // 2 + side, 32 + w:32 + w + side] = code[..., None]
    return card


def held_in_frame(image: np.ndarray, width_share: float, tilt: float = 0.0, angle: float = 0.0, blur: float = 0.0,
                  seed: int = 3, size: tuple[int, int] = (1280, 720)) -> tuple[np.ndarray, np.ndarray]:
    """`image` (a code, a tag, a photo of one) held up in a generated room: `width_share` of the frame's width,
    turned `angle` degrees, tilted `tilt` degrees away from the camera, blurred (Gaussian sigma, px).
    Returns (frame, polygon of the held image)."""
    w, h = size
    frame = generate_background(seed, w, h)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    frame, polygon = place_mark(frame, image, center=(w * 0.62, h * 0.5), scale=width_share, angle_deg=angle,
                                tilt=tilt)
    if blur > 0:
        frame = cv2.GaussianBlur(frame, (0, 0), blur)
    return frame, polygon
