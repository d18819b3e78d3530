"""Accuracy and speed of the marks detector on real photos (FlickrLogos-27 vs simple-icons renders).

    python benchmarks/marks_accuracy.py [--split dev|eval] [--data DIR] [--sweep]

Every brand's `_black` and `_color` render goes into one index (48 brands, 96
references). Evaluation is per image: predicting brand B on a photo is a true
positive when B is in the photo's `brands`, otherwise a false positive.
`--sweep` prints precision/recall across `min_inliers` so thresholds can be
chosen on dev; report numbers on eval, never tune there.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from collections import Counter
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reference_data import data_dir  # noqa: E402

from livewarden.detectors.marks import DEFAULTS, MarkMatch, MarksDetector  # noqa: E402


def load(root: Path, split: str) -> tuple[list[tuple[str, Path]], list[tuple[str, dict]]]:
    labels = json.loads((root / "logos" / "labels.json").read_text())
    refs = sorted((v["brand"], root / "logos" / k) for k, v in labels.items() if v.get("ref"))
    photos = sorted((k, v) for k, v in labels.items() if not v.get("ref") and k.startswith(f"{split}/"))
    return refs, photos


def run(det: MarksDetector, root: Path, photos: list[tuple[str, dict]]) -> tuple[list[list[MarkMatch]], float]:
    """Match every photo once; return all matches (thresholds are applied afterwards) and ms per image."""
    out, spent = [], 0.0
    for rel, _ in photos:
        img = cv2.imread(str(root / "logos" / rel), cv2.IMREAD_COLOR)
        t = time.perf_counter()
        out.append(det.match_image(img))
        spent += time.perf_counter() - t
    return out, 1000 * spent / max(1, len(photos))


def score(photos: list[tuple[str, dict]], found: list[list[MarkMatch]], min_inliers: int) -> dict:
    per_brand: dict[str, Counter] = {}
    tp = fp = fn = 0
    none_alerts = other_alerts = n_none = n_other = 0
    for (rel, lab), ms in zip(photos, found):
        pred = {m.brand for m in ms if m.inliers >= min_inliers}
        truth = set(lab["brands"])
        for b in truth | pred:
            c = per_brand.setdefault(b, Counter())
            c["tp"] += b in truth and b in pred
            c["fp"] += b in pred and b not in truth
            c["fn"] += b in truth and b not in pred
        tp += len(pred & truth)
        fp += len(pred - truth)
        fn += len(truth - pred)
        kind = rel.split("/")[1]
        if kind == "none":
            n_none += 1
            none_alerts += bool(pred)
        elif kind == "other":
            n_other += 1
            other_alerts += bool(pred)
    return {
        "per_brand": per_brand,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "none_rate": none_alerts / max(1, n_none),
        "other_rate": other_alerts / max(1, n_other),
        "n_none": n_none,
        "n_other": n_other,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=["dev", "eval"], default="eval")
    ap.add_argument("--data", help="data folder (default $LIVEWARDEN_DATA or ../shared/data)")
    ap.add_argument("--sweep", action="store_true", help="print P/R across min_inliers (use on dev only)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a detector setting")
    args = ap.parse_args()

    root = data_dir(args.data)
    if not (root / "logos" / "labels.json").is_file():
        print(f"skipped: data not found at {root / 'logos'}")
        return 0
    cv2.setNumThreads(1)  # ms per image on one core, as in production (one room per thread)
    refs, photos = load(root, args.split)
    t = time.perf_counter()
    # Index with the lowest threshold swept, so each threshold is applied afterwards on the same run.
    floor = 8 if args.sweep else DEFAULTS["min_inliers"]
    overrides = {k: ast.literal_eval(v) for k, v in (o.split("=", 1) for o in args.set)}
    det = MarksDetector(refs, **{"min_inliers": floor, **overrides})
    build_s = time.perf_counter() - t
    found, ms = run(det, root, photos)
    print(f"split={args.split} photos={len(photos)} refs={len(refs)} brands={len({b for b, _ in refs})} "
          f"index build {build_s:.1f}s, {ms:.1f} ms/image (one core)")

    if args.sweep:
        if args.split == "eval":
            print("warning: sweeping on eval; choose thresholds on dev")
        print("min_inliers  precision  recall   tp  fp  fn  none_FA  other_FA")
        for k in range(floor, 41, 2):
            r = score(photos, found, k)
            print(f"{k:11d}  {r['precision']:9.3f}  {r['recall']:6.3f}  {r['tp']:3d} {r['fp']:3d} {r['fn']:3d}"
                  f"  {r['none_rate']:7.3f}  {r['other_rate']:8.3f}")
        return 0

    r = score(photos, found, det.settings["min_inliers"])
    present = {b for _, lab in photos for b in lab["brands"]}
    print(f"\n{'brand':12s} precision  recall  tp fp fn")
    for b in sorted(r["per_brand"]):
        c = r["per_brand"][b]
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        rec = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else float("nan")
        tag = "" if b in present else "  (not in split: false alerts only)"
        print(f"{b:12s} {p:9.3f}  {rec:6.3f}  {c['tp']:2d} {c['fp']:2d} {c['fn']:2d}{tag}")
    print(f"\nmicro precision {r['precision']:.3f}  recall {r['recall']:.3f}  (tp {r['tp']} fp {r['fp']} fn {r['fn']})")
    print(f"false-alert rate: none/ {r['none_rate']:.3f} of {r['n_none']} photos, "
          f"other/ {r['other_rate']:.3f} of {r['n_other']} photos")
    print(f"ms per image: {ms:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
