"""Speech to text: error rate and speed of SpeechTranscriber per model and language on real recordings.

    python benchmarks/asr_accuracy.py [--split dev|eval] [--models tiny.en,base] [--window 5] [--overlap 1]

Data: ../shared/data/speech/<split>/ with `labels.json` (`lang`, `text`): English (LibriSpeech, LJSpeech, JFK) and
Chinese (AISHELL, WenetSpeech). English is scored by WER (jiwer, lower-cased, punctuation removed, no number
normaliser: "1813" against "eighteen thirteen" is an error), Chinese by CER (characters, punctuation and spaces
removed). Whisper tiny.en is English only; base is multilingual. Two ways through each file: whole-file (one
call), and streaming — the file's frames through `AudioWindows`, each window transcribed with `keep=` its owned
span so the overlap is not counted twice. Real-time factor = processing time / audio duration on one core
(cpu_threads=1; model load excluded). There is no Vietnamese recording in the data.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import av
import cn2an
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


def streamed(tr: SpeechTranscriber, path: Path, window_s: float, overlap_s: float, language: str = "en"
             ) -> tuple[str, float]:
    """Transcript through AudioWindows (frames as a live source would deliver them) and seconds spent."""
    windows = AudioWindows(window_s, overlap_s)
    texts, spent = [], 0.0

    def run(ws):
        nonlocal spent
        for start, samples in ws:
            t = time.perf_counter()
            segs = tr.transcribe(samples, start, keep=windows.owned_span(start, samples), language=language)
            spent += time.perf_counter() - t
            texts.extend(s.text for s in segs)

    with av.open(str(path)) as c:
        for frame in c.decode(c.streams.audio[0]):
            run(windows.push(frame))
    run(windows.flush())
    return " ".join(texts), spent


def score(lang: str, refs: list[str], hyps: list[str]) -> float:
    """WER for English; CER for Chinese (characters, spaces and punctuation removed), as AISHELL reports it."""
    if lang == "zh":  # the references write numbers in words: "1-2" is read 一二 (cn2an), as AISHELL spells it
        strip = lambda t: re.sub(r"[\W_]+", "", cn2an.transform(t, "an2cn") if re.search(r"\d", t) else t)  # noqa
        return jiwer.cer([strip(r) for r in refs], [strip(h) for h in hyps])
    return jiwer.wer([norm(r) for r in refs], [norm(h) for h in hyps])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="eval", choices=["dev", "eval"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--overlap", type=float, default=1.0)
    ap.add_argument("--beam", type=int, default=1)
    ap.add_argument("--models", default="tiny.en,base")
    args = ap.parse_args()

    root, labels = load_labels("speech", args.data)
    if labels is None:
        sys.exit(f"no reference data at {root} (set --data or LIVEWARDEN_DATA)")
    items = sorted((k, v) for k, v in labels.items() if v["split"] == args.split)
    rows = []
    for model in args.models.split(","):
        tr = SpeechTranscriber(beam_size=args.beam, model=model)
        tr.transcribe(load_audio(root.parent / items[0][0])[: 2 * RATE])  # load the model outside the timing
        for lang in sorted({v["lang"] for _, v in items}):
            if model == "tiny.en" and lang != "en":
                rows.append((model, lang, None))
                continue
            mine = [(k, v) for k, v in items if v["lang"] == lang]
            refs, whole, stream = [], [], []
            dur = t_whole = t_stream = 0.0
            for rel, lab in mine:
                path = root.parent / rel
                audio = load_audio(path)
                dur += audio.size / RATE
                t = time.perf_counter()
                w = " ".join(seg.text for seg in tr.transcribe(audio, 0.0, language=lang))
                t_whole += time.perf_counter() - t
                st, spent = streamed(tr, path, args.window, args.overlap, lang)
                t_stream += spent
                refs.append(lab["text"])
                whole.append(w)
                stream.append(st)
                print(f"[{model}] {rel}  ({audio.size / RATE:.1f} s)\n    ref:    {lab['text']}\n"
                      f"    whole:  {w}\n    stream: {st}")
            rows.append((model, lang, (len(mine), dur, score(lang, refs, whole), t_whole / dur,
                                       score(lang, refs, stream), t_stream / dur)))

    print(f"\nsplit {args.split}; faster-whisper int8, 1 CPU thread, beam {args.beam}; streaming: {args.window:g} s "
          f"windows, {args.overlap:g} s overlap; the language given (as a room declares it)")
    print(f"{'model':<9}{'lang':<6}{'files':>6}{'audio s':>9}{'metric':>7}{'whole':>8}{'RTF':>7}{'stream':>8}{'RTF':>7}")
    for model, lang, r in rows:
        if r is None:
            print(f"{model:<9}{lang:<6}   (English only)")
            continue
        n, dur, e_whole, rtf_whole, e_stream, rtf_stream = r
        metric = "CER" if lang == "zh" else "WER"
        print(f"{model:<9}{lang:<6}{n:>6}{dur:>9.1f}{metric:>7}{e_whole:>8.3f}{rtf_whole:>7.3f}{e_stream:>8.3f}"
              f"{rtf_stream:>7.3f}")
    print("no Vietnamese speech recording is in the data: Vietnamese ASR accuracy is not measured")


if __name__ == "__main__":
    main()
