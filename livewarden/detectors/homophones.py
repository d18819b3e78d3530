"""Chinese speech written as its homophone: the term the seller said, spelled back the way the lexicon spells it.

A recogniser writes the sounds it heard with the characters it finds likeliest, so a spoken term can come back
as other characters that sound exactly the same: 一比一 (yi1 bi3 yi1) as 一笔衣, 交易 as 胶易, 停滞 as 停制. The
seller said the term; only the spelling is wrong. `Homophones.respell` rewrites, in a transcript line, each run
of characters that sounds like a Chinese lexicon variant (the same syllables and the same tones, by pypinyin)
into that variant. One character is one syllable, so the line keeps its length and every offset: the matcher
then reads the term, and the evidence span is still the characters heard.

Only speech is read this way. In typed text a homophone is a choice: the deliberate ones (膏方 for 高仿) are
lexicon terms of their own, weighted as the disguises they are, and a typed 高访 ("a high-level visit") is not
an offer. Tones must agree, since toneless syllables collide far too often (高房, gao1 fang2, is not 高仿, gao1
fang3). Each character is read as in its context (pypinyin's phrase readings), on both sides: allowing every
reading of a character (的 as di2) made 方的 sound like 仿的 in the dev sets. Variants of one character are
left out: a single syllable has dozens of spellings.
"""

from __future__ import annotations

import re

from pypinyin import Style, lazy_pinyin

_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]{2,}")


def _reading(text: str) -> tuple[str, ...]:
    """The syllables of Chinese characters, each read as in its context (pypinyin's phrase readings: 一比一 is
    yi1 bi3 yi1, 的 in 方的 is de5, not di2)."""
    return tuple(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True))


class Homophones:
    """Chinese variants by sound, to respell what a recogniser heard. Built from folded variants (the matcher's
    keys), so a respelled run is exactly what the matcher looks for."""

    def __init__(self, variants: dict[str, float]):
        """`variants`: folded variant -> its term's weight (of two that sound alike, the heavier is the one
        meant: 高仿 rather than the disguise 篙仿)."""
        by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for v in variants:
            if len(v) >= 2 and _HAN_RUN.fullmatch(v):
                syllables = _reading(v)
                by_first.setdefault(syllables[0], []).append((syllables, v))
        self._by_first = by_first
        self._weight = variants

    def respell(self, text: str) -> str:
        """`text` with every run of characters that sounds like a variant written as that variant, left to
        right, the longest variant first; the same length as `text`."""
        out = list(text)
        for run in _HAN_RUN.finditer(text):
            heard, sounds = run.group(), _reading(run.group())
            if len(sounds) != len(heard):  # characters pypinyin cannot read come back grouped: left as heard
                continue
            i = 0
            while i < len(heard):
                found = self._at(heard, sounds, i)
                if found:
                    out[run.start() + i:run.start() + i + len(found)] = found
                i += len(found) or 1
        return "".join(out)

    def _at(self, heard: str, sounds: tuple[str, ...], i: int) -> str:
        """The variant meant by the characters from `i` on ("" when none sounds like them): one they already
        spell, if any (精纺, worsted wool, stays 精纺, not 精仿), else the longest, else the heaviest."""
        sounding = [v for syllables, v in self._by_first.get(sounds[i], ()) if sounds[i:i + len(v)] == syllables]
        return max(sounding, key=lambda v: (heard.startswith(v, i), len(v), self._weight[v], v), default="")
