"""Word-marks: a brand's name read on camera (a sign, a box, a tag, a card) is a sighting of the brand.

Real photos break local-feature matching against a flat logo file (curved, embroidered, small, lit), but most
marks print the brand's name, and the on-screen text reader already reads every line of a sampled frame. So
each line the reader gives is checked here against the registry's brand words (`words:`, by default the
brand's name): case and accents folded, punctuation and spaces dropped ("Coca-Cola", "COCA COLA" and
"cocacola" are one word), and for longer words one slip of the reader forgiven ("Googe", "STRBUCKS") or the
end of a word cut off by the frame ("Coca-Co"). Short words (4 letters or fewer: "DHL", "HP") must be read
exactly and stand as a word of their own, so "dhl" inside "adhlx" is nothing. Rules chosen on
`benchmarks/marks_accuracy.py --split dev` (see its `--words` lines).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

SHORT = 4  # words this long or shorter are matched exactly
MIN_CUT = 6  # a word cut off at the end must keep this many letters ...
MIN_CUT_SHARE = 0.7  # ... and this share of the word


def fold(text: str) -> str:
    """Lower case without accents: "Citroën" -> "citroen"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def tokens(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", fold(text))


def squeeze(word: str) -> str:
    """A brand word as it is compared: folded, its letters and digits only ("McDonald's" -> "mcdonalds")."""
    return "".join(tokens(word))


@dataclass(frozen=True)
class WordMark:
    brand: str
    word: str  # the registry word that matched
    read: str  # what was read for it


class WordMarks:
    """The registry's brand words, matched against lines of text read on camera."""

    def __init__(self, words: dict[str, Iterable[str]]):
        self._words = [(brand, w, squeeze(w)) for brand, ws in words.items() for w in ws]
        self._words = [(b, w, s) for b, w, s in self._words if len(s) >= 2]  # one letter matches anything

    @classmethod
    def from_registry(cls, registry) -> "WordMarks":
        return cls({b.id: b.word_marks for b in registry.brands})

    def __bool__(self) -> bool:
        return bool(self._words)

    def find(self, text: str) -> list[WordMark]:
        """The brands whose words appear in one line of text (each brand once)."""
        toks = tokens(text)
        # a brand word may be read as one token or split in two or three ("Coca Cola", "Red Bull", "R E D")
        candidates = dict.fromkeys(["".join(toks[i:i + n]) for n in (1, 2, 3) for i in range(len(toks) - n + 1)])
        found: dict[str, WordMark] = {}
        for brand, word, target in self._words:
            if brand in found:
                continue
            for c in candidates:
                if self._same(c, target):
                    found[brand] = WordMark(brand, word, c)
                    break
        return list(found.values())

    @staticmethod
    def _same(read: str, target: str) -> bool:
        if len(target) <= SHORT:
            return read == target
        slips = 1 if len(target) <= 7 else 2
        if abs(len(read) - len(target)) <= slips and Levenshtein.distance(read, target, score_cutoff=slips) <= slips:
            return True
        return len(read) >= MIN_CUT and len(read) >= MIN_CUT_SHARE * len(target) and target.startswith(read)
