"""Chat throughput: messages per second on one core through normalization + matching (`assess`).

    python benchmarks/chat_throughput.py [--seconds 5]

The message mix is the labeled dev, dev2, dev3 and dev4 lines (en/zh/vi, a third of them offers, many disguised) plus the real
chat lines of ../shared/data/chat/dev (YouTube comments, Vietnamese reviews, a live-chat replay), shuffled
and cycled. Printed beside it, on the same run and the same messages, a naive baseline that only does
`str.lower()` and `in` for every raw lexicon variant; the ratio says what the folding and negations cost.
Goal (issue 6): >= 20,000 msg/s/core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from language_accuracy import DEV, DEV2, DEV3, DEV4, load_jsonl, real_chat_lines  # noqa: E402
from reference_data import data_dir  # noqa: E402

from livewarden.detectors.text import LanguageMatcher  # noqa: E402


def rate(fn, messages: list[str], seconds: float) -> float:
    """Messages per second of `fn` over `messages`, cycled until `seconds` have passed."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for m in messages:
            fn(m)
        done += len(messages)
    return done / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    args = ap.parse_args()

    messages = [row["text"] for path in (DEV, DEV2, DEV3, DEV4) for row in load_jsonl(path)]
    chat = data_dir(None) / "chat" / "dev"
    if chat.is_dir():
        messages += [text for _, text in real_chat_lines(chat)]
    random.Random(0).shuffle(messages)
    matcher = LanguageMatcher()
    variants = [v.lower() for t in matcher.lexicon.terms for v in t.variants]

    def naive(text: str) -> bool:
        low = text.lower()
        return any(v in low for v in variants)

    for m in messages:  # warm the per-char fold cache, as a long-running process has
        matcher.assess(m)
    ours = rate(matcher.assess, messages, args.seconds)
    base = rate(naive, messages, args.seconds)
    chars = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} distinct messages (mean {chars:.0f} chars), {len(variants)} lexicon variants, one core")
    print(f"normalize + assess : {ours:10,.0f} msg/s")
    print(f"naive lower() + in : {base:10,.0f} msg/s  (same messages, no folding, no negations, no offsets)")
    print(f"ratio              : {ours / base:10.2f}x the naive loop   goal: >= 20,000 msg/s/core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
