"""OCR lines grouped into the blocks a person reads: the lines of one card, one banner, one caption.

A card's sentence runs over several lines ("she said the knockoff she bought / elsewhere fell apart, this one
is / the real deal from the brand"), and its negating context often sits on the next line; judged one line at a
time, the first line alone reads as an offer. So lines are grouped by layout before the language reader sees
them: a line joins the block above it when they have about the same text height, the gap between them is at
most about one line, and they overlap horizontally (left-aligned, centred or right-aligned alike). Two price
tags side by side, or a caption at the bottom and a card at the top, stay apart.

The block's text is its lines joined in reading order (a space between Latin lines, nothing between two
Chinese ones); `locate` maps an offset in it back to the line and the offset in that line, so evidence stays
on the line where the words are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

MAX_HEIGHT_RATIO = 1.6  # text heights of two lines of one block differ by at most this factor
MAX_GAP = 1.0  # vertical gap between two lines of one block, in line heights
MIN_OVERLAP = 0.3  # horizontal overlap, as a share of the narrower line


@dataclass(frozen=True)
class Placed:
    """A line of text, its polygon in image pixels and how sure the reader was of it."""

    text: str
    polygon: Sequence[Sequence[float]]
    confidence: float = 1.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs, ys = [p[0] for p in self.polygon], [p[1] for p in self.polygon]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def height(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(y1 - y0, 1.0)


@dataclass
class TextBlock:
    lines: list[Placed] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(sep + line.text for sep, line in zip(self._separators(), self.lines))

    @property
    def polygon(self) -> list[list[float]]:
        boxes = [line.box for line in self.lines]
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

    def locate(self, offset: int) -> tuple[int, int]:
        """(line index, offset in that line) of an offset in `text`."""
        start = 0
        for i, (sep, line) in enumerate(zip(self._separators(), self.lines)):
            start += len(sep)
            if offset < start + len(line.text) or i == len(self.lines) - 1:
                return i, max(0, min(offset - start, len(line.text)))
            start += len(line.text)
        return 0, 0

    def _separators(self) -> list[str]:
        seps = [""]
        for above, below in zip(self.lines, self.lines[1:]):
            cjk = _is_cjk(above.text[-1:]) and _is_cjk(below.text[:1])
            seps.append("" if cjk else " ")
        return seps


def group_lines(lines: Sequence[Placed]) -> list[TextBlock]:
    """The blocks of a frame's lines, each in reading order (top to bottom); blocks in order of their first
    line."""
    blocks: list[TextBlock] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1], ln.box[0])):
        home = next((b for b in blocks if _continues(b.lines[-1], line)), None)
        if home is None:
            blocks.append(TextBlock([line]))
        else:
            home.lines.append(line)
    return blocks


def _continues(above: Placed, below: Placed) -> bool:
    ha, hb = above.height, below.height
    if max(ha, hb) / min(ha, hb) > MAX_HEIGHT_RATIO:
        return False
    ax0, _, ax1, ay1 = above.box
    bx0, by0, bx1, _ = below.box
    gap = by0 - ay1
    if not (-0.5 * min(ha, hb) <= gap <= MAX_GAP * (ha + hb) / 2):
        return False
    overlap = min(ax1, bx1) - max(ax0, bx0)
    return overlap >= MIN_OVERLAP * min(ax1 - ax0, bx1 - bx0)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and ("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3000" <= ch <= "\u303f"
                         or "\uff00" <= ch <= "\uffef")
