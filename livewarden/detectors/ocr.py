"""On-screen text: what a seller writes on a card, a banner or an overlay, read from video frames.

Why two engines. RapidOCR (PP-OCRv6 small detection + recognition, run by onnxruntime) finds text
lines anywhere in a frame and reads Chinese and English well, but its recognizer drops or
misreads Vietnamese diacritics ("loại" comes back as "loi", "Hàng" as "Hang") — and the
diacritics carry the meaning in Vietnamese. Tesseract's `vie` model (Debian
`tesseract-ocr-vie`, through tesserocr) keeps them, but cannot find text on a busy video
frame by itself. So RapidOCR detects and reads every line; each line whose text is Latin
and could be Vietnamese (it has a Vietnamese letter, or most of its words are possible
Vietnamese syllables: English lines are left alone) is cropped, binarized and read again by tesseract `vie` as a single line, and the two
readings are merged word by word: where a tesseract word is the same word as RapidOCR's
with its diacritics folded (or nearly the same, e.g. "loại" against "loi"), and tesseract
is confident of it, the tesseract spelling wins; everything else stays as RapidOCR read
it (tesseract alone often loses words on video backgrounds). Chinese lines never go to
tesseract. `benchmarks/ocr_accuracy.py` measures RapidOCR alone against this combination.

Models: rapidocr's wheel ships its three ONNX models in `rapidocr/models/`; they are passed
by explicit path so rapidocr's download code is never reached, and a missing file is a
clear error. Tesseract's traineddata comes from Debian (`/usr/share/tesseract-ocr/5/tessdata`
or $TESSDATA_PREFIX). Nothing is downloaded at run time.

Cost: one 720p frame takes ~0.6 s on one core (detection dominates; frames are scaled so the
long side is at most `max_side` px), plus ~10-30 ms per Latin line for tesseract. The caller
runs it at most once a second and only on frames that changed. Engines are built lazily on
the first `read`, once, under a lock; `read` itself is serialized per TextReader, so one
reader can be shared by worker threads (use one reader per thread for parallelism).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)

DEFAULTS: dict[str, Any] = {
    "max_side": 960,  # detection input: long side of the frame scaled down to this (720p -> 960x540)
    "min_confidence": 0.5,  # RapidOCR line score below this is dropped
    "tess_word_confidence": 60.0,  # tesseract word confidence (0-100) needed to replace a word
    "tess_max_lines": 12,  # at most this many Latin lines re-read per frame (largest first)
    "tess_line_height": 48,  # line crops are scaled to this height before tesseract
    "tess_min_similarity": 0.6,  # folded-word similarity needed to take tesseract's spelling
    "threads": 1,
}


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: list[tuple[float, float]]  # polygon in image pixels (clockwise from top-left)
    confidence: float  # 0..1
    engine: str  # "rapidocr" or "rapidocr+tesseract-vie"


def fold(text: str) -> str:
    """Lower case without diacritics (đ -> d), for comparing two readings of the same word."""
    t = unicodedata.normalize("NFD", text.lower())
    t = "".join(c for c in t if unicodedata.category(c) != "Mn")
    return t.replace("đ", "d")


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3400 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0x3040 <= o <= 0x30FF
        or 0xAC00 <= o <= 0xD7AF
        or 0x20000 <= o <= 0x2FFFF
    )


_SYLLABLE = re.compile(  # a Vietnamese syllable with its diacritics folded: onset, vowel nucleus, coda
    r"(ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?"
    r"(oai|oay|oao|oeo|uay|uoi|uou|uya|uye|uyu|ieu|yeu|ai|ao|au|ay|eo|eu|ia|ie|iu|oa|oe|oi|oo|ua|ue|ui|uo|uu|uy"
    r"|ya|ye|[aeiouy])"
    r"(ng|nh|ch|[cmnpt])?")


def is_vietnamese_syllable(word: str) -> bool:
    """Could this word (any case, with or without diacritics) be one Vietnamese syllable? English words mostly
    cannot ("deal", "brand", "from", "ship"): letters and clusters Vietnamese spelling does not have."""
    return bool(_SYLLABLE.fullmatch(fold(word)))


def reads_as_vietnamese(text: str) -> bool:
    """Most of the line's words are possible Vietnamese syllables (so a diacritics re-read may help it)."""
    words = [w for w in re.findall(r"[^\W\d_]+", text)]
    return bool(words) and sum(map(is_vietnamese_syllable, words)) >= 0.6 * len(words)


def is_latin_line(text: str) -> bool:
    """True when the line has letters and none of them is CJK (worth a Vietnamese re-read)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and not any(_is_cjk(c) for c in letters)


def rapidocr_models() -> dict[str, Path]:
    """The ONNX models inside the installed rapidocr wheel; a clear error when one is missing."""
    try:
        import rapidocr
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise RuntimeError("rapidocr is not installed: pip install rapidocr==3.10.0 onnxruntime") from e
    root = Path(rapidocr.__file__).parent / "models"
    models = {
        "Det": root / "PP-OCRv6_det_small.onnx",
        "Rec": root / "PP-OCRv6_rec_small.onnx",
        "Cls": root / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }
    missing = [str(p) for p in models.values() if not p.is_file()]
    if missing:
        raise RuntimeError(
            "RapidOCR models missing (they ship inside the rapidocr 3.10.0 wheel; "
            f"reinstall it, nothing is downloaded at run time): {', '.join(missing)}"
        )
    return models


def tessdata_dir(lang: str = "vie") -> Path | None:
    """The tessdata folder holding `<lang>.traineddata`: $TESSDATA_PREFIX, then Debian's folders."""
    env = os.environ.get("TESSDATA_PREFIX")
    for d in ([env, str(Path(env) / "tessdata")] if env else []) + list(TESSDATA_DIRS):
        if d and (Path(d) / f"{lang}.traineddata").is_file():
            return Path(d)
    return None


def _binarize(crop: np.ndarray, height: int) -> np.ndarray:
    """A line crop as black text on white for tesseract: the colour channel with the best
    Otsu separation (yellow on beige is invisible in grey but clear in blue), the minority
    class taken as text, scaled to `height` px with a white margin."""
    h = crop.shape[0]
    s = height / max(1, h)
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    chans = list(cv2.split(crop)) + [cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)]
    best, best_sep = chans[-1], -1.0
    for c in chans:
        t, b = cv2.threshold(c, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        lo, hi = c[c <= t], c[c > t]
        if lo.size == 0 or hi.size == 0:
            continue
        w0, w1 = lo.size / c.size, hi.size / c.size
        sep = w0 * w1 * (float(lo.mean()) - float(hi.mean())) ** 2
        if sep > best_sep:
            best, best_sep = b, sep
    if best.ndim != 2 or best.dtype != np.uint8 or best_sep < 0:
        _, best = cv2.threshold(chans[-1], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if (best == 0).mean() > 0.5:  # text is the minority: make it black
        best = 255 - best
    m = max(8, height // 4)
    return cv2.copyMakeBorder(best, m, m, m, m, cv2.BORDER_CONSTANT, value=255)


TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # grave, acute, tilde, hook above, dot below


def _tone_marks(word: str) -> int:
    return sum(c in TONE_MARKS for c in unicodedata.normalize("NFD", word))


def merge_readings(rapid: str, tess_words: list[tuple[str, float]], min_conf: float, min_sim: float) -> str:
    """RapidOCR's line with tesseract's spelling of the words both engines read as the same word.

    Words are aligned on their folded forms (no case, no diacritics). An aligned pair whose
    folded forms are equal, or similar enough (one missing letter), takes tesseract's word
    when tesseract's confidence reaches `min_conf`; words only one engine saw stay as
    RapidOCR has them. Tesseract is never trusted to add or drop whole words.
    """
    rw = rapid.split()
    tw = [(w, c) for w, c in tess_words if w.strip()]
    if not rw or not tw:
        return rapid
    sm = difflib.SequenceMatcher(a=[fold(w) for w in rw], b=[fold(w) for w, _ in tw], autojunk=False)
    out = list(rw)
    changed = 0
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op not in ("equal", "replace") or (i2 - i1) != (j2 - j1):
            continue
        for k in range(i2 - i1):
            r, (t, conf) = rw[i1 + k], tw[j1 + k]
            if conf < min_conf or r == t:
                continue
            if [c for c in r if not c.isalpha()] != [c for c in t if not c.isalpha()]:
                continue  # digits and punctuation ("1:1", "$25", quotes) are RapidOCR's strength
            if _tone_marks(t) > 1:
                continue  # a Vietnamese syllable carries one tone mark at most ("ẶẠÀ" is a misread "AAA")
            if not is_vietnamese_syllable(t):
                continue  # a diacritic belongs on a Vietnamese syllable only ("deal" never becomes "deại")
            fr, ft = fold(r), fold(t)
            if fr == ft or difflib.SequenceMatcher(a=fr, b=ft, autojunk=False).ratio() >= min_sim:
                out[i1 + k] = t
                changed += 1
    if changed < 2 and rapid.isascii():
        # RapidOCR saw no Vietnamese letter and tesseract would change a single word: on
        # English lines that is a spurious accent ("ship" -> "shíp"), so keep RapidOCR's line.
        return rapid
    return " ".join(out)


@dataclass
class TextReader:
    """Reads the text lines of a BGR frame. See the module docstring for the engine strategy."""

    languages: tuple[str, ...] = ("en", "zh", "vi")
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.languages = tuple(self.languages)
        unknown = set(self.languages) - {"en", "zh", "vi"}
        if unknown:
            raise ValueError(f"unsupported OCR languages {sorted(unknown)}; supported: en, zh, vi")
        self.opts = {**DEFAULTS, **self.options}
        self._lock = threading.Lock()
        self._rapid: Any = None
        self._tess: Any = None
        self._tess_tried = False

    # -- engines (lazy, once) -------------------------------------------------------------
    def _engines(self) -> tuple[Any, Any]:
        if self._rapid is None:
            from rapidocr import RapidOCR

            models = rapidocr_models()
            params: dict[str, Any] = {
                "Global.log_level": "warning",
                "Global.use_cls": False,  # cards and overlays are upright; saves ~10%
                "Det.limit_type": "max",
                "Det.limit_side_len": int(self.opts["max_side"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": int(self.opts["threads"]),
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            for task, path in models.items():
                params[f"{task}.model_path"] = str(path)
            self._rapid = RapidOCR(params=params)
            logging.getLogger("RapidOCR").setLevel(logging.ERROR)  # not "detection result is empty" per frame
        if "vi" in self.languages and not self._tess_tried:
            self._tess_tried = True
            self._tess = self._make_tesseract()
        return self._rapid, self._tess

    @staticmethod
    def _make_tesseract() -> Any:
        d = tessdata_dir("vie")
        if d is None:
            log.warning(
                "tesseract 'vie' model not found (Debian package tesseract-ocr-vie, or set "
                "TESSDATA_PREFIX); Vietnamese is read by RapidOCR alone and loses diacritics"
            )
            return None
        import tesserocr

        return tesserocr.PyTessBaseAPI(
            path=str(d) + "/", lang="vie", psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY
        )

    # -- reading -----------------------------------------------------------------------------
    def read(self, image: np.ndarray) -> list[OcrLine]:
        if image is None or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError("TextReader.read wants a BGR uint8 image (H x W x 3)")
        with self._lock:
            rapid, tess = self._engines()
            res = rapid(image)
            if res is None or res.boxes is None or res.txts is None:
                return []
            lines = [
                (np.asarray(box, dtype=np.float32), str(txt).strip(), float(score))
                for box, txt, score in zip(res.boxes, res.txts, res.scores)
                if str(txt).strip() and float(score) >= self.opts["min_confidence"]
            ]
            rereads: set[int] = set()
            if tess is not None:
                latin = [i for i, (_, t, _) in enumerate(lines)
                         if is_latin_line(t) and (not t.isascii() or reads_as_vietnamese(t))]
                latin.sort(key=lambda i: -self._height(lines[i][0]))
                rereads = set(latin[: int(self.opts["tess_max_lines"])])
            out = []
            for i, (box, text, score) in enumerate(lines):
                engine = "rapidocr"
                if i in rereads:
                    merged = self._reread(tess, image, box, text)
                    if merged != text:
                        text, engine = merged, "rapidocr+tesseract-vie"
                poly = [(float(x), float(y)) for x, y in box]
                out.append(OcrLine(text=text, box=poly, confidence=score, engine=engine))
            return out

    @staticmethod
    def _height(box: np.ndarray) -> float:
        return float(box[:, 1].max() - box[:, 1].min())

    def _reread(self, tess: Any, image: np.ndarray, box: np.ndarray, text: str) -> str:
        from PIL import Image

        h_img, w_img = image.shape[:2]
        x0, y0 = box.min(axis=0)
        x1, y1 = box.max(axis=0)
        pad = 0.15 * (y1 - y0)
        x0, y0 = int(max(0, x0 - pad)), int(max(0, y0 - pad))
        x1, y1 = int(min(w_img, x1 + pad)), int(min(h_img, y1 + pad))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return text
        crop = _binarize(image[y0:y1, x0:x1], int(self.opts["tess_line_height"]))
        tess.SetImage(Image.fromarray(crop))
        tess.Recognize()
        words = []
        import tesserocr

        it = tess.GetIterator()
        level = tesserocr.RIL.WORD
        if it is None:
            return text
        for w in tesserocr.iterate_level(it, level):
            try:
                t = w.GetUTF8Text(level)
            except RuntimeError:  # an empty word ("No text returned")
                continue
            if t and t.strip():
                words.append((t.strip(), float(w.Confidence(level))))
        return merge_readings(
            text, words, float(self.opts["tess_word_confidence"]), float(self.opts["tess_min_similarity"])
        )
