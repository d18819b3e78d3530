"""Traceability codes on camera: QR, DataMatrix, EAN/UPC and Code 128 read with zxing-cpp, checked against the
brands' schemes and the serials they issued.

A read costs ~4 ms on a 720p frame on one core, so every analysed frame is read (at most once per `every_s`
per room). Each decoded payload becomes one `code` signal whose evidence says what livewarden made of it
(scheme, serial, issued or not, its product, buyers' verifications, how many units showed it in this frame):
the policy decides from that (`code_invalid`, `code_cloned`, `code_product_mismatch`), and a payload in no
scheme is kept on the room's timeline only. A code seen in a room is recorded in the bank once per room, so
the buyers' verification page can say the code was seen live.
"""

from __future__ import annotations

from typing import Any

import cv2
import zxingcpp

from livewarden.detectors.base import Detector, RoomDetector, tunables
from livewarden.detectors.table import kinds_of
from livewarden.model import Frame, Signal
from livewarden.registry.codes import MAX_PAYLOAD, ReadCode, SchemeReader
from livewarden.registry.issued import IssuedCodes, bank_for

FORMATS = (zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.MicroQRCode, zxingcpp.BarcodeFormat.DataMatrix,
           zxingcpp.BarcodeFormat.EAN13, zxingcpp.BarcodeFormat.UPCA, zxingcpp.BarcodeFormat.EAN8,
           zxingcpp.BarcodeFormat.Code128)


def decode(image) -> list[tuple[str, str, list[list[float]]]]:
    """(text, format, polygon) of every code zxing finds in a BGR or grey image. A UPC-A is an EAN-13 whose first
    digit is 0: zxing-cpp reports it as that EAN-13, and it is given back as the 12-digit UPC-A printed on it."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found = []
    for code in zxingcpp.read_barcodes(gray, formats=FORMATS):
        if not code.valid or not code.text:
            continue
        p = code.position
        polygon = [[float(pt.x), float(pt.y)] for pt in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        text, fmt = code.text, code.format.name
        if fmt == "EAN13" and len(text) == 13 and text.startswith("0"):
            text, fmt = text[1:], "UPCA"
        found.append((text, fmt, polygon))
    return found


def describe(code: ReadCode, reader: SchemeReader, bank: IssuedCodes | None) -> dict[str, Any]:
    """What livewarden makes of a read code: the evidence of its signal, and what `codes check` prints."""
    facts: dict[str, Any] = {"payload": code.payload[:MAX_PAYLOAD], "scheme": code.scheme, "brand": code.brand,
                             "serial": code.serial, "gtin": code.gtin, "batch": code.batch,
                             "ambiguous": code.ambiguous, "product": reader.product_of(code)}
    if code.scheme and code.serial and bank is not None:
        status = bank.status(code.scheme, code.serial)
        scheme = reader.registry.code_scheme(code.scheme)
        facts.update(issued=status.issued is not None,
                     revoked=bool(status.issued and status.issued.revoked),
                     verified=status.verified, max_verifications=scheme.max_verifications,
                     live_rooms=status.live_rooms)
        if status.issued is not None:
            facts["product"] = status.issued.product or facts["product"]
            facts["batch"] = status.issued.batch or facts["batch"]
    elif code.scheme:  # a scheme's code with no serial (a GS1 link naming only the product)
        facts["issued"] = None
    return facts


class CodesDetector(Detector):
    name = "codes"
    kinds = kinds_of("codes")
    reads = Frame

    def __init__(self, reader: SchemeReader, bank: IssuedCodes | None, every_s: float = 0.25,
                 unambiguous_confidence: float = 0.95, ambiguous_confidence: float = 0.7):
        self.reader, self.bank, self.every_s = reader, bank, every_s
        self.unambiguous_confidence, self.ambiguous_confidence = unambiguous_confidence, ambiguous_confidence

    @classmethod
    def from_registry(cls, registry: Any, settings: Any) -> "CodesDetector":
        from livewarden.config import Settings

        settings = settings or Settings()
        bank = bank_for(settings) if registry.code_schemes else None
        if bank is not None:
            bank.sync(registry)
        return cls(SchemeReader(registry), bank, **tunables(settings, "codes"))

    def open_room(self, room_id: str) -> "CodesRoom":
        return CodesRoom(self, room_id)


class CodesRoom(RoomDetector):
    def __init__(self, detector: CodesDetector, room_id: str):
        self.detector, self.room_id = detector, room_id
        self._last_read = float("-inf")
        self._recorded: set[str] = set()  # codes this room already recorded in the bank

    def process(self, frame: Frame) -> list[Signal]:
        d = self.detector
        if frame.unchanged or frame.stream_time - self._last_read < d.every_s:
            return []
        self._last_read = frame.stream_time
        units: dict[str, list[tuple[str, list]]] = {}
        for text, fmt, polygon in decode(frame.image):
            units.setdefault(text, []).append((fmt, polygon))
        signals = []
        for text, seen in units.items():
            code = d.reader.read(text)
            facts = describe(code, d.reader, d.bank)
            fmt, polygon = seen[0]
            facts.update(format=fmt, polygon=polygon, units=len(seen))
            if code.scheme and code.serial and d.bank is not None and code.subject not in self._recorded:
                d.bank.record_sighting(code.scheme, code.serial, self.room_id)
                self._recorded.add(code.subject)
            confidence = d.ambiguous_confidence if code.ambiguous or not code.scheme else d.unambiguous_confidence
            signals.append(Signal(self.room_id, frame.stream_time, "code", code.subject, confidence, d.name,
                                  evidence=facts, frame=frame))
        return signals

    def close(self) -> None:
        self._recorded.clear()
