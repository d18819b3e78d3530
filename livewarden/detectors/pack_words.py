"""The words printed on a pack, as a cue beside its picture.

On shop photos a pack held in a hand looks unlike its catalog pack shot (light, angle, clutter), and the
embedding names it right about a third of the time; but most packaged goods print their brand and product
name, and the on-screen text reader reads them ("alpro", "BRAVO", "MELLANMJÖLK"). So each catalog image is read
once at enrollment (twice its size: pack shots are small), and its words, with the product's and its brand's
names, become the product's words. A crop's words then score each product by the words they share, each
word weighted by how few products carry it (a brand's name shared by ten products counts less than a
product's own word; a word every product has counts nothing). Reads are forgiven one slip in a long word
(a word found inside a longer one, "MILD" in "MILDYOGHURT", measured worse on dev). The words only rank:
confirming a product by its words alone wrongly named too many products missing from the catalog on dev
(8-25% of them, where brands share words), so confirmation stays with the pack shot's geometry. Weight
chosen on `benchmarks/products_accuracy.py --tune` over `products/dev`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np
from rapidfuzz.distance import Levenshtein

from livewarden.detectors.wordmarks import tokens

MIN_LETTERS = 3  # shorter tokens ("g", "3dl", "eko") are mostly noise or sizes
LONG = 5  # words this long may carry one slip of the reader
READ_SCALE = 2.0  # enrollment reads the pack shot at twice its size
CROP_SIDE = 640  # a candidate crop is read at about this long side (enlarged at most READ_SCALE times)
MIN_LINE_CONFIDENCE = 0.6
VERSION = "pack words v1 (x2, line conf 0.6, >= 3 letters, no numbers)"  # for the index cache


def words_of(text: str) -> set[str]:
    """The words of a text that count: 3 letters or more, not a number."""
    return {t for t in tokens(text) if len(t) >= MIN_LETTERS and not t.isdigit()}


def read_words(reader: Any, image: np.ndarray, scale: float = 1.0) -> set[str]:
    """The words the text reader finds on an image (scaled first when `scale` is not 1)."""
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return {w for line in reader.read(image) if line.confidence >= MIN_LINE_CONFIDENCE for w in words_of(line.text)}


def crop_words(reader: Any, crop: np.ndarray) -> set[str]:
    """The words on a candidate crop, read at about CROP_SIDE px (small crops enlarged, as the packs were)."""
    return read_words(reader, crop, min(READ_SCALE, CROP_SIDE / max(crop.shape[:2])))


def same_word(read: str, printed: str) -> bool:
    if read == printed:
        return True
    if min(len(read), len(printed)) < LONG:
        return False
    return Levenshtein.distance(read, printed, score_cutoff=1) <= 1


class PackWords:
    """Each product's words and their weights (inverse document frequency over the catalog's products)."""

    def __init__(self, words: Mapping[str, Iterable[str]]):
        self.words = {p: frozenset(ws) for p, ws in words.items()}
        n = max(1, len(self.words))
        counts: dict[str, int] = {}
        for ws in self.words.values():
            for w in ws:
                counts[w] = counts.get(w, 0) + 1
        self.weight = {w: math.log(n / c) for w, c in counts.items()}

    def __bool__(self) -> bool:
        return any(self.words.values())

    def scores(self, read: Iterable[str]) -> dict[str, float]:
        """Product -> the summed weights of its words that were read (only products with some)."""
        read = set(read)
        if not read:
            return {}
        hits: dict[str, bool] = {}
        out: dict[str, float] = {}
        for product, ws in self.words.items():
            score = 0.0
            for w in ws:
                if w not in hits:
                    hits[w] = any(same_word(r, w) for r in read)
                if hits[w]:
                    score += self.weight[w]
            if score > 0:
                out[product] = score
        return out
