"""Pack words: the words printed on a pack rank catalog products beside the picture (weights, slips, a real
lookup from the fixture pack shots and shop photo, read once and kept in the index cache)."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from livewarden.detectors.pack_words import PackWords
from livewarden.registry import load_registry

from .test_products import FIXTURES, write_catalog


def test_a_word_few_products_carry_counts_more_and_one_slip_is_forgiven_in_long_words():
    words = PackWords({"arla-milk": {"arla", "mellanmjolk"}, "arla-cream": {"arla", "graddfil"},
                       "bravo": {"bravo", "apelsin"}, "all": {"arla", "bravo"}})
    shared, own = words.scores({"arla"}), words.scores({"graddfil"})
    assert set(shared) == {"arla-milk", "arla-cream", "all"} and own.keys() == {"arla-cream"}
    assert own["arla-cream"] > shared["arla-cream"]  # a product's own word outweighs its brand's
    assert words.scores({"graddfll"}) == own  # one slip in a long word
    assert words.scores({"arl"}) == {} and words.scores({"arlx"}) == {}  # words under 5 letters exactly
    assert words.scores(set()) == {}
    assert PackWords({"a": {"same"}, "b": {"same"}}).scores({"same"}) == {}  # a word every product has: nothing


class CountingReader:
    """The real text reader, counting its reads (the index cache must spare the second enrollment)."""

    def __init__(self):
        from livewarden.detectors.ocr import TextReader

        self.reader, self.reads = TextReader(languages=("en", "zh")), 0

    def read(self, image):
        self.reads += 1
        return self.reader.read(image)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    return write_catalog(tmp_path_factory.mktemp("catalog"))


def test_a_lookup_reads_the_words_on_the_photo_and_ranks_the_pack_that_prints_them(catalog: Path, tmp_path: Path):
    from livewarden.detectors.embedder import Embedder
    from livewarden.detectors.index_cache import IndexCache
    from livewarden.detectors.products import ProductIndex

    registry, reader, cache = load_registry(catalog), CountingReader(), IndexCache(tmp_path / "index")
    index = ProductIndex.from_registry(registry, Embedder(), cache, reader)
    assert reader.reads == len(registry.products)
    assert {"tropicana", "apple", "pressed"} <= index.pack_words.words["tropicana-apple"]  # read on the pack shot
    assert "oatly" in index.pack_words.words["oatly-oat-milk"]  # its name in the registry
    [best, *_] = index.lookup(cv2.imread(str(FIXTURES / "shop-photo-Oatly-Oat-Milk.jpg")), k=3, reader=reader)
    assert best.product == "oatly-oat-milk" and best.text > 0  # the pack's name read in the shop ("batly")

    again = CountingReader()
    ProductIndex.from_registry(registry, Embedder(), cache, again)
    assert again.reads == 0  # every pack's words came from the index cache
