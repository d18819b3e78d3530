"""Does a line of chat, speech or on-screen text offer counterfeits? Lexicon terms, found through disguises.

Why a lexicon and not a model: sellers of fakes use a small, stable code ("1:1", "AAA", "replica", 高仿,
A货, "hàng fake") that platforms and brand owners know and want to extend themselves, without code, and
every alert must point at the exact words that fired it. So the lexicon is data (per-language YAML, see
`livewarden/lexicon/`), text is folded by `normalize` (disguises -> plain form, with offsets back to the
original), and one Aho-Corasick automaton finds every term and every negating context of every language in
one pass over the folded text.

A term hit is *negated* by a negation entry of the lexicon:
- `contains`: a phrase that covers the hit ("not fake", "假一赔十", "fake tan", "không phải hàng giả");
- `before`: a cue ending at most `window` folded chars before the hit, in the same clause
  ("beware of" ... fakes, "is this" ... a replica, "không bán" ... hàng giả);
- `after`: a cue starting at most `window` chars after the hit, in the same clause ("高仿吗", "fake không?");
- `clause`: a cue anywhere in the hit's clause ("where can I get" ... a super copy);
- `line`: a cue anywhere in the line: warnings, reports and room rules ("selling fakes = instant ban",
  "禁止发布假货链接", "cấm bán hàng giả", "I'm reporting the account ... selling replicas").
A `before`/`after` cue that is part of another term's own words negates nothing else ("không có hộp không có
hóa đơn": each "không có" belongs to its cover story).
A term written in quotes ('rep', “高仿”) is mentioned, not used ("any 'rep' offer gets deleted"): negated too.
A clause ends at , . ; ! ? and their CJK forms, except that a negation carries over a list: in
"không bán hàng giả, hàng nhái" both hits are negated. Two refinements of any negation entry:
- `question: true`: the cue counts only when the hit's clause ends with "?" ("any replicas under 50?");
- `unless`: phrases that, anywhere in the line, switch the entry off, because the line is an offer all the
  same ("fake or not" is a question, but "f@ke or not u cant tell" an offer).
A cue written with a trailing "$" counts only at the end of a clause ("có loại super fake không").

Brand names: a file's `brands` list is what "{brand}" in any variant or phrase stands for ("copy {brand}",
"仿{brand}", "{brand} nhái"), so a coded word next to a brand name is a term without listing every brand
in every term.

Score: the non-negated hits of each term count once, with the term's weight w; the line's score is the
noisy-OR 1 - prod(1 - w) over those terms, and the line is an offer when score >= OFFER_THRESHOLD (0.5).
So one strong term (replica 0.9) is enough, a weak one (dupe, "1:1" alone) needs another term beside it,
and negated hits add nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator, Literal

import ahocorasick
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livewarden.detectors.homophones import Homophones
from livewarden.detectors.text_normalize import Normalized, normalize
from livewarden.registry.located import LocatedYaml, Problem, RegistryError, read_yaml

OFFER_THRESHOLD = 0.5
BRAND = "{brand}"  # in a variant or phrase: any of the lexicon's brand names ("copy {brand}", "仿{brand}")
_QUOTES = {"'": "'", '"': '"', "“": "”", "‘": "’", "「": "」", "『": "』", "《": "》", "«": "»"}
BUILTIN_DIR = Path(__file__).resolve().parents[1] / "lexicon"
_CLAUSE_END = re.compile(r"[,.;!?，。；！？、…\n]")
_CLAUSE_OR_END = re.compile(r"[\s~]*(?:$|[,.;!?，。；！？、…\n])")  # at a clause's end (spaces, "~" allowed)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PLURAL_Y = re.compile(r"[a-z][b-df-hj-np-tv-z]y$")
_TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # Vietnamese tone marks (not ^, breve, horn)
_LIST_GLUE = re.compile(r"\s*(,|、|/|and|or|nor|va|hay|hoac|或|和|与)?\s*(no |not |khong |ko )?")


class LexiconError(RegistryError):
    """Every problem of the lexicon files, each as `file:line: field: what is wrong`."""


# ---- the YAML format ----------------------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TermSpec(_Strict):
    id: str = Field(min_length=1)
    weight: float = Field(ge=0, le=1)
    variants: list[str] = Field(min_length=1)
    pinyin: list[str] = []  # full pinyin ("gaofang"): matched like any variant
    initials: list[str] = []  # pinyin initials ("gf"): matched only in lines that also contain Chinese


class NegationSpec(_Strict):
    id: str = ""
    phrases: list[str] = Field(min_length=1)
    scope: Literal["contains", "before", "after", "clause", "line"] = "contains"
    window: int = Field(default=12, ge=0)
    terms: list[str] = []  # only these term ids (of any language); empty: every term
    question: bool = False  # only when the hit's clause ends with "?"
    unless: list[str] = []  # phrases that, anywhere in the line, switch this negation off


class LexiconFile(_Strict):
    lang: str = Field(min_length=1)
    brands: list[str] = []  # names that "{brand}" in a variant or phrase stands for (all files' lists together)
    terms: list[TermSpec] = []
    negations: list[NegationSpec] = []


@dataclass(frozen=True)
class Term:
    id: str
    lang: str
    weight: float
    variants: tuple[str, ...]
    initials: tuple[str, ...] = ()


@dataclass(frozen=True)
class Negation:
    lang: str
    phrases: tuple[str, ...]
    scope: str = "contains"
    window: int = 12
    terms: frozenset[str] = frozenset()
    question: bool = False
    unless: tuple[str, ...] = ()


@dataclass
class Lexicon:
    """All terms and negations, from the built-in YAML files plus any user files (later files win by term id)."""

    terms: list[Term] = field(default_factory=list)
    negations: list[Negation] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, extra_paths: Iterable[str | Path] = (), *, builtin: bool = True) -> Lexicon:
        files = sorted(BUILTIN_DIR.glob("*.yaml")) if builtin else []
        for p in map(Path, extra_paths):
            files += sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml")) if p.is_dir() else [p]
        problems: list[Problem] = []
        terms: dict[tuple[str, str], Term] = {}
        negations: list[Negation] = []
        brands: dict[str, None] = {}
        templated: list[tuple[LocatedYaml, tuple]] = []
        refs: list[tuple[LocatedYaml, tuple, str]] = []
        for path in files:
            try:
                doc, spec = _read(path)
            except LexiconError as exc:
                problems += exc.problems
                continue
            seen: set[str] = set()
            for j, b in enumerate(spec.brands):
                if not normalize(b).text.strip():
                    problems.append(doc.problem(("brands", j), "empty after normalization"))
                brands[b] = None
            for i, t in enumerate(spec.terms):
                if t.id in seen:
                    problems.append(doc.problem(("terms", i, "id"), f"duplicate term id {t.id!r}"))
                seen.add(t.id)
                for key in ("variants", "pinyin", "initials"):
                    for j, v in enumerate(getattr(t, key)):
                        if not normalize(v.replace(BRAND, "")).text.strip():
                            problems.append(doc.problem(("terms", i, key, j), "empty after normalization"))
                        if BRAND in v:
                            templated.append((doc, ("terms", i, key, j)))
                terms[(spec.lang, t.id)] = Term(t.id, spec.lang, t.weight, tuple(t.variants + t.pinyin),
                                                tuple(t.initials))
            for i, n in enumerate(spec.negations):
                for key in ("phrases", "unless"):
                    for j, v in enumerate(getattr(n, key)):
                        if not normalize(v.rstrip("$").replace(BRAND, "")).text.strip():
                            problems.append(doc.problem(("negations", i, key, j), "empty after normalization"))
                        if BRAND in v:
                            templated.append((doc, ("negations", i, key, j)))
                refs += [(doc, ("negations", i, "terms", j), tid) for j, tid in enumerate(n.terms)]
                negations.append(Negation(spec.lang, tuple(n.phrases), n.scope, n.window, frozenset(n.terms),
                                          n.question, tuple(n.unless)))
        known = {tid for _, tid in terms}
        problems += [doc.problem(loc, f"unknown term id {tid!r}") for doc, loc, tid in refs if tid not in known]
        if not brands:
            problems += [doc.problem(loc, f"{BRAND} used but no file lists brands") for doc, loc in templated]
        if problems:
            raise LexiconError(problems)
        return cls(list(terms.values()), negations, list(brands))


def _read(path: Path) -> tuple[LocatedYaml, LexiconFile]:
    try:
        doc = read_yaml(path, "lexicon")
    except RegistryError as exc:
        raise LexiconError(exc.problems) from None
    if not isinstance(doc.data, dict):
        raise LexiconError([doc.problem((), "a lexicon file must be a mapping with lang, terms and negations")])
    try:
        return doc, LexiconFile.model_validate(doc.data)
    except ValidationError as exc:
        raise LexiconError(doc.validation_problems(exc)) from None


# ---- matching -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TermHit:
    term_id: str
    lang: str
    weight: float
    start: int  # in the original text
    end: int
    span: str  # original[start:end]
    normalized: str  # the folded form that matched
    negated: bool = False
    negation: str = ""  # the original text of the negating phrase
    homophone: bool = False  # heard speech spelled the term otherwise (`normalized` is the term, `span` as heard)


@dataclass(frozen=True)
class Assessment:
    offer: bool
    score: float
    hits: list[TermHit]


@dataclass(frozen=True)
class _Pattern:
    key: str  # folded form
    variant: Normalized  # the variant as written, folded, to check Vietnamese tone marks against
    term: Term | None = None
    negation: Negation | None = None
    unless: Negation | None = None  # a phrase that switches this negation off
    needs_han: bool = False  # pinyin initials
    prefix: bool = False  # written with a trailing "*": no word boundary needed at the end
    at_end: bool = False  # written with a trailing "$": only at the end of a clause

    def rekey(self, key: str, prefix: bool | None = None) -> "_Pattern":
        """The same pattern under another folded key (dataclasses.replace costs ~10x more: 50k of these)."""
        return _Pattern(key, self.variant, self.term, self.negation, self.unless, self.needs_han,
                        self.prefix if prefix is None else prefix, self.at_end)

    @property
    def word_start(self) -> bool:
        return _is_word(self.key[0])

    @property
    def word_end(self) -> bool:
        return not self.prefix and _is_word(self.key[-1])


@dataclass(frozen=True)
class _Found:
    start: int  # folded
    end: int
    pattern: _Pattern


def _pattern(written: str, **kw) -> _Pattern:
    written = written.strip()
    at_end = written.endswith("$")
    written = written.rstrip("$").strip()
    prefix = written.endswith("*")
    folded = normalize(written.rstrip("*").strip())
    return _Pattern(folded.text, folded, prefix=prefix, at_end=at_end, **kw)


def _without_spaces(n: Normalized) -> Normalized:
    kept = [(c, o) for c, o in zip(n.text, n.offsets) if c != " "]
    return Normalized("".join(c for c, _ in kept), [o for _, o in kept], n.original)


def _joint(n: Normalized, i: int) -> bool:
    """Folding dropped a hyphen just before folded char `i` ("triple-replicas", "AAA-replica"): the words
    it joined are still two words for the whole-word check (a disguise inside a word, "fa-ke", stays one)."""
    return "-" in n.original[n.offsets[i - 1] + 1:n.offsets[i]]


def _is_word(c: str) -> bool:
    return c.isascii() and c.isalnum()


def _accented(c: str) -> bool:
    return c in "đĐ" or len(unicodedata.normalize("NFD", c)) > 1


class LanguageMatcher:
    """Finds lexicon terms in a line and decides whether the line offers counterfeits."""

    def __init__(self, lexicon: Lexicon | None = None):
        self.lexicon = lexicon or Lexicon.load()
        patterns: list[_Pattern] = []
        brands = self.lexicon.brands

        def expand(written: Iterable[str]) -> list[str]:
            return [w.replace(BRAND, b) for w in written for b in (brands if BRAND in w else [BRAND])]

        for t in self.lexicon.terms:
            for v in expand(t.variants):
                patterns.append(_pattern(v, term=t))
                plain = patterns[-1]
                if " " in plain.key and plain.key.replace(" ", "").isalpha():  # "mirror-grade" folds to "mirrorgrade"
                    patterns.append(_Pattern(plain.key.replace(" ", ""), _without_spaces(plain.variant), term=t))
                if "l" in plain.key and "i" in plain.key and plain.key.isascii():  # l, I and 1 look alike:
                    patterns.append(plain.rekey(plain.key.replace("l", "i")))  # "rep1ica" folds to "repiica"
                    patterns.append(plain.rekey(plain.key.replace("i", "l")))  # "REPLlCA" to "repllca"
                if _PLURAL_Y.search(plain.key):  # "designer copy": "designer copies"
                    patterns.append(plain.rekey(plain.key[:-1] + "ies", prefix=True))
            for v in t.initials:
                patterns.append(_pattern(v, term=t, needs_han=True))
                if len(v) == 2 and v.isascii() and v.isalpha():  # "gf" also said letter by letter: "g f 的"
                    patterns.append(_pattern(f"{v[0]} {v[1]}", term=t, needs_han=True))
        for n in self.lexicon.negations:
            patterns += [_pattern(v, negation=n) for v in expand(n.phrases)]
            patterns += [_pattern(v, unless=n) for v in expand(n.unless)]
        self._automaton = ahocorasick.Automaton()
        for p in patterns:
            entry = self._automaton.get(p.key, None)
            if entry is None:
                self._automaton.add_word(p.key, [p])
            else:
                entry.append(p)
        self._automaton.make_automaton()
        self._term_keys = {}  # folded variant -> its heaviest term's weight, for `homophones`
        for p in patterns:
            if p.term and not p.needs_han:
                self._term_keys[p.key] = max(p.term.weight, self._term_keys.get(p.key, 0.0))
        self._homophones: Homophones | None = None

    # -- public ------------------------------------------------------------------------------------------------

    def find(self, text: str, heard: bool = False) -> list[TermHit]:
        """Every term hit in `text` (negated ones too), with original offsets, in order of position. `heard`:
        the line is a transcript, and Chinese that sounds like a term is read as the term (`homophones`)."""
        n = normalize(text)
        spelled = n.text
        if heard and _HAN.search(spelled):
            n = Normalized(self.homophones.respell(spelled), n.offsets, n.original)
        terms, negations = self._scan(n)
        hits: list[TermHit] = []
        for i, f in enumerate(terms):
            hit = self._hit(n, f, [g for g in negations if not _inside_other(g, f, terms)])
            if not hit.negated and i and hits[-1].negated and _LIST_GLUE.fullmatch(n.text, terms[i - 1].end, f.start):
                hit = replace(hit, negated=True, negation=hits[-1].negation)  # "no fakes, no replicas", "不卖高仿、A货"
            if spelled[f.start:f.end] != hit.normalized:
                hit = replace(hit, homophone=True)
            hits.append(hit)
        return hits

    def assess(self, text: str, heard: bool = False) -> Assessment:
        """The decision: does this line offer or admit counterfeits? (score: see the module docstring;
        `heard`: as in `find`)."""
        hits = self.find(text, heard)
        best: dict[tuple[str, str], float] = {}
        for h in hits:
            if not h.negated:
                best[(h.lang, h.term_id)] = max(h.weight, best.get((h.lang, h.term_id), 0.0))
        keep = 1.0
        for w in best.values():
            keep *= 1.0 - w
        score = 1.0 - keep
        return Assessment(score >= OFFER_THRESHOLD, round(score, 4), hits)

    @property
    def homophones(self) -> Homophones:
        """The Chinese terms by sound (built on first use: only speech needs them)."""
        if self._homophones is None:
            self._homophones = Homophones(self._term_keys)
        return self._homophones

    # -- inside ------------------------------------------------------------------------------------------------

    def _scan(self, n: Normalized) -> tuple[list[_Found], list[_Found]]:
        text, terms, negations = n.text, [], []
        switched_off: set[int] = set()  # id() of negations whose `unless` phrase is in the line
        han = marked = None
        for start, p in self._keys_in(text):
            end = start + len(p.key)
            if p.word_start and start > 0 and _is_word(text[start - 1]) and not _joint(n, start):
                continue
            if p.word_end and end < len(text) and _is_word(text[end]) and not _joint(n, end):
                plural = text[end] == "s" and (end + 1 == len(text) or not _is_word(text[end + 1]))
                if not plural:
                    continue
                end += 1
            if p.needs_han:
                han = bool(_HAN.search(text)) if han is None else han
                if not han:
                    continue
            if p.at_end and not _CLAUSE_OR_END.match(text, end):
                continue
            if not n.original.isascii():
                if p.term and marked is None:
                    marked = _marked(n.original)
                if not _same_tones(n, start, p.variant, strict=not p.term, marked=bool(p.term and marked)):
                    continue
            if p.unless:
                switched_off.add(id(p.unless))
            else:
                (terms if p.term else negations).append(_Found(start, end, p))
        if switched_off:
            negations = [g for g in negations if id(g.pattern.negation) not in switched_off]
        # a hit inside a longer hit ("fake" in "super fake") is that longer hit
        terms = [f for f in terms
                 if not any(g.start <= f.start and f.end <= g.end and g.end - g.start > f.end - f.start for g in terms)]
        unique = {(f.start, f.end, f.pattern.term.lang, f.pattern.term.id): f for f in terms}
        return sorted(unique.values(), key=lambda f: (f.start, f.end)), negations

    def _keys_in(self, text: str) -> Iterator[tuple[int, _Pattern]]:
        """(start, pattern) of every key in `text`, and of the words behind a vowel starred out ("superf*ke",
        "r*plica"): the star is filled with each vowel in turn here, at scan time, rather than every starred
        spelling being a key of its own (52k of them made building the matcher take three times as long)."""
        for last, entries in self._automaton.iter(text):
            for p in entries:
                yield last + 1 - len(p.key), p
        for star in (i for i, c in enumerate(text) if c == "*"):
            for vowel in "aeiou":
                for last, entries in self._automaton.iter(text[:star] + vowel + text[star + 1:]):
                    for p in entries:
                        start = last + 1 - len(p.key)
                        if start < star <= last and p.term and not p.needs_han and p.key.isascii():
                            yield start, p

    def _hit(self, n: Normalized, f: _Found, negations: list[_Found]) -> TermHit:
        term = f.pattern.term
        by = next((g for g in negations if _negates(n.text, g, f)), None)
        start, end = n.original_span(f.start, f.end)
        negation = ""
        if by is not None:
            ns, ne = n.original_span(by.start, by.end)
            negation = n.original[ns:ne]
        elif start and end < len(n.original) and _QUOTES.get(n.original[start - 1]) == n.original[end]:
            negation = n.original[start - 1]  # a term in quotes is mentioned, not used: "any 'rep' offer is spam"
        return TermHit(term.id, term.lang, term.weight, start, end, n.original[start:end],
                       n.text[f.start:f.end], by is not None or bool(negation), negation)


def _same_tones(n: Normalized, start: int, variant: Normalized, strict: bool = False, marked: bool = False) -> bool:
    """Vietnamese: where both the line and the variant carry tone marks they must agree ("giá" is not "giả").

    `strict` (negation cues): where the line carries a mark, the cue must carry the same one, so the English
    cue "ban" does not fire on Vietnamese "bán" (sell); a cue written with marks still matches unmarked text.
    `marked` (terms in a line written with tone marks): a mark of the variant must be there too, so in
    "thử nhai vài hạt" (chew) the unmarked "nhai" is not "nhái" (knock-off); a line typed without any
    marks ("hang nhai") still matches.
    """
    for k in range(len(variant.text)):
        i = n.offsets[start + k]
        if i in n.expanded:  # shorthand spelled out ("hàg" -> "hàng"): no marks to compare
            continue
        o = n.original[i].lower()
        w = variant.original[variant.offsets[k]].lower()
        if o != w and (_accented(o) and (strict or _accented(w)) or marked and _accented(w) and o.isascii()):
            if not strict and _tone(w) and _tone(w) in (_tone(n.original[j]) for j in (i - 1, i + 1)
                                                       if 0 <= j < len(n.original)):
                continue  # the tone on the next vowel of the syllable: "lọai", "hoà" for "loại", "hòa"
            return False
    return True


def _tone(c: str) -> str:
    """The Vietnamese tone mark of `c` ("" if none): ạ and ọ both carry the dot below."""
    return next((m for m in unicodedata.normalize("NFD", c.lower()) if m in _TONES), "")


def _marked(text: str) -> bool:
    """Is this line written with Vietnamese tone marks (two or more marked Latin letters)?"""
    return sum(1 for c in text if not c.isascii() and (c < "\u0250" or "\u1e00" <= c <= "\u1eff") and _accented(c)) >= 2


def _inside_other(neg: _Found, hit: _Found, terms: list[_Found]) -> bool:
    """Is a before/after cue part of another term's own words? Then it negates nothing else: in
    "không có hộp không có hóa đơn" (no box, no receipt) or "无盒子无发票" each "no" belongs to its own cover
    story and does not cancel the next one."""
    if neg.pattern.negation.scope not in ("before", "after"):
        return False
    return any(g is not hit and g.start <= neg.start and neg.end <= g.end for g in terms)


def _negates(text: str, neg: _Found, hit: _Found) -> bool:
    spec = neg.pattern.negation
    if spec.terms and hit.pattern.term.id not in spec.terms:
        return False
    if spec.question:
        end = _CLAUSE_END.search(text, hit.end)
        if end is None or end.group() != "?":
            return False
    if spec.scope == "contains":
        return neg.start <= hit.start and hit.end <= neg.end
    if spec.scope == "line":
        return not (hit.start <= neg.start and neg.end <= hit.end)  # a cue inside the hit is part of the offer
    if spec.scope == "clause":
        a, b = (neg.end, hit.start) if neg.end <= hit.start else (hit.end, neg.start)
        return a <= b and not _CLAUSE_END.search(text, a, b)
    if spec.scope == "before":
        gap = (neg.end, hit.start)
    else:
        gap = (hit.end, neg.start)
    return 0 <= gap[1] - gap[0] <= spec.window and not _CLAUSE_END.search(text, gap[0], gap[1])
