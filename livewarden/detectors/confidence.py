"""One confidence scale for every measured score: 0.5 at the match threshold, 0.8 at a strong match.

Inliers (marks), similarities (products) and distances (faces) all map through the same logistic, so a
rule's `min_confidence` means the same for each. `strong` may lie on either side of `half`.
"""

from __future__ import annotations

import math


def calibrated(value: float, half: float, strong: float) -> float:
    """0.5 at `half`, 0.8 at `strong`, logistic in between and beyond."""
    span = strong - half
    if abs(span) < 1e-9:
        span = math.copysign(1e-9, span or 1.0)
    z = math.log(4.0) * (value - half) / span
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
