"""What a decoded payload says: which brand's scheme it is in, which serial, which GTIN and batch.

Pure parsing, no storage (the issued serials are in `registry.issued`): a GS1 Digital Link
(`https://id.gs1.org/01/{GTIN}/10/{batch}/21/{serial}`, any resolver host, and the bracketed element string
`(01)…(21)…` printed under a DataMatrix), a brand's URL template, a bare serial pattern, and a plain GTIN
(EAN-13 / UPC-A / GTIN-14) that names a catalog product.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from livewarden.registry.schema import CodeScheme, Registry

MAX_PAYLOAD = 512  # longer payloads are cut in evidence and subjects


def gtin14(digits: str) -> str | None:
    """A GTIN-8/12/13/14 as 14 digits, or None when it is not one (wrong length or check digit)."""
    digits = digits.strip()
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return None
    padded = digits.zfill(14)
    body, check = padded[:-1], int(padded[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return padded if (10 - total % 10) % 10 == check else None


@dataclass(frozen=True)
class ReadCode:
    """A payload as livewarden reads it. `scheme` None: in no registered scheme (a GTIN may still name a
    product)."""

    payload: str
    scheme: str | None = None
    brand: str | None = None
    serial: str | None = None
    gtin: str | None = None
    batch: str | None = None
    ambiguous: bool = False

    @property
    def subject(self) -> str:
        """What the policy keys a code by: scheme/serial, gtin/GTIN, or the payload itself."""
        if self.scheme and self.serial:
            return f"{self.scheme}/{self.serial}"
        if self.gtin:
            return f"gtin/{self.gtin}"
        return self.payload[:MAX_PAYLOAD]


_GS1_AI = {"01": "gtin", "10": "batch", "21": "serial"}
_BRACKETED = re.compile(r"\((\d{2,4})\)([^(]*)")


def digital_link(payload: str) -> dict[str, str] | None:
    """The GTIN, batch and serial of a GS1 Digital Link URI or a bracketed element string, or None."""
    if payload.startswith("("):
        fields = {_GS1_AI[ai]: value.strip() for ai, value in _BRACKETED.findall(payload) if ai in _GS1_AI}
    else:
        try:
            parts = urlsplit(payload)
        except ValueError:
            return None
        if parts.scheme not in ("http", "https"):
            return None
        segments = [unquote(s) for s in parts.path.split("/") if s]
        fields = {}
        for i, segment in enumerate(segments[:-1]):
            if segment == "01" and "gtin" not in fields:  # a resolver may put its own path before /01/
                rest = segments[i:]
                fields = {_GS1_AI[ai]: value for ai, value in zip(rest[::2], rest[1::2]) if ai in _GS1_AI}
                break
    gtin = gtin14(fields.get("gtin", ""))
    return None if gtin is None else {**fields, "gtin": gtin}


class SchemeReader:
    """Reads payloads against the registry's code schemes; built once per registry (the patterns compiled)."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._templates = [(s, _template_regex(s.template)) for s in registry.code_schemes if s.kind == "url"]
        self._patterns = {s.id: re.compile(s.pattern) for s in registry.code_schemes if s.pattern}
        self._by_gtin = {p.gtin: p for p in registry.products if p.gtin}  # read on every decoded payload
        brand_gtins: dict[str, set[str]] = {}
        for product in self._by_gtin.values():
            brand_gtins.setdefault(product.brand, set()).add(product.gtin)
        self._gs1 = [(s, brand_gtins.get(s.brand, set())) for s in registry.code_schemes if s.kind == "gs1"]
        self._serial = [s for s in registry.code_schemes if s.kind == "serial"]

    def read(self, payload: str) -> ReadCode:
        payload = payload.strip()
        link = digital_link(payload)
        if link is not None:
            for scheme, gtins in self._gs1:
                if link["gtin"] in gtins or any(link["gtin"].lstrip("0").startswith(p.lstrip("0"))
                                                for p in scheme.gtin_prefixes):
                    serial = link.get("serial")
                    return ReadCode(payload, scheme.id, scheme.brand, serial if self._shaped(scheme, serial)
                                    else None, link["gtin"], link.get("batch"))
            return ReadCode(payload, gtin=link["gtin"], batch=link.get("batch"))
        for scheme, regex in self._templates:
            match = regex.fullmatch(payload)
            if match:
                serial = match.group("serial")
                if self._shaped(scheme, serial):
                    return ReadCode(payload, scheme.id, scheme.brand, serial)
        gtin = gtin14(payload)
        if gtin is not None:
            return ReadCode(payload, gtin=gtin)
        for scheme in self._serial:
            if self._patterns[scheme.id].fullmatch(payload):
                return ReadCode(payload, scheme.id, scheme.brand, payload, ambiguous=True)
        return ReadCode(payload)

    def _shaped(self, scheme: CodeScheme, serial: str | None) -> bool:
        pattern = self._patterns.get(scheme.id)
        return serial is not None and (pattern is None or pattern.fullmatch(serial) is not None)

    def product_of(self, code: ReadCode) -> str | None:
        """The catalog product a code's GTIN names (None: no GTIN, or none in the catalog)."""
        product = self._by_gtin.get(code.gtin) if code.gtin else None
        return product.id if product else None


def _template_regex(template: str) -> re.Pattern:
    """`https://verify.brand.example/{serial}` -> a regex with a `serial` group (scheme and host any case)."""
    head, tail = template.split("{serial}")
    return re.compile(f"(?i:{re.escape(head)})(?P<serial>[^/?#]+){re.escape(tail)}")
