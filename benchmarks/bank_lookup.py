"""The bank of registered broadcasts at scale: build time, memory, lookups/s at distance <= 31, recall.

    python benchmarks/bank_lookup.py [--sizes 1000000 10000000] [--queries 4000] [--data DIR]

The bank holds the real frame hashes of the video clips in ../shared/data/video (every 0.5 s, whole and
centre) plus random hashes for bulk. Queries are the same frames as a restream shows them (scaled to 360p,
re-encoded as JPEG quality 40, a banner over the bottom 12%), looked up with every variant the live detector
uses; half the queries are random hashes (nothing to find). Recall is against an exact search of the same
bank (faiss IndexBinaryFlat) for the first 300 queries. Goal (HMA's target for a whole deployment): >= 4,000
lookups/s at 10 M hashes on this machine. Lookups/s counts one frame's variants as one lookup each.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import cv2
import faiss
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reference_data import data_dir  # noqa: E402

from livewarden.detectors.frame_hash import MATCH_DISTANCE, centre, hash_image, variants  # noqa: E402
from livewarden.detectors.hash_bank import BroadcastBank  # noqa: E402
from livewarden.testing.clips import sampled_frames  # noqa: E402


def clip_frames(folder: Path, every_s: float = 0.5):
    for path in sorted(folder.glob("*/*.mp4")):
        for t, image in sampled_frames(path, 1 / every_s):
            yield path.stem, t, image


def restreamed(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (round(w * 360 / h), 360), interpolation=cv2.INTER_AREA)
    cv2.rectangle(small, (0, int(360 * 0.88)), (small.shape[1], 360), (30, 30, 200), -1)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 40])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--queries", type=int, default=4000)
    ap.add_argument("--data", type=Path, default=None)
    args = ap.parse_args()
    video = data_dir(args.data) / "video"
    if not video.is_dir():
        sys.exit(f"no video clips at {video}")
    real, queries = [], []
    for name, t, image in clip_frames(video):
        real.append((name, t, hash_image(image).bits, hash_image(centre(image)).bits))
        queries.append(np.stack([h.bits for h in variants(restreamed(image)).values()]))
    print(f"real frames banked: {len(real)} (whole + centre: {2 * len(real)} hashes) from {video}")
    rng = np.random.default_rng(0)
    print(f"{'hashes':>11} {'build s':>8} {'MB':>6} {'lookups/s':>10} {'found':>6} {'recall':>7} {'index':>18}")
    for size in args.sizes:
        bank = BroadcastBank()
        started = time.perf_counter()
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        names = sorted({r[0] for r in real})
        for name in names:
            rows = [r for r in real if r[0] == name]
            bank.add(name, [r[1] for r in rows], np.stack([r[2] for r in rows]), "whole")
            bank.add(name, [r[1] for r in rows], np.stack([r[3] for r in rows]), "centre")
        bulk = size - len(bank)
        chunk = 1_000_000
        for start in range(0, bulk, chunk):
            n = min(chunk, bulk - start)
            bank.add("bulk", np.zeros(n), rng.integers(0, 256, (n, 32), dtype=np.uint8))
        bank.rebuild(wait=True)
        build_s = time.perf_counter() - started
        mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
        n_real = min(len(queries), args.queries // 2)
        frames = [queries[i % len(queries)] for i in range(n_real)]
        frames += [rng.integers(0, 256, (4, 32), dtype=np.uint8) for _ in range(args.queries - n_real)]
        stacked = np.concatenate(frames)
        started = time.perf_counter()
        found = bank.lookup(stacked)
        took = time.perf_counter() - started
        per_frame = [any(m.broadcast != "bulk" for ms in found[4 * i:4 * i + 4] for m in ms) for i in range(len(frames))]
        real_found = sum(per_frame[:n_real]) / n_real
        false = sum(per_frame[n_real:])
        exact = faiss.IndexBinaryFlat(256)
        exact.add(bank._hashes)
        sample = stacked[:300 * 4]
        lims, dist, ids = exact.range_search(sample, MATCH_DISTANCE + 1)
        truth = {(q, int(i)) for q in range(len(sample)) for i in ids[lims[q]:lims[q + 1]]}
        dist_k, ids_k = bank._index.search(sample, 4)
        got = {(q, int(i)) for q in range(len(sample)) for d, i in zip(dist_k[q], ids_k[q]) if d <= MATCH_DISTANCE}
        nearest = {q for q, _ in truth}
        hit = {q for q, _ in got}
        recall = len(hit & nearest) / max(1, len(nearest))
        print(f"{size:>11,} {build_s:>8.1f} {mb:>6.0f} {len(stacked) / took:>10,.0f} {real_found:>6.2f} "
              f"{recall:>7.3f} {type(bank._index).__name__:>18}   (random queries matched: {false})")
        del bank, exact
    print("found: restreamed frames (360p, JPEG 40, banner) whose broadcast was found by any variant; recall: "
          "queries with a match within 31 bits in the exact search that the index found too")
    print("goal: >= 4,000 lookups/s at 10 M hashes")


if __name__ == "__main__":
    main()
