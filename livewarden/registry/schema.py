"""What a registry holds: brands and their marks, products, sellers and what they may sell, rooms and their listings.

Pydantic models so that every bad field is reported with its location; the
loader turns those locations into file:line:field messages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Brand(_Strict):
    """A registered brand and the image files of its marks (logos); a brand known only by its products has none."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    marks: list[Path] = Field(default_factory=list)
    # the brand's name as printed on its goods (word-marks), read by on-screen text; None: the name itself.
    # [] turns it off, for a name that is also a common word ("Apple" in a grocery room)
    words: list[str] | None = None
    # a price stated in a room below this fraction of a product's MSRP is one no genuine product could have
    price_floor: float = Field(0.4, gt=0, le=1)

    @property
    def word_marks(self) -> list[str]:
        return [self.name] if self.words is None else self.words


class Product(_Strict):
    """A catalog product: reference images (pack shots, listing photos) and its MSRP."""

    id: str = Field(pattern=ID_PATTERN)
    brand: str
    name: str
    images: list[Path] = Field(min_length=1)
    msrp: float | None = Field(None, gt=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    gtin: str | None = None  # its EAN-13 / UPC-A / GTIN-14 (a barcode on camera names this product)

    @field_validator("gtin")
    @classmethod
    def _valid_gtin(cls, value: str | None) -> str | None:
        from livewarden.registry.codes import gtin14

        if value is None:
            return None
        normal = gtin14(value)
        if normal is None:
            raise ValueError(f"{value!r} is not a GTIN (8, 12, 13 or 14 digits with a valid check digit)")
        return normal


class Listing(_Strict):
    """A product a room sells, at what price."""

    product: str
    price: float | None = Field(None, gt=0)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")


class Person(_Strict):
    """A protected person: reference photos (one face each) and the sellers/rooms they have authorized."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    photos: list[Path] = Field(min_length=1)
    authorized_sellers: list[str] = Field(default_factory=list)
    authorized_rooms: list[str] = Field(default_factory=list)


class Seller(_Strict):
    """A seller account and the brands it is authorized to sell."""

    id: str = Field(pattern=ID_PATTERN)
    name: str
    authorized_brands: list[str] = Field(default_factory=list)


LANGUAGE = r"^[a-z]{2,3}$"


class Room(_Strict):
    """A live room: who sells in it and where its stream comes from (URL or file)."""

    id: str = Field(pattern=ID_PATTERN)
    seller: str
    source: str
    title: str = ""
    platform: str = Field("default", pattern=ID_PATTERN)  # whose platform the room is on (its moderators see it)
    languages: list[str] = Field(default_factory=list)  # spoken in the room (ISO 639-1: en, zh, vi); [] = heard

    @field_validator("languages")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not re.fullmatch(LANGUAGE, v)]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))}: a language is an ISO 639-1 code such as en, zh, vi")
        return value
    listings: list[Listing] = Field(default_factory=list)


class Broadcast(_Strict):
    """A registered broadcast: recordings a creator, brand or platform uploaded, and/or its own live rooms
    (every frame they air is banked as it airs). Shown in a room whose seller is not its owner or authorized
    by it, it is a restream; its recordings shown by the owner as if live, a replay."""

    id: str = Field(pattern=ID_PATTERN)
    owner: str  # a seller id
    title: str = ""
    recordings: list[Path] = Field(default_factory=list)
    rooms: list[str] = Field(default_factory=list)
    authorized_sellers: list[str] = Field(default_factory=list)


class CodeScheme(_Strict):
    """How a brand's traceability codes read, and the files of the serials it issued.

    `gs1`: a GS1 Digital Link (`https://id.gs1.org/01/{GTIN}/10/{batch}/21/{serial}`, any resolver host) whose
    GTIN is one of the brand's products' or starts with one of its `gtin_prefixes`. `url`: a URL made from
    `template` (`https://verify.brand.example/{serial}`). `serial`: a bare serial matching `pattern` (the
    only ambiguous kind: a match may be someone else's number, so its findings are for review).
    """

    id: str = Field(pattern=ID_PATTERN)
    brand: str
    kind: Literal["gs1", "url", "serial"]
    template: str | None = None
    pattern: str | None = None  # the whole serial (url/gs1: optional, a check of the serial's shape)
    gtin_prefixes: list[str] = Field(default_factory=list)
    issued: list[Path] = Field(default_factory=list)  # CSV/TXT files of issued serials (`livewarden codes import`)
    max_verifications: int = Field(5, ge=1)  # verified by buyers more often than this: the code may be copied

    @model_validator(mode="after")
    def _readable(self) -> "CodeScheme":
        if self.kind == "url" and (not self.template or self.template.count("{serial}") != 1
                                   or "://" not in self.template):
            raise ValueError("a url scheme needs a template URL with {serial} once, e.g. "
                             "https://verify.brand.example/{serial}")
        if self.kind == "serial" and not self.pattern:
            raise ValueError("a serial scheme needs a pattern (a regular expression of the whole serial)")
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        for prefix in self.gtin_prefixes:
            if not prefix.isdigit() or not 4 <= len(prefix) <= 13:
                raise ValueError(f"gtin_prefixes: {prefix!r} is not a GS1 company prefix (4 to 13 digits)")
        return self

    @property
    def ambiguous(self) -> bool:
        """A bare serial: nothing in the payload says it is this brand's."""
        return self.kind == "serial"


class Registry(_Strict):
    """The whole registry. Paths in `marks` and `images` are absolute after loading."""

    brands: list[Brand] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    persons: list[Person] = Field(default_factory=list)
    sellers: list[Seller] = Field(default_factory=list)
    rooms: list[Room] = Field(default_factory=list)
    broadcasts: list[Broadcast] = Field(default_factory=list)
    code_schemes: list[CodeScheme] = Field(default_factory=list)
    _by_id: dict[str, tuple[list, dict]] = PrivateAttr(default_factory=dict)

    def _find(self, section: str, entry_id: str):
        """The entry of `section` with this id (the first, as listed): a dict built at the first lookup, since the
        policy looks up a room, its seller and a brand for every signal of thousands of rooms. Kept with the list
        it indexes, so a copy with other entries (`model_copy(update=...)`) never reads a stale index."""
        entries = self.__dict__[section]
        indexes = self.__pydantic_private__["_by_id"]  # (not self._by_id: pydantic's __getattr__ is the slow path)
        cached = indexes.get(section)
        if cached is None or cached[0] is not entries:
            cached = indexes[section] = (entries, {e.id: e for e in reversed(entries)})
        return cached[1].get(entry_id)

    def code_scheme(self, scheme_id: str) -> CodeScheme | None:
        return self._find("code_schemes", scheme_id)

    def broadcast(self, broadcast_id: str) -> Broadcast | None:
        return self._find("broadcasts", broadcast_id)

    def broadcast_authorized(self, room_id: str, broadcast_id: str) -> bool:
        """True when the room's seller owns the broadcast or is authorized by it; unknown ones authorize nothing."""
        broadcast, room = self.broadcast(broadcast_id), self.room(room_id)
        return bool(broadcast and room and (room.seller == broadcast.owner
                                            or room.seller in broadcast.authorized_sellers))

    def brand(self, brand_id: str) -> Brand | None:
        return self._find("brands", brand_id)

    def product(self, product_id: str) -> Product | None:
        return self._find("products", product_id)

    def listed_products(self, room_id: str) -> set[str]:
        room = self.room(room_id)
        return {listing.product for listing in room.listings} if room else set()

    def seller(self, seller_id: str) -> Seller | None:
        return self._find("sellers", seller_id)

    def room(self, room_id: str) -> Room | None:
        return self._find("rooms", room_id)

    def person(self, person_id: str) -> Person | None:
        return self._find("persons", person_id)

    def person_authorized(self, room_id: str, person_id: str) -> bool:
        """True when the person has authorized this room or its seller; unknown persons authorize nothing."""
        person, room = self.person(person_id), self.room(room_id)
        return bool(person and room and (room.id in person.authorized_rooms
                                         or room.seller in person.authorized_sellers))

    def price_floor(self, product_id: str) -> float:
        """The fraction of MSRP below which a stated price for this product is anomalous (its brand's, or 0.4)."""
        product = self.product(product_id)
        brand = self.brand(product.brand) if product else None
        return brand.price_floor if brand else Brand.model_fields["price_floor"].default

    def is_authorized(self, room_id: str, brand_id: str) -> bool:
        """True when the room's seller may sell `brand_id`; unknown rooms are not authorized."""
        room = self.room(room_id)
        seller = self.seller(room.seller) if room else None
        return bool(seller and brand_id in seller.authorized_brands)
