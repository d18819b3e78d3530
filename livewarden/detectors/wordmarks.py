"""Word-marks: a brand's name read on camera (a sign, a box, a tag, a card) is a sighting of the brand.

Real photos break local-feature matching against a flat logo file (curved, embroidered, small, lit), but most
marks print the brand's name, and the on-screen text reader already reads every line of a sampled frame. So
each line the reader gives is checked here against the registry's brand words (`words:`, by default the
brand's name): folded as the lexicon folds text (case, accents, look-alike letters: "NIKЕ" with a Cyrillic
Е is "nike"), punctuation and spaces dropped ("Coca-Cola", "COCA COLA" and "cocacola" are one word), and for
longer words one slip of the reader forgiven ("Googe", "STRBUCKS") or the
end of a word cut off by the frame ("Coca-Co"). Short words (4 letters or fewer: "DHL", "HP") must be read
exactly and stand as a word of their own, so "dhl" inside "adhlx" is nothing. Rules chosen on
`benchmarks/marks_accuracy.py --split dev` (its "logos + word-marks" lines).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from livewarden.detectors.text_normalize import fold

SHORT = 4  # words this long or shorter are matched exactly
MIN_CUT = 6  # a word cut off at the end must keep this many letters ...
MIN_CUT_SHARE = 0.7  # ... and this share of the word


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
    """The registry's brand words, matched against lines of text read on camera.

    Short words and the cut-off starts of long words are looked up in dicts; long words are compared in one
    C call per candidate (rapidfuzz), so a line costs about the same with 50 brands or a few thousand.
    """

    def __init__(self, words: dict[str, Iterable[str]]):
        self._exact: dict[str, list[WordMark]] = {}  # short words, and long words as written
        self._cut: dict[str, list[WordMark]] = {}  # the starts a frame may leave of a long word
        self._long: list[str] = []
        self._long_marks: list[WordMark] = []
        for brand, ws in words.items():
            for word in ws:
                target = squeeze(word)
                if len(target) < 2:  # one letter matches anything
                    continue
                mark = WordMark(brand, word, target)
                self._exact.setdefault(target, []).append(mark)
                if len(target) > SHORT:
                    self._long.append(target)
                    self._long_marks.append(mark)
                    for n in range(max(MIN_CUT, math.ceil(MIN_CUT_SHARE * len(target))), len(target)):
                        self._cut.setdefault(target[:n], []).append(mark)

    @classmethod
    def from_registry(cls, registry) -> "WordMarks":
        return cls({b.id: b.word_marks for b in registry.brands})

    def __bool__(self) -> bool:
        return bool(self._exact)

    def find(self, text: str) -> list[WordMark]:
        """The brands whose words appear in one line of text (each brand once, with what was read for it)."""
        toks = tokens(text)
        # a brand word may be read as one token or split in two or three ("Coca Cola", "Red Bull", "D H L")
        candidates = dict.fromkeys("".join(toks[i:i + n]) for n in (1, 2, 3) for i in range(len(toks) - n + 1))
        found: dict[str, WordMark] = {}
        for c in candidates:
            marks = self._exact.get(c, []) + self._cut.get(c, [])
            if len(c) > SHORT - 1 and self._long:
                marks += [self._long_marks[i] for _, d, i in
                          process.extract(c, self._long, scorer=Levenshtein.distance, score_cutoff=2, limit=None)
                          if d <= _slips(self._long[i]) and abs(len(c) - len(self._long[i])) <= _slips(self._long[i])]
            for m in marks:
                found.setdefault(m.brand, WordMark(m.brand, m.word, c))
        return list(found.values())


def _slips(target: str) -> int:
    """Reading slips forgiven in a long word: one up to 7 letters, two beyond."""
    return 1 if len(target) <= 7 else 2
