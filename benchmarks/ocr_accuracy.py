"""On-screen text reading: character error rate of TextReader on text rendered into real video frames.

    python -m benchmarks.ocr_accuracy [--split dev|eval] [--data DIR] [--max-side 960]

Frames: the middle frame of every clip in ../shared/data/video/<split>/ (real talking heads,
performance footage), scaled and centre-cropped to 1280x720. Into each, one livestream-card
phrase is rendered at a given font size (20, 32, 48 px at 720p) in one of three styles
seen on shopping streams: dark text on a white card, white text with a dark outline over the
picture, yellow text on a translucent dark banner; position and style are drawn from a
seed. Fonts are Debian's: DejaVu Sans (fonts-dejavu-core: Latin with Vietnamese
diacritics) and WenQuanYi Zen Hei (fonts-wqy-zenhei: Chinese).

Scoring: the lines whose box overlaps the rendered text's box are joined in reading order
and compared with the phrase by `jiwer.cer` (spaces collapsed; for Chinese removed, since
the recognizer drops them between CJK characters); CER is summed edits over summed
reference characters per language and size. Two readers: RapidOCR alone
(`languages=("en", "zh")`, no tesseract) and the combination (RapidOCR + tesseract `vie`
re-reading Latin lines). ms/frame is wall time of `read` on one core, per reader.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

import av
import cv2
import jiwer
import numpy as np
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from reference_data import load_labels  # noqa: E402

from livewarden.detectors.ocr import OcrLine, TextReader  # noqa: E402

FONTS = {
    "en": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "vi": "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "zh": "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
}
FONTS_BOLD = {
    "en": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "vi": "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "zh": "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
}
PHRASES = {
    "en": [
        "AAA replica 1:1 $25",
        "Mirror quality bags only $39",
        "Super fake sneakers 1:1",
        "Rep watches DM for price",
        "Flash sale 70% off today",
        "Original box included, free ship",
        "Dupe perfume 3 for $50",
        "Limited stock, order now",
    ],
    "zh": [
        "高仿A货 只要99元",
        "原单复刻 包邮",
        "一比一 顶级品质 ¥128",
        "今晚直播 限时秒杀",
        "正品保证 假一赔十",
        "大牌同款 三百元两件",
        "工厂直发 原单尾货",
        "下单送礼品 数量有限",
    ],
    "vi": [
        "Hàng fake loại 1 giá 199k",
        "Hàng super fake như thật",
        "Giá chỉ 1tr2 hôm nay",
        "Không phải hàng giả đâu nha",
        "Hàng rep 1:1 siêu đẹp",
        "Mua 2 tặng 1, freeship toàn quốc",
        "Chốt đơn nhanh kẻo hết",
        "Giảm giá 50% chỉ còn 299 nghìn đồng",
    ],
}
SIZES = (20, 32, 48)
STYLES = ("card", "outline", "banner")


def middle_frame(path: Path, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        n = s.frames or 100
        img = None
        for i, f in enumerate(c.decode(s)):
            img = f.to_ndarray(format="bgr24")
            if i >= n // 2:
                break
    assert img is not None, path
    w, h = size
    sc = max(w / img.shape[1], h / img.shape[0])
    img = cv2.resize(img, None, fx=sc, fy=sc, interpolation=cv2.INTER_AREA if sc < 1 else cv2.INTER_CUBIC)
    y0, x0 = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[y0 : y0 + h, x0 : x0 + w])


def render(frame: np.ndarray, text: str, lang: str, px: int, style: str, rng: random.Random):
    """The frame with `text` drawn in; returns (image, box x0,y0,x1,y1 of the text)."""
    pil = Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).convert("RGBA")
    font = ImageFont.truetype((FONTS_BOLD if style != "card" else FONTS)[lang], px)
    l, t, r, b = font.getbbox(text)
    tw, th = r - l, b - t
    x = rng.randint(20, max(21, pil.width - tw - 20))
    y = rng.randint(20, max(21, pil.height - th - 20))
    over = Image.new("RGBA", pil.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(over)
    m = max(6, px // 3)
    if style == "card":
        d.rectangle((x - m, y - m, x + tw + m, y + th + m), fill=(250, 250, 245, 255))
        d.text((x - l, y - t), text, font=font, fill=(20, 20, 20, 255))
    elif style == "banner":
        d.rectangle((x - m, y - m, x + tw + m, y + th + m), fill=(0, 0, 0, 150))
        d.text((x - l, y - t), text, font=font, fill=(255, 230, 0, 255))
    else:
        sw = max(1, px // 12)
        d.text((x - l, y - t), text, font=font, fill=(255, 255, 255, 255), stroke_width=sw, stroke_fill=(0, 0, 0, 255))
    out = Image.alpha_composite(pil, over).convert("RGB")
    return cv2.cvtColor(np.asarray(out), cv2.COLOR_RGB2BGR), (x, y, x + tw, y + th)


def norm(text: str, lang: str) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text.replace(" ", "") if lang == "zh" else text


def lines_in(lines: list[OcrLine], box: tuple[int, int, int, int]) -> str:
    x0, y0, x1, y1 = box
    keep = []
    for ln in lines:
        xs, ys = [p[0] for p in ln.box], [p[1] for p in ln.box]
        ix = min(x1, max(xs)) - max(x0, min(xs))
        iy = min(y1, max(ys)) - max(y0, min(ys))
        if ix > 0 and iy > 0.3 * min(y1 - y0, max(ys) - min(ys)):
            keep.append((min(ys), min(xs), ln.text))
    keep.sort()
    return " ".join(t for _, _, t in keep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="eval", choices=["dev", "eval"])
    ap.add_argument("--data", default=None)
    ap.add_argument("--max-side", type=int, default=None, help="detection input long side (default: TextReader's)")
    ap.add_argument("--seed", type=int, default=6)
    ap.add_argument("--show", action="store_true", help="print every reading that is not exact")
    args = ap.parse_args()

    root, labels = load_labels("video", args.data)
    if labels is None:
        sys.exit(f"no reference data at {root} (set --data or LIVEWARDEN_DATA)")
    clips = sorted(root.parent / k for k, v in labels.items() if k.endswith(".mp4") and v["split"] == args.split)
    frames = [middle_frame(p) for p in clips]
    print(f"{len(frames)} real frames from video/{args.split}/ at 1280x720; {len(SIZES)} sizes x 3 languages")

    opts = {"max_side": args.max_side} if args.max_side else {}
    readers = {
        "rapidocr": TextReader(languages=("en", "zh"), options=opts),
        "rapidocr+tess-vie": TextReader(languages=("en", "zh", "vi"), options=opts),
    }
    blank = frames[0]
    for r in readers.values():  # load models outside the timing
        r.read(blank)
    clean_lines = {name: sum(len(r.read(f)) for f in frames) for name, r in readers.items()}

    rng = random.Random(args.seed)
    refs: dict[tuple, list[str]] = {}
    hyps: dict[tuple, list[str]] = {}
    spent: dict[str, list[float]] = {n: [] for n in readers}
    for lang in ("en", "zh", "vi"):
        for px in SIZES:
            for i, frame in enumerate(frames):
                phrase = PHRASES[lang][(i + px) % len(PHRASES[lang])]
                style = STYLES[(i + px // 4) % len(STYLES)]
                img, box = render(frame, phrase, lang, px, style, rng)
                for name, reader in readers.items():
                    t = time.perf_counter()
                    lines = reader.read(img)
                    spent[name].append(time.perf_counter() - t)
                    got = lines_in(lines, box)
                    refs.setdefault((name, lang, px), []).append(norm(phrase, lang))
                    hyps.setdefault((name, lang, px), []).append(norm(got, lang) or "")
                    if args.show and norm(got, lang) != norm(phrase, lang):
                        print(f"  [{name} {lang} {px}px {style}] {phrase!r} -> {got!r}")

    def cer(name: str, lang: str, sizes=SIZES) -> float:
        r = [x for px in sizes for x in refs[(name, lang, px)]]
        h = [x for px in sizes for x in hyps[(name, lang, px)]]
        return jiwer.cer(reference=r, hypothesis=h)

    def exact(name: str, lang: str, px: int) -> float:
        pairs = list(zip(refs[(name, lang, px)], hyps[(name, lang, px)]))
        return sum(a == b for a, b in pairs) / len(pairs)

    print(f"\nCharacter error rate (lower is better; exact-line rate in brackets), {len(frames)} frames per cell")
    head = f"{'reader':<20}{'lang':<6}" + "".join(f"{str(px) + ' px':>16}" for px in SIZES) + f"{'all':>9}"
    print(head)
    for name in readers:
        for lang in ("en", "zh", "vi"):
            cells = "".join(f"{cer(name, lang, (px,)):>9.3f} [{exact(name, lang, px):.2f}]" for px in SIZES)
            print(f"{name:<20}{lang:<6}{cells}{cer(name, lang):>9.3f}")
    print("\nms per 720p frame (one core), median / p90:")
    for name, ts in spent.items():
        a = np.array(ts) * 1000
        print(f"  {name:<20}{np.median(a):7.0f} / {np.percentile(a, 90):.0f}")
    print("\nlines read on the same frames without rendered text (the clips' own text or false reads):")
    for name, n in clean_lines.items():
        print(f"  {name:<20}{n} lines on {len(frames)} frames")


if __name__ == "__main__":
    main()
