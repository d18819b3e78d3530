"""Products on camera, recognised against the registry's catalog.

Proposals cost almost nothing: per room, a slowly updated background of a
tiny grey thumbnail; what differs from it in a large compact blob (the box a
seller holds up, a product put on the table) is a candidate. A static scene
has no candidate and is not embedded at all. Each candidate crop is embedded
with EfficientNet-Lite0 and searched in a faiss index of the catalog. The
best candidate must then be confirmed the way marks are: local features of
its pack shot found in the crop under one homography (packaging is printed
and planar; a look-alike card or another brand's pack is not). Only a very
close embedding match may stand without that (fruit and other things without
printed features). An unconfirmed crop that the ImageNet head calls a
packaged good is an `unknown_product` signal (for review: most things on
camera are not catalog products). A recognised product
that stays where it was is embedded again only once a second (a tiny tracker). What the
background cannot show (a product already on camera when watching starts, or one that never
moves) is found by a sweep: the whole frame searched for the pack shots' local features, on a
room's first frame and then every few seconds while no product is recognised; a product found
so is followed by searching again only around where it stood, until it is gone.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import faiss
import numpy as np

from livewarden.config import ProductsSettings
from livewarden.detectors.base import Detector, RoomDetector, tunables as base_tunables
from livewarden.detectors.confidence import calibrated
from livewarden.detectors.embedder import Embedder
from livewarden.detectors.geometry import box_polygon, grey_thumb, iou, thumb_change
from livewarden.detectors.index_cache import IndexCache, content, decode, fetch, for_settings, versions
from livewarden.detectors.pack_words import READ_SCALE, PackWords, crop_words, read_words, words_of
from livewarden.detectors.pack_words import VERSION as WORDS_VERSION
from livewarden.detectors.table import kinds_of
from livewarden.model import Frame, Signal

if TYPE_CHECKING:
    from livewarden.detectors.marks import MarkMatch, MarksDetector

DEFAULTS: dict[str, Any] = ProductsSettings().model_dump(exclude={"enabled"})  # the values and why: config.py
RANKED = 3  # products (best first) per crop that the decision looks at
VIEWS_VERSION = "held-up views v1 (index_backdrop, scale 0.4, +-6 deg, tilt 8, margin 8%)"  # for the index cache


@dataclass(frozen=True)
class ProductMatch:
    product: str
    brand: str
    similarity: float  # of the embeddings
    ref: str
    text: float = 0.0  # the pack's words read on the crop (PackWords.scores)


@dataclass(frozen=True)
class Decision:
    """What a crop was decided to be: a catalog product, confirmed by its pack shot or (None) not."""

    match: ProductMatch
    verified: MarkMatch | None = None  # the pack shot found in the crop; None: a very close embedding match

    @property
    def inliers(self) -> int:
        return self.verified.inliers if self.verified else 0


def decide(ranked: Sequence[ProductMatch], confirmed: Mapping[str, MarkMatch],
           settings: Mapping[str, Any]) -> Decision | None:
    """Which catalog product a crop is, or None ("not a catalog product"). The detector's one rule.

    `ranked`: the crop's best products by embedding similarity (and the words
    read on it), best first (`ProductIndex.search(..., k=RANKED)`). `confirmed`:
    the products whose pack shot the verifier found in the crop (`confirmations`);
    only candidates at or above `match_similarity` are looked up in it, so a
    caller may skip the verifier when none is. The first such confirmed candidate wins; else the
    best candidate stands alone only when it is at least `unverified_similarity`
    close AND `min_margin` ahead of the best other product; else nothing.
    Shared with benchmarks/products_accuracy.py so the figures measure this.
    """
    for m in ranked:
        if m.similarity >= settings["match_similarity"] and m.product in confirmed:
            return Decision(m, confirmed[m.product])
    if not ranked:
        return None
    best = ranked[0]
    runner_up = ranked[1].similarity if len(ranked) > 1 else -1.0
    if best.similarity >= settings["unverified_similarity"] and best.similarity - runner_up >= settings["min_margin"]:
        return Decision(best)
    return None


def build_verifier(originals: Sequence[tuple[str, np.ndarray]],
                   cache: IndexCache | None = None) -> MarksDetector | None:
    """The marks machinery with pack shots as the "marks" (brand = product id); None if no pack has features."""
    from livewarden.detectors.marks import MarksDetector

    try:
        return MarksDetector(list(originals), strict=False, cache=cache)
    except ValueError:
        return None  # nothing in the catalog has printed features (e.g. all produce)


def confirmations(verifier: MarksDetector | None, crop: np.ndarray) -> dict[str, MarkMatch]:
    """Product -> its best pack-shot match found in the crop under one homography (the input `decide` wants)."""
    if verifier is None:
        return {}
    found: dict[str, MarkMatch] = {}
    for m in verifier.match_image(crop):  # best first
        found.setdefault(m.brand, m)
    return found


def _image(image: np.ndarray | Path | str) -> tuple[np.ndarray | None, bytes]:
    """A reference as pixels (None when unreadable) and its content, which its cache key is made of."""
    if isinstance(image, np.ndarray):
        return image, content(image)
    try:
        data = content(image)
    except OSError:
        return None, b""
    return decode(data), data


def held_views(image: np.ndarray, views: int = 2) -> list[np.ndarray]:
    """The reference as a camera would crop it when held up: slightly turned, on clutter, with a margin.

    Catalog pack shots sit on white; crops from a room never do. Indexing these
    views too brings the two closer. The backdrops (`index_backdrop`: an
    out-of-focus room, fixed per view) are deliberately NOT the generator the
    tests and the demo draw their rooms with, so the index has never seen them.
    """
    from livewarden.assets.index_backdrops import index_backdrop
    from livewarden.assets.marks import place_mark

    out = []
    for j in range(views):
        bg = index_backdrop(j, 640, 360)
        img, polygon = place_mark(bg, image, center=(320, 180), scale=0.4, angle_deg=(-6, 6)[j % 2], tilt=8)
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        dx, dy = (x1 - x0) * 0.08, (y1 - y0) * 0.08
        out.append(img[max(0, int(y0 - dy)):int(y1 + dy), max(0, int(x0 - dx)):int(x1 + dx)])
    return out


class ProductIndex:
    """Every catalog reference image (and its held-up views) embedded once, in one faiss inner-product index.

    With a `cache`, each image's block of vectors (the image and its views, embedded as one batch, so a
    block does not depend on its neighbours) is kept under the image's content: a catalog embedded before
    is not embedded again, and one added product costs one block.
    """

    def __init__(self, embedder: Embedder, references: list[tuple[str, str, np.ndarray | Path | str]],
                 held_up_views: int = 2, cache: IndexCache | None = None):
        if not references:
            raise ValueError("the catalog has no product images to index")
        self.embedder = embedder
        blocks, self.rows = [], []
        self.originals: list[tuple[str, np.ndarray]] = []  # (product, image) as registered, for verification
        self.row_reference: list[int] = []  # which of `references` each row (image or held-up view) comes from
        version = f"{VIEWS_VERSION}; {embedder.version}; {versions(*embedder.packages)}"
        for r, (product, brand, image) in enumerate(references):
            img, data = _image(image)
            if img is None:
                raise ValueError(f"product {product!r}: cannot read image {image}")
            name = "" if isinstance(image, np.ndarray) else Path(image).name
            self.originals.append((product, img))
            block = fetch(cache, "products", version, {"held_up_views": held_up_views}, data,
                          lambda: {"vectors": embedder.vectors([img] + held_views(img, held_up_views))}, name)
            blocks.append(block["vectors"])
            self.rows += [(product, brand, name)] * len(block["vectors"])
            self.row_reference += [r] * len(block["vectors"])
        self.vectors = np.ascontiguousarray(np.concatenate(blocks), np.float32)
        self.reference_words: list[frozenset[str]] = []  # per reference: the words read on it (read_packs)
        self.names: dict[str, str] = {}  # product -> its and its brand's names, words of the product too
        self._build()

    def _build(self) -> None:
        self.index = faiss.IndexFlatIP(self.embedder.dim)
        self.index.add(self.vectors)
        # enough rows that a search always sees k different products, however many images one has
        self._rows_per_product = max(Counter(product for product, _, _ in self.rows).values())
        self._product_rows: dict[str, list[int]] = {}
        for i, (product, _, _) in enumerate(self.rows):
            self._product_rows.setdefault(product, []).append(i)
        self.pack_words = self._pack_words()

    def _pack_words(self) -> PackWords | None:
        if not self.reference_words:
            return None
        words: dict[str, set[str]] = {}
        for (product, _), read in zip(self.originals, self.reference_words):
            words.setdefault(product, set()).update(read, words_of(self.names.get(product, "")))
        return PackWords(words)

    def read_packs(self, reader: Any, names: Mapping[str, str] | None = None, cache: IndexCache | None = None) -> None:
        """Read the words printed on every reference (once: cached under the image's content) for the text cue.

        `names`: product -> the product's and its brand's names (their words count as printed too).
        """
        version = f"{WORDS_VERSION}; {versions('rapidocr', 'onnxruntime')}"
        self.names = dict(names or {})
        self.reference_words = []
        for _, img in self.originals:
            found = fetch(cache, "pack_words", version, {}, content(img),
                          lambda: {"words": np.array(sorted(read_words(reader, img, READ_SCALE)), dtype=str)})
            self.reference_words.append(frozenset(str(w) for w in found["words"]))
        self.pack_words = self._pack_words()

    def subset(self, references: Sequence[int]) -> "ProductIndex":
        """The index of only these references (positions in the list it was built from), nothing embedded again.

        For benchmarks that compare catalogs (e.g. with a third of the products left out) on one embedding pass.
        """
        keep = set(references)
        if not keep:
            raise ValueError("the catalog has no product images to index")
        rows = [i for i, r in enumerate(self.row_reference) if r in keep]
        renumber = {r: n for n, r in enumerate(sorted(keep))}
        out = object.__new__(ProductIndex)
        out.embedder = self.embedder
        out.rows = [self.rows[i] for i in rows]
        out.row_reference = [renumber[self.row_reference[i]] for i in rows]
        out.originals = [self.originals[r] for r in sorted(keep)]
        out.reference_words = [self.reference_words[r] for r in sorted(keep)] if self.reference_words else []
        out.names = self.names
        out.vectors = np.ascontiguousarray(self.vectors[rows])
        out._build()
        return out

    @classmethod
    def from_registry(cls, registry: Any, embedder: Embedder | None = None, cache: IndexCache | None = None,
                      reader: Any = None) -> "ProductIndex":
        """The catalog's index; with a text `reader`, its packs' words are read too (for `lookup`)."""
        embedder = embedder or Embedder()  # the model loads on the first image the cache does not hold
        index = cls(embedder, [(p.id, p.brand, img) for p in registry.products for img in p.images], cache=cache)
        if reader is not None:
            brands = {b.id: b.name for b in registry.brands}
            index.read_packs(reader, {p.id: f"{brands.get(p.brand, '')} {p.name}" for p in registry.products}, cache)
        return index

    def search(self, vectors: np.ndarray, k: int = 5, read: Sequence[set[str] | None] | None = None,
               text_weight: float = DEFAULTS["text_weight"]) -> list[list[ProductMatch]]:
        """Best `k` products (not images) per query vector, most similar first.

        With `read` (the words read on each query, when the index has read its packs), products are ranked by
        similarity + text_weight x word score, and a product whose words were read is ranked even when its
        picture is not among the nearest.
        """
        n_rows = len(self.rows)
        vectors = np.ascontiguousarray(vectors, np.float32)
        depth = min(n_rows, max(k * 4, k * self._rows_per_product))
        sims, ids = self.index.search(vectors, depth)
        out = []
        for q, (row_sims, row_ids) in enumerate(zip(sims, ids)):
            seen: dict[str, ProductMatch] = {}
            for s, i in zip(row_sims, row_ids):
                if i < 0:
                    continue
                product, brand, ref = self.rows[i]
                if product not in seen:
                    seen[product] = ProductMatch(product, brand, float(s), ref)
            words = read[q] if read is not None else None
            if words and self.pack_words:
                for product, score in self.pack_words.scores(words).items():
                    if product not in seen:  # its words were read, its picture is not among the nearest
                        rows = self._product_rows[product]
                        sims_of = self.vectors[rows] @ vectors[q]
                        best = int(np.argmax(sims_of))
                        _, brand, ref = self.rows[rows[best]]
                        seen[product] = ProductMatch(product, brand, float(sims_of[best]), ref)
                    seen[product] = replace(seen[product], text=score)
                ranked = sorted(seen.values(), key=lambda m: -(m.similarity + text_weight * m.text))
            else:
                ranked = list(seen.values())
            out.append(ranked[:k])
        return out

    def lookup(self, image: np.ndarray, k: int = 5, reader: Any = None,
               text_weight: float = DEFAULTS["text_weight"]) -> list[ProductMatch]:
        """Which catalog product is this (whole) image? Best matches first; with a text `reader` (and packs
        read), the words on the image rank them too."""
        read = [crop_words(reader, image)] if reader is not None and self.pack_words else None
        return self.search(self.embedder.vectors([image]), k, read, text_weight)[0]


class ProductsDetector(Detector):
    """Recognises catalog products held up to the camera; flags unmatched product-like objects for review."""

    name = "products"
    kinds = kinds_of("products")

    def __init__(self, index: ProductIndex, cache: IndexCache | None = None, **tunables: Any):
        unknown = set(tunables) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown products setting(s): {', '.join(sorted(unknown))}")
        self.settings = {**DEFAULTS, **tunables}
        self.index = index
        self.embedder = index.embedder
        # the marks machinery, with pack shots as the "marks": confirms a candidate geometrically
        self.verifier = build_verifier(index.originals, cache)
        self.brands = {product: brand for product, brand, _ in index.rows}

    @classmethod
    def from_registry(cls, registry: Any, settings: Any = None, embedder: Embedder | None = None,
                      **tunables: Any) -> "ProductsDetector":
        tunables = {**base_tunables(settings, "products"), **tunables}
        cache = for_settings(settings)
        return cls(ProductIndex.from_registry(registry, embedder, cache), cache, **tunables)

    def open_room(self, room_id: str) -> "ProductsRoom":
        return ProductsRoom(self)

    def warm(self) -> None:
        self.embedder.embed([np.zeros((64, 64, 3), np.uint8)])  # the network loaded and its first pass run

    def crop(self, image: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray, list[int]]:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = box
        m = self.settings["crop_margin"]
        dx, dy = int((x1 - x0) * m), int((y1 - y0) * m)
        x0, y0, x1, y1 = max(0, x0 - dx), max(0, y0 - dy), min(w, x1 + dx), min(h, y1 + dy)
        return image[y0:y1, x0:x1], [x0, y0, x1, y1]

    def confidence(self, similarity: float) -> float:
        return calibrated(similarity, self.settings["match_similarity"], self.settings["strong_similarity"])


class ProductsRoom(RoomDetector):
    """One room: its background model, the product it tracks, and where a swept-for pack shot stands."""

    def __init__(self, detector: ProductsDetector):
        self.detector, self.settings = detector, detector.settings
        self.background: np.ndarray | None = None
        self.track: tuple[float, tuple[int, int, int, int], np.ndarray, list[Signal]] | None = None
        self.still: tuple[int, int, int, int] | None = None  # where a product found by a sweep stands
        self.swept_at: float | None = None

    def close(self) -> None:
        self.background = self.track = self.still = None

    def process(self, frame: Frame) -> list[Signal]:
        boxes = self.proposals(frame)
        signals = self._held_up(frame, boxes) if boxes else []
        if any(s.kind == "product" for s in signals):
            return signals
        return self._standing(frame) or signals

    def proposals(self, frame: Frame) -> list[tuple[int, int, int, int]]:
        """Boxes (x0, y0, x1, y1, image px) of the largest blobs that differ from this room's background."""
        st = self.settings
        h, w = frame.image.shape[:2]
        tw = st["thumb_width"]
        th = max(1, round(h * tw / w))
        grey = cv2.cvtColor(cv2.resize(frame.image, (tw, th), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        grey = cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)
        background = self.background
        if background is None or background.shape != grey.shape:
            self.background = grey
            return []
        cv2.accumulateWeighted(grey, background, st["background_rate"])
        mask = (np.abs(grey - background) > st["diff_level"]).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        blobs = []
        for x, y, bw, bh, area in stats[1:n]:
            share = bw * bh / (tw * th)
            if st["min_blob_share"] <= share <= st["max_blob_share"] and area >= 0.4 * bw * bh:
                blobs.append((bw * bh, (x, y, x + bw, y + bh)))
        sx, sy = w / tw, h / th
        return [(int(x0 * sx), int(y0 * sy), int(x1 * sx), int(y1 * sy))
                for _, (x0, y0, x1, y1) in sorted(blobs, reverse=True)[:st["candidates"]]]

    def _held_up(self, frame: Frame, boxes: list[tuple[int, int, int, int]]) -> list[Signal]:
        """What the changed regions are: a catalog product, something product-like (unknown), or nothing."""
        reused = self._reuse(frame, boxes[0])
        if reused is not None:
            return reused
        d = self.detector
        crops = [d.crop(frame.image, box) for box in boxes]
        embeddings = d.embedder.embed([c for c, _ in crops])
        found = d.index.search(np.stack([e.vector for e in embeddings]), k=RANKED)
        # the candidate whose crop is closest to the catalog decides
        pick = max(range(len(boxes)), key=lambda i: found[i][0].similarity if found[i] else -1.0)
        (_, bbox), emb, matches = crops[pick], embeddings[pick], found[pick]
        evidence = {"bbox": bbox, "polygon": box_polygon(bbox),
                    "candidates": [[m.product, round(m.similarity, 3)] for m in matches]}

        def signal(kind: str, subject: str, confidence: float, **extra: Any) -> list[Signal]:
            return [Signal(room_id=frame.room_id, stream_time=frame.stream_time, kind=kind, subject=subject,
                           confidence=confidence, detector=d.name, evidence={**evidence, **extra}, frame=frame)]

        signals: list[Signal] = []
        # the verifier costs ~30 ms: look only when some candidate is close enough for `decide` to ask it
        worth_verifying = any(m.similarity >= self.settings["match_similarity"] for m in matches)
        decision = decide(matches, confirmations(d.verifier, crops[pick][0]) if worth_verifying else {},
                          self.settings)
        if decision is not None:
            m = decision.match
            confidence = d.confidence(m.similarity)
            if decision.verified is not None:
                confidence = max(decision.verified.confidence, confidence)
            signals = signal("product", m.product, confidence, brand=m.brand, similarity=round(m.similarity, 3),
                             ref=m.ref, verified_inliers=decision.inliers)
        elif emb.product_likeness >= self.settings["unknown_likeness"]:
            signals = signal("unknown_product", "unknown", emb.product_likeness,
                             product_likeness=round(emb.product_likeness, 3))
        # only a recognised product is tracked: anything else is looked at again next time
        recognised = bool(signals) and signals[0].kind == "product"
        self.track = (frame.stream_time, boxes[pick], grey_thumb(crops[pick][0]), signals) if recognised else None
        return signals

    def _reuse(self, frame: Frame, box: tuple[int, int, int, int]) -> list[Signal] | None:
        """The same region as the one embedded less than `reuse_s` ago in this room: same answer, no new pass."""
        if self.track is None:
            return None
        t, last_box, last_thumb, signals = self.track
        if not 0 <= frame.stream_time - t < self.settings["reuse_s"] or iou(box, last_box) < 0.5:
            return None
        crop, crop_box = self.detector.crop(frame.image, box)
        # the blob left behind when the product is taken away sits in the same place: look, do not assume
        if thumb_change(grey_thumb(crop), last_thumb) > self.settings["reuse_max_change"]:
            return None
        return [replace(s, stream_time=frame.stream_time, frame=frame, wall_time=time.time(),
                        evidence={**s.evidence, "bbox": crop_box, "polygon": box_polygon(crop_box), "tracked": True})
                for s in signals]

    def _standing(self, frame: Frame) -> list[Signal]:
        """A product the background model cannot see: found by a sweep of the whole frame, then followed by
        looking for its pack shot again around where it was (a few ms) until it is gone."""
        t = frame.stream_time
        box, self.still = self.still, None
        if box is not None:
            found = self._pack_shot_in(frame, box)
            if found:
                return found
        if self.swept_at is not None and 0 <= t - self.swept_at < self.settings["sweep_s"]:
            return []
        self.swept_at = t
        return self._pack_shot_in(frame, None)

    def _pack_shot_in(self, frame: Frame, near: tuple[int, int, int, int] | None) -> list[Signal]:
        """The best pack shot found in the frame (or around the box `near`), as a product signal it remembers."""
        h, w = frame.image.shape[:2]
        x0 = y0 = 0
        image = frame.image
        if near is not None:
            bx0, by0, bx1, by1 = near
            grow = max(bx1 - bx0, by1 - by0) // 2
            x0, y0 = max(0, bx0 - grow), max(0, by0 - grow)
            image = frame.image[y0:min(h, by1 + grow), x0:min(w, bx1 + grow)]
        best = max(confirmations(self.detector.verifier, image).values(), key=lambda m: m.inliers, default=None)
        if best is None:
            return []
        bx0, by0, bx1, by1 = best.bbox
        box = (max(0, int(bx0) + x0), max(0, int(by0) + y0), min(w, math.ceil(bx1) + x0), min(h, math.ceil(by1) + y0))
        if box[2] - box[0] < 2 or box[3] - box[1] < 2:
            return []
        self.still = box
        polygon = [[px + x0, py + y0] for px, py in best.polygon]
        return [Signal(room_id=frame.room_id, stream_time=frame.stream_time, kind="product", subject=best.brand,
                       confidence=best.confidence, detector=self.detector.name, frame=frame,
                       evidence={"bbox": list(box), "polygon": polygon, "brand": self.detector.brands.get(best.brand),
                                 "ref": best.ref, "verified_inliers": best.inliers, "swept": near is None})]
