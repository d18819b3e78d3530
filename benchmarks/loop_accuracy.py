"""Loops, back-and-forth playbacks, clips played once and still pictures: what the loop and frozen search make
of them, on the real clips of ../shared/data/video/<split>.

    python benchmarks/loop_accuracy.py [--split dev|eval] [--data DIR]

Positives: every clip looped 3 times as it is (exact), and re-encoded between loops (each repeat is the clip
through libx264 crf 30 at 360p); and long broadcasts made by playing the split's clips one after the other
in shuffled orders until they reach the period, then repeating the whole: periods from 5 s to 10 min.
Negatives: each clip played once, forth then back (ping-pong), and all the clips one after the other once; a still studio (a clip's first frame with a ticking clock) is a frozen positive and a loop
negative. Frames are sampled at 2 a second as the live detector sees them. Printed: detection rate, the
delay after the first repeat began (goal: within one period + 10 s), false alerts on the negatives (goal 0).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reference_data import data_dir  # noqa: E402

from livewarden.detectors.frame_hash import hash_image  # noqa: E402
from livewarden.detectors.loops import FrozenWatch, SelfMatcher  # noqa: E402
from livewarden.testing.clips import sampled_frames, write_clip  # noqa: E402


def sampled(path: Path, fps: float = 2.0) -> list[np.ndarray]:
    return [image for _, image in sampled_frames(path, fps)]


def re_encoded(frames: list[np.ndarray], tmp: Path) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    size = (round(w * 360 / h) // 2 * 2, 360)
    write_clip(tmp / "re.mp4", (cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames), 2, crf=30)
    return sampled(tmp / "re.mp4")


def first_loop(hashes: list) -> float | None:
    matcher = SelfMatcher()
    for i, h in enumerate(hashes):
        if matcher.add(i * 0.5, h) is not None:
            return i * 0.5
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="eval", choices=("dev", "eval"))
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    folder = data_dir(args.data) / "video" / args.split
    clips = {p.stem: sampled(p) for p in sorted(folder.glob("*.mp4"))}
    if not clips:
        sys.exit(f"no clips at {folder}")
    hashes = {name: [hash_image(f) for f in frames] for name, frames in clips.items()}
    rows = []  # (case, positive, period_s, detected_at or None, first repeat starts at)
    with tempfile.TemporaryDirectory() as tmp:
        for name, hs in hashes.items():
            period = len(hs) * 0.5
            rows.append(("exact loop", True, period, first_loop(hs * 3), period))
            again = [hash_image(f) for f in re_encoded(clips[name], Path(tmp))]
            rows.append(("re-encoded loop", True, period, first_loop(hs + again + hs), period))
            rows.append(("played once", False, period, first_loop(hs), None))
            rows.append(("ping-pong", False, period, first_loop(hs + hs[::-1]), None))
    names = list(hashes)
    rng = np.random.default_rng(1)
    for period_s in (5, 30, 120, 600):
        broadcast = []
        while len(broadcast) * 0.5 < period_s:
            for name in rng.permutation(names):
                broadcast += hashes[name]
        broadcast = broadcast[: int(period_s * 2)]
        rows.append(("long loop", True, period_s, first_loop(broadcast * 2 + broadcast[:40]), period_s))
    # a long broadcast that never repeats: every clip once, in two orders
    for order in (names, names[::-1]):
        rows.append(("all clips, once", False, 0.0, first_loop([h for n in order for h in hashes[n]]), None))
    frozen_found, frozen_false = 0, 0
    for name, frames in clips.items():
        watch, still = FrozenWatch(), frames[0]
        for i in range(90):
            image = still.copy()
            cv2.putText(image, f"{i // 2:03d}", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
            found = watch.add(i * 0.5, image)
        frozen_found += found is not None
        rows.append(("still studio (loop?)", False, 45.0, first_loop([hash_image(still)] * 90), None))
        live = FrozenWatch()
        frozen_false += any(live.add(i * 0.5, f) is not None for i, f in enumerate(frames * 6))
    print(f"split {args.split}: {len(clips)} clips from {folder}")
    print(f"{'case':<22} {'n':>3} {'alerted':>8} {'max delay after repeat':>24} {'within period+10s':>18}")
    for case in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == case]
        hit = [r for r in mine if r[3] is not None]
        delays = [r[3] - r[4] for r in hit if r[4] is not None]
        within = sum(1 for r in hit if r[4] is not None and r[3] - r[4] <= r[2] + 10)
        print(f"{case:<22} {len(mine):>3} {len(hit):>8} {max(delays) if delays else float('nan'):>24.1f} "
              f"{within if mine[0][1] else '-':>18}")
    positives = [r for r in rows if r[1]]
    negatives = [r for r in rows if not r[1]]
    print(f"loops detected: {sum(r[3] is not None for r in positives)}/{len(positives)}; "
          f"false loop alerts on negatives: {sum(r[3] is not None for r in negatives)}/{len(negatives)}")
    print(f"frozen: still studio with a ticking clock found {frozen_found}/{len(clips)} (after 30 s); "
          f"clips looped 6x called frozen: {frozen_false}/{len(clips)}")
    print("goal: 100% of exact and re-encoded loops within one period + 10 s; 0 false alerts on the negatives")


if __name__ == "__main__":
    main()
