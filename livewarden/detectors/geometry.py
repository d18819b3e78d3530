"""Boxes as (x0, y0, x1, y1): overlap, outline and look, shared by the detectors that track regions."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes; 0 when they do not touch."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_polygon(box: Sequence[int]) -> list[list[int]]:
    """The four corners of a box, clockwise from top-left (the evidence outline)."""
    x0, y0, x1, y1 = box
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def grey_thumb(crop: np.ndarray) -> np.ndarray:
    """A 16x16 grey thumbnail of a region: did what stands there change? (mean abs difference of two)"""
    return cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32)


def thumb_change(a: np.ndarray, b: np.ndarray) -> float:
    """How much a region changed between two grey_thumbs: mean absolute difference in grey levels."""
    return float(np.abs(a - b).mean())
