"""Fold text so disguised spellings of a fraud term read as the term, and remember where each char came from.

Sellers of fakes write "r3plica", "r-e-p", "f a k e", "ｆａｋｅ", "fakeee", Cyrillic look-alikes, Vietnamese
without diacritics, traditional Chinese. `normalize` turns all of those into one folded form, and keeps
`offsets` (folded index -> original index) so a hit is reported as the exact original span.

Lexicon variants go through the same function, so any folding applies to both sides alike: a variant written
"1st copy" and a message "1st copy" fold to the same thing, whatever that is.

Two stages:
1. per character (cached, C-speed `str.translate`): NFKD, drop combining marks (Vietnamese tones, accents),
   case fold, homoglyphs (Cyrillic/Greek look-alikes, đ -> d), traditional -> simplified Chinese (a char table
   taken from OpenCC once at import, plus `_HAN_VARIANTS`: variant and Japanese forms OpenCC leaves alone,
   such as 髙 -> 高, 倣 -> 仿), zero-width chars and soft hyphens removed, any whitespace -> " ".
2. a few regex rewrites, in order, each tracking offsets:
   - emoji and pictographs stuck inside a word dropped ("re🔥pli🔥ca", "高😊仿"); between words they stay
   - spelled-out letters: 3+ single letters/digits with the same separator between ("f a k e", "r.e.p", "r-3-p")
     joined, so "h.a.n.g f.a.k.e" is "hang fake"; a leading "a" or "i" spaced like the rest stays a word
     when 3+ letters follow ("it's a r e p l i c a" -> "it's a replica", but "a a a" -> "aaa"); done before
     runs of spaces are folded, so a wider gap between spelled words keeps them apart ("R E P  P A T E K")
   - runs of spaces -> one space; "1 : 1" -> "1:1"
   - one dot after 1-3 letters inside a word ("s.c", "fa.ke", "re.p") dropped
   - a separator inside a word ("fa-ke", "knock-off", "don't") dropped; spaces/separators between two Han chars
   - "€" and "!" between two letters read as e and i ("R€PL!CA"); at a word's end or before a number they stay
   - leetspeak, only inside a token with 2+ letters (r3plica, f@ke, 0riginal): prices, "1:1", "5a", "f1" stay
   - a letter repeated 3+ times inside a word: "fakeee" -> "fake"; a token that is only that letter stays
     as it is ("AAA" is a term, "aaaaaa" a scream)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from opencc import OpenCC

_DROP = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\ufe0f", "\ufe0e"}

# Look-alikes after case folding. Cyrillic and Greek letters that read as Latin, plus a few Latin letters
# that NFKD does not decompose.
_HOMOGLYPHS = {
    **dict(zip("аеорсухкмтнвіјѕԁɡӏ", "aeopcyxkmthbijsdgl")),
    **dict(zip("αοερκντιυχβ", "aoepkvtiuxb")),
    "đ": "d", "ð": "d", "ø": "o", "ł": "l", "ı": "i", "ƒ": "f", "æ": "ae", "œ": "oe",
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'",
}

# Styled letters that NFKD leaves alone (math bold, script, double-struck, circled and squared letters it does
# fold): negative circled/squared letters (🅕, 🅵), regional indicators (🇫), small capitals (ꜰᴀᴋᴇ), and the
# parenthesized ones NFKD would turn into "(f)".
_STYLED = {
    **{chr(base + i): chr(97 + i) for base in (0x1F150, 0x1F170, 0x1F1E6, 0x249C, 0x1F110) for i in range(26)},
    **dict(zip("ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘǫʀꜱᴛᴜᴠᴡʏᴢ", "abcdefghijklmnopqrstuvwyz")),
}

_TRAILING = set(" \t\n\r\u3000-._*·/|~+") | _DROP
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_MID = str.maketrans("€!", "ei")  # only between two letters: "R€PL!CA"; "fake!" and "€50" stay

SEPARATORS = r" \-._*·/|~+"  # what people put between the letters of a word to hide it


def _t2s_table() -> dict[str, str]:
    """Traditional -> simplified Chinese, char for char, from OpenCC's t2s (same length keeps offsets simple)."""
    cc = OpenCC("t2s")
    table = {}
    for lo, hi in ((0x3400, 0x4DC0), (0x4E00, 0xA000), (0xF900, 0xFB00)):
        chars = [chr(c) for c in range(lo, hi)]
        for ch, out in zip(chars, map(cc.convert, chars)):
            if out != ch and len(out) == 1:
                table[ch] = out
    return table


# Variant, old and Japanese forms of Chinese characters that OpenCC's t2s leaves as they are, but that read as
# the common simplified character (sellers use them to slip past filters: 髙仿, 倣品, 原単).
_HAN_VARIANTS = dict(zip("髙倣髣冐淸衞㑹仮売単広価図戸眞僞贋覔覓", "高仿仿冒清卫会假卖单广价图户真伪赝觅觅"))

_T2S = {**_t2s_table(), **_HAN_VARIANTS}
_T2S_TABLE = str.maketrans(_T2S)


def simplified(text: str) -> str:
    """Traditional characters as simplified, char for char (Whisper writes Mandarin in either script)."""
    return text.translate(_T2S_TABLE)


def fold_char(ch: str) -> str:
    """Stage 1 for one character: 0, 1 or more folded chars."""
    if ch in _DROP:
        return ""
    if ch.isspace():
        return " "
    if ch in _STYLED:
        return _STYLED[ch]
    out = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).casefold()
    out = "".join(_HOMOGLYPHS.get(c, c) for c in out)
    return "".join(_T2S.get(c, c) for c in out)


class _FoldTable(dict):
    """A `str.translate` table filled on first sight of each char; remembers chars that do not map 1:1."""

    def __init__(self) -> None:
        super().__init__()
        self.irregular: set[str] = set()
        self._irregular_re: re.Pattern | None = None

    def __missing__(self, code: int) -> str:
        out = self[code] = fold_char(chr(code))
        if len(out) != 1:
            self.irregular.add(chr(code))
            self._irregular_re = None
        return out

    def offsets(self, text: str) -> list[int]:
        """For each char of `text.translate(self)`, the index in `text` it comes from."""
        if self.irregular.isdisjoint(text):
            return list(range(len(text)))
        if self._irregular_re is None:
            self._irregular_re = re.compile("[" + "".join(map(re.escape, sorted(self.irregular))) + "]")
        offsets: list[int] = []
        last = 0
        for m in self._irregular_re.finditer(text):
            i = m.start()
            offsets += range(last, i)
            offsets += [i] * len(self[ord(text[i])])
            last = i + 1
        offsets += range(last, len(text))
        return offsets


_FOLD = _FoldTable()


@dataclass(frozen=True)
class Normalized:
    """Folded text; `offsets[i]` is the index in `original` of the char that folded into `text[i]`."""

    text: str
    offsets: list[int]
    original: str
    expanded: frozenset[int] = frozenset()  # original indices inside a short form spelled out ("hg" -> "hang")

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Folded [start, end) -> original [start, end): up to the next kept char, less trailing separators.

        So a span keeps what folding swallowed at its end: "fakeee", "Giả" written with combining marks.
        """
        o_start = self.offsets[start]
        o_end = self.offsets[end] if end < len(self.offsets) else len(self.original)
        while o_end > self.offsets[end - 1] + 1 and (self.original[o_end - 1] in _TRAILING):
            o_end -= 1
        return o_start, o_end


def fold(text: str) -> str:
    """Stage 1 alone (case, accents, look-alike letters, traditional Chinese), for comparing names."""
    return text.lower() if text.isascii() else text.translate(_FOLD)


def _fold(text: str) -> tuple[str, list[int]]:
    if text.isascii():
        return text.lower(), list(range(len(text)))
    folded = text.translate(_FOLD)
    return folded, _FOLD.offsets(text)


def _rewrite(text: str, offsets: list[int], pattern: re.Pattern, repl) -> tuple[str, list[int]]:
    """Replace every match of `pattern` by `repl(match)`: (char, index in `text` it comes from) pairs."""
    parts: list[str] = []
    new_offsets: list[int] = []
    last = 0
    for m in pattern.finditer(text):
        parts.append(text[last:m.start()])
        new_offsets += offsets[last:m.start()]
        for ch, i in repl(m):
            parts.append(ch)
            new_offsets.append(offsets[i])
        last = m.end()
    if not last:
        return text, offsets
    parts.append(text[last:])
    return "".join(parts), new_offsets + offsets[last:]


def _keep_first(char: str):
    return lambda m: [(char, m.start())]


def _drop(m: re.Match) -> list:
    return []


def _spelled(m: re.Match) -> list:
    """Join spelled-out letters; a leading English one-letter word ("a", "i") spaced like them stays apart."""
    run, s = m.group(), m.start()
    kept = [(c, s + i) for i, c in enumerate(run) if c.isalnum() or c in "@$"]
    if run[0] in "ai" and run[1] == " " and len(kept) >= 4 and len(set(c for c, _ in kept[1:])) > 1:
        return [kept[0], (" ", s + 1)] + kept[1:]
    return kept


def _dotted(m: re.Match) -> list:
    """One dot after 1-3 letters inside a word ("s.c", "u.a", "fa.ke", "re.p"): an abbreviation or a hidden word.

    Joined. A dot after a longer word ("fake.dm me", a missing space) stays a clause end.
    """
    return [(c, m.start() + i) for i, c in enumerate(m.group()) if c != "."]


def _one_to_one(m: re.Match) -> list:
    """"one to one", "1 to 1" said or typed out read as "1:1"."""
    s, e = m.start(), m.end()
    return [("1", s), (":", s + m.group().index(" ") + 1), ("1", e - 1)]


def _leet(m: re.Match) -> list:
    token = m.group()
    if sum(c.isalpha() for c in token) < 2 or m.string[m.end():m.end() + 1] == ":":
        return [(c, m.start() + i) for i, c in enumerate(token)]
    return [(c, m.start() + i) for i, c in enumerate(token.translate(_LEET))]


def _repeats(m: re.Match) -> list:
    s, e, text = m.start(), m.end(), m.string
    alone = (s == 0 or not text[s - 1].isalpha()) and (e == len(text) or not text[e].isalpha())
    return [(m.group(1), s + i) for i in range(e - s if alone else 1)]


_HAN = r"\u3400-\u9fff\uf900-\ufaff"
_EMOJI = r"\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"  # pictographs, dingbats, symbols
_RULES = [
    (re.compile(rf"(?<=[a-z{_HAN}])[{_EMOJI}]+(?=[a-z{_HAN}])"), _drop),
    (re.compile(rf"(?<![a-z0-9@$'])[a-z0-9@$]([{SEPARATORS}]+)[a-z0-9@$](?![a-z0-9:])(?:\1[a-z0-9@$](?![a-z0-9:]))+"),
     _spelled),
    (re.compile(r" {2,}"), _keep_first(" ")),
    (re.compile(r"(?<=\d) *: *(?=\d)"), lambda m: [(":", m.start() + m.group().index(":"))]),
    (re.compile(r"(?<![a-z0-9@$'.])[a-z]{1,3}\.[a-z]+(?![a-z0-9@$]|\.[a-z0-9])"), _dotted),
    (re.compile(r"(?<![a-z0-9])(?:one|1) to (?:one|1)(?![a-z0-9]| hundred| thousand| million| billion)"), _one_to_one),
    (re.compile(r"(?<=[a-z])['\-_·]+(?=[a-z])"), _drop),
    (re.compile(rf"(?<=[{_HAN}])[{SEPARATORS}]+(?=[{_HAN}])"), _drop),
    (re.compile(r"(?<=[a-z])[€!]+(?=[a-z])"), lambda m: [(c.translate(_LEET_MID), m.start() + i)
                                                        for i, c in enumerate(m.group())]),
    (re.compile(r"(?<![a-z0-9@$])(?=[a-z0-9@$]*[a-z])[a-z0-9@$]*[013457@$][a-z0-9@$]*"), _leet),
    (re.compile(r"([a-z])\1{2,}"), _repeats),
]


# Could any rule apply? A cheap over-approximation of the rules above: most lines need none of them.
_ANY_RULE = re.compile("|".join([
    r"  | :|: | to (?:one|1)",
    rf"[{_EMOJI}]",
    rf"(?<![a-z0-9@$])[a-z0-9@$][{SEPARATORS}]+[a-z0-9@$](?![a-z0-9])",
    r"[a-z]['\-_·.]+[a-z]",
    rf"[{_HAN}][{SEPARATORS}]+[{_HAN}]",
    r"[a-z][013457@$]|[013457@$][a-z]",
    r"[a-z][€!]+[a-z]",
    r"(?P<r>[a-z])(?P=r)(?P=r)",
]))


# Vietnamese chat shorthand (teen-code), spelled out after folding, whole words only: "hàg fêk" is "hàng fake",
# "ko khác j auth" is "không khác gì auth", "ib e" is "inbox em". Lexicon variants go through the same
# folding, so a variant may be written either way. Tone marks are not checked inside a spelled-out word.
_SHORT = {"hg": "hang", "hag": "hang", "hng": "hang", "ko": "khong", "kh": "khong", "khg": "khong", "hok": "khong",
          "khum": "khong", "dc": "duoc", "j": "gi", "ib": "inbox", "inb": "inbox", "ibx": "inbox", "trc": "truoc",
          "fek": "fake", "feik": "fake", "fak": "fake", "ng": "nguoi", "nhiu": "nhieu"}
_SHORT_RE = re.compile(r"(?<![a-z0-9@$'])(?:" + "|".join(sorted(_SHORT, key=len, reverse=True)) + r")(?![a-z0-9@$'])")


def _spell_out(text: str, offsets: list[int]) -> tuple[str, list[int], frozenset[int]]:
    parts: list[str] = []
    new_offsets: list[int] = []
    expanded: set[int] = set()
    last = 0
    for m in _SHORT_RE.finditer(text):
        s, e = m.start(), m.end()
        parts.append(text[last:s])
        new_offsets += offsets[last:s]
        out = _SHORT[m.group()]
        parts.append(out)
        new_offsets += [offsets[s + min(i * (e - s) // len(out), e - s - 1)] for i in range(len(out))]
        expanded.update(offsets[s:e])
        last = e
    if not last:
        return text, offsets, frozenset()
    parts.append(text[last:])
    return "".join(parts), new_offsets + offsets[last:], frozenset(expanded)


def normalize(text: str) -> Normalized:
    """Fold `text` (see the module docstring) and keep the map back to the original chars."""
    folded, offsets = _fold(text)
    if _ANY_RULE.search(folded):
        for pattern, repl in _RULES:
            folded, offsets = _rewrite(folded, offsets, pattern, repl)
    if _SHORT_RE.search(folded):
        folded, offsets, expanded = _spell_out(folded, offsets)
        return Normalized(folded, offsets, text, expanded)
    return Normalized(folded, offsets, text)
