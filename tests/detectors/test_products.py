"""Products: catalog CSV import and its errors, the lookup, the product rules, the detector on generated rooms
and on rooms built from real video.

The product images are five real pack shots and one shop photo from the
Grocery Store Dataset (MIT; see tests/fixtures/products/ATTRIBUTION.md). The
real footage is read from ../shared/data (LIVEWARDEN_DATA), never copied here;
those tests skip when it is absent.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from livewarden.assets.marks import generate_background, place_mark
from livewarden.testing import scenes
from livewarden.testing.scenes import draw_host
from livewarden.cli import app
from livewarden.model import Frame, Signal
from livewarden.policy import Policy, load_rules
from livewarden.registry import RegistryError, load_registry
from livewarden.testing.rooms import Rooms

from ..conftest import DATA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "products"
CATALOG = [  # id, brand, name, image, msrp
    ("oatly-oat-milk", "oatly", "Oatly Oat Milk 1 l", "Oatly-Oat-Milk.jpg", "2.49"),
    ("tropicana-apple", "tropicana", "Tropicana Apple Juice 1 l", "Tropicana-Apple-Juice.jpg", "3.10"),
    ("alpro-blueberry", "alpro", "Alpro Blueberry Soyghurt", "Alpro-Blueberry-Soyghurt.jpg", "1.99"),
    ("arla-milk", "arla", "Arla Standard Milk 1 l", "Arla-Standard-Milk.jpg", ""),
]


def write_catalog(d: Path, rows: list[tuple] = CATALOG, header: str = "id,brand,name,images,msrp,currency") -> Path:
    (d / "images").mkdir(exist_ok=True)
    for f in FIXTURES.glob("*.jpg"):
        shutil.copy(f, d / "images" / f.name)
    lines = [header] + [f"{i},{b},{n},images/{img},{m},EUR" for i, b, n, img, m in rows]
    (d / "products.csv").write_text("\n".join(lines) + "\n")
    registry = {
        "brands": [{"id": b, "name": b.title()} for b in ("oatly", "tropicana", "alpro", "arla")],
        "catalog": "products.csv",
        "sellers": [{"id": "shop", "name": "Shop"}],
        "rooms": [
            {"id": "oat-room", "seller": "shop", "source": "oat.mp4", "listings": [{"product": "oatly-oat-milk",
                                                                                   "price": 2.29}]},
            {"id": "juice-room", "seller": "shop", "source": "juice.mp4",
             "listings": [{"product": "tropicana-apple", "price": 2.99, "currency": "EUR"}]},
        ],
    }
    path = d / "registry.yaml"
    path.write_text(yaml.safe_dump(registry, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("catalog")
    write_catalog(d)
    return d


@pytest.fixture(scope="module")
def detector(catalog_dir):
    from livewarden.detectors.products import ProductsDetector

    return ProductsDetector.from_registry(load_registry(catalog_dir / "registry.yaml"))


@pytest.fixture
def rooms(detector) -> Rooms:
    """The detector's rooms for one test (each room's state starts empty)."""
    return Rooms(detector)


def test_catalog_csv_is_imported_with_listings(catalog_dir: Path):
    reg = load_registry(catalog_dir / "registry.yaml")
    assert [p.id for p in reg.products] == [c[0] for c in CATALOG]
    oat = reg.product("oatly-oat-milk")
    assert oat.msrp == pytest.approx(2.49) and oat.currency == "EUR" and oat.brand == "oatly"
    assert oat.images == [catalog_dir / "images" / "Oatly-Oat-Milk.jpg"]
    assert reg.product("arla-milk").msrp is None
    assert reg.listed_products("juice-room") == {"tropicana-apple"}


def test_catalog_csv_errors_name_file_line_and_column(tmp_path: Path):
    rows = [
        CATALOG[0],
        ("tropicana-apple", "tropicana", "Tropicana", "Tropicana-Apple-Juice.jpg", "cheap"),  # line 3: bad msrp
        ("mystery", "acme", "Mystery", "Mystery.jpg", "1.00"),  # line 4: unknown brand and missing image
        ("oatly-oat-milk", "oatly", "Again", "Oatly-Oat-Milk.jpg", "1.00"),  # line 5: duplicate id
    ]
    path = write_catalog(tmp_path, rows)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    text = str(err.value)
    csv_path = tmp_path / "products.csv"
    assert f"{csv_path}:3: column msrp: Input should be a valid number" in text
    # type errors stop the first pass; fix the msrp and the cross-checks report the rest
    rows[1] = CATALOG[1]
    path = write_catalog(tmp_path, rows)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    text = str(err.value)
    assert f"{csv_path}:4: column brand: unknown brand 'acme'" in text
    assert f"{csv_path}:4: column images: product image not found" in text
    assert f"{csv_path}:5: column id: duplicate id 'oatly-oat-milk'" in text

    write_catalog(tmp_path, rows[:1], header="id,brand,title,images")
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    assert f"{csv_path}:1: missing column(s): name" in str(err.value)


def test_listing_of_an_unknown_product_is_reported(tmp_path: Path):
    path = write_catalog(tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["rooms"][0]["listings"].append({"product": "ghost"})
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(RegistryError, match=r"rooms\[0\]\.listings\[1\]\.product: unknown product 'ghost'"):
        load_registry(path)


def test_lookup_names_the_product_in_a_real_shop_photo(catalog_dir: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["lookup", str(FIXTURES / "shop-photo-Oatly-Oat-Milk.jpg"),
                                 "--registry", str(catalog_dir / "registry.yaml"), "--top", "2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line[:2] in ("1.", "2.")]
    assert lines[0].startswith("1. oatly-oat-milk") and len(lines) == 2
    missing = runner.invoke(app, ["lookup", str(catalog_dir / "nope.jpg"), "--registry",
                                  str(catalog_dir / "registry.yaml")])
    assert missing.exit_code == 2 and "nope.jpg is missing or not an image file" in missing.output


def product(room: str, t: float, subject: str, brand: str, conf: float = 0.75) -> Signal:
    return Signal(room_id=room, stream_time=t, kind="product", subject=subject, confidence=conf,
                  detector="products", evidence={"brand": brand})


def test_product_rules(catalog_dir: Path):
    reg = load_registry(catalog_dir / "registry.yaml")
    policy = Policy(reg, load_rules())
    opened = []
    for i in range(8):  # 2 fps for 4 s
        t = i * 0.5
        for room in ("oat-room", "juice-room"):
            opened += [(u.finding.room_id, u.finding.rule) for u in
                       policy.observe(product(room, t, "oatly-oat-milk", "oatly")) if u.opened]
    # the oat room lists the product; the juice room does not, and lists another brand only
    assert opened == [("juice-room", "unlisted_product"), ("juice-room", "listing_mismatch")]

    # another brand's mark, on screen most of the time, in a room that lists only oat milk
    marks = [u.finding.rule for i in range(8) for u in policy.observe(
        Signal(room_id="oat-room", stream_time=20 + i * 0.5, kind="mark", subject="tropicana", confidence=0.9,
               detector="marks")) if u.opened]
    assert marks == ["unauthorized_brand", "listing_mismatch"]  # the seller is not authorized for it either

    unknown = [u for i in range(6) for u in policy.observe(
        Signal(room_id="oat-room", stream_time=10 + i * 0.5, kind="unknown_product", subject="unknown",
               confidence=0.99, detector="products")) if u.opened]
    assert len(unknown) == 1 and unknown[0].finding.severity == "review"  # never a red flag


def held_up(pack: str | np.ndarray, angle: float = 0.0, seed: int = 9):
    """A generated room: first the empty scene, then the host holds the real pack shot (or any card) up."""
    return scenes.held_up(pack if isinstance(pack, np.ndarray) else cv2.imread(str(FIXTURES / pack)), angle, seed)


@pytest.mark.parametrize("pack, expected", [("Tropicana-Apple-Juice.jpg", "tropicana-apple"),
                                            ("Alpro-Blueberry-Soyghurt.jpg", "alpro-blueberry")])
def test_detector_recognises_a_pack_held_up_in_a_generated_room(rooms, detector, pack: str, expected: str):
    room = f"room-{expected}"
    found = [s for i, img in enumerate(held_up(pack)) for s in rooms.detect(Frame(room, i * 0.5, img))]
    products = [s.subject for s in found if s.kind == "product"]
    # most frames name it (the policy wants 3 hits in 5 s anyway) and no frame names another product
    assert len(products) >= 2 and set(products) == {expected}
    x0, y0, x1, y1 = found[0].evidence["bbox"]
    assert x0 < 800 < x1 and y0 < 380 < y1  # the box is around the pack


def test_a_white_card_with_a_logo_is_not_taken_for_a_white_pack(rooms, detector):
    """The demo found this: a brand card looks like a pack shot to the embedding; local features say no."""
    from livewarden.assets.marks import generate_mark
    from livewarden.testing.scenes import product_card

    card = product_card(generate_mark("NOVA", 11))
    found = [s for i, img in enumerate(held_up(card)) for s in rooms.detect(Frame("room-card", i * 0.5, img))]
    assert [s for s in found if s.kind == "product"] == []


def test_static_scene_costs_nothing_and_signals_nothing(rooms, detector):
    bg = generate_background(3, 1280, 720)
    frames = [Frame("static-room", i * 0.5, bg.copy()) for i in range(4)]
    assert all(rooms.room(f.room_id).proposals(f) == [] for f in frames)
    assert [s for f in frames for s in rooms.detect(f)] == []


def test_a_product_missing_from_the_catalog_is_not_called_a_catalog_product(rooms, detector):
    """Bravo orange juice is not in the catalog: at most an unknown_product signal, never a product id."""
    found = [s for i, img in enumerate(held_up("Bravo-Orange-Juice.jpg"))
             for s in rooms.detect(Frame("room-bravo", i * 0.5, img))]
    assert [s for s in found if s.kind == "product"] == []
    assert all(s.kind == "unknown_product" and s.subject == "unknown" for s in found)


def test_scan_reports_an_unlisted_product_shown_in_a_room(tmp_path: Path):
    """End to end: a recorded room that lists oat milk holds up apple juice for 4 s; `scan` must say so."""
    import json

    from livewarden.testing.scenes import room_frames
    from livewarden.testing.clips import write_clip

    registry = write_catalog(tmp_path)
    pack = cv2.imread(str(FIXTURES / "Tropicana-Apple-Juice.jpg"))
    write_clip(tmp_path / "oat.mp4", room_frames(pack, seconds=7, fps=25, mark_on=(1.5, 5.5), seed=9, scale=0.22), 25)
    result = CliRunner().invoke(app, ["scan", str(tmp_path / "oat.mp4"), "--room", "oat-room", "--registry",
                                      str(registry), "--out", str(tmp_path / "scan")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "scan" / "report.json").read_text())
    findings = report["findings"]
    # the timeline says what was on camera, when
    [span] = [s for s in report["on_camera"] if s["kind"] == "product"]
    assert span["subject"] == "tropicana-apple" and 1.5 <= span["first_stream_time"] < span["last_stream_time"] <= 5.5
    assert "tropicana-apple" in result.output and "on camera" in result.output
    assert ("unlisted_product", "tropicana-apple") in {(f["rule"], f["subject"]) for f in findings}
    unlisted = next(f for f in findings if f["rule"] == "unlisted_product")
    assert 1.5 <= unlisted["first_stream_time"] <= 5.5
    assert all(Path(p).is_file() for p in unlisted["evidence"])


# --- rooms built from real video -------------------------------------------------------------------------------
# The seller's footage is a real recorded clip: LivePortrait's driving clips (MIT; see SOURCES-media.md in the data
# folder), read where benchmarks/reference_data.py finds the data, never copied into the repository.
VIDEO = DATA / "video" / "dev"
CALM_HOST = "liveportrait_driving_d19.mp4"  # 480x480, 8.3 s: a man talking in front of a plain wall
BUSY_HOST = "liveportrait_driving_d12.mp4"  # 512x512, 7.3 s: a man laughing, leaning and waving a pen, wood and brick
TURNING_HOST = "liveportrait_driving_d3.mp4"  # 512x512, 11.8 s: a woman talking, turning her head
SHOWN = (2.5, 5.5)  # seconds the pack is held up: before and after it is the real footage alone
SAMPLE_FPS = 2.0  # what the sampler hands the detectors in a live room


def real_clip(name: str):
    """A pytest param that skips, saying why, when the shared data folder is not there."""
    path = VIDEO / name
    missing = pytest.mark.skipif(not path.is_file(),
                                 reason=f"real video {path} not found: point LIVEWARDEN_DATA at the shared data folder")
    return pytest.param(name, id=name.removeprefix("liveportrait_driving_").removesuffix(".mp4"), marks=missing)


def real_frames(name: str, fps: float = SAMPLE_FPS) -> Iterator[tuple[float, np.ndarray]]:
    """(stream time, BGR frame) of a real clip decoded with PyAV, one frame every 1/fps seconds."""
    import av

    with av.open(str(VIDEO / name)) as container:
        stream = container.streams.video[0]
        due = 0.0
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base)
            if t + 1e-3 >= due:
                due += 1.0 / fps
                yield t, frame.to_ndarray(format="bgr24")


def cut_out(pack: str) -> tuple[np.ndarray, np.ndarray]:
    """The carton without the pack shot's white studio background: (image, mask), cropped to the carton.

    Cartons are convex, so the hull of everything darker than the studio white is the carton, white print included.
    """
    img = cv2.imread(str(FIXTURES / pack))
    ink = cv2.morphologyEx((img.min(axis=2) < 235).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    hull = cv2.convexHull(cv2.findNonZero(ink))
    mask = np.zeros(ink.shape, np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    x, y, w, h = cv2.boundingRect(hull)
    return img[y:y + h, x:x + w], mask[y:y + h, x:x + w]


def hold_up(image: np.ndarray, pack: tuple[np.ndarray, np.ndarray], t: float,
            where: tuple[float, float]) -> tuple[np.ndarray, tuple[float, float]]:
    """The carton pasted into a real frame as a hand holds it: turned a few degrees, leaning back a little, drifting.

    Returns the frame and the carton's centre in pixels. Its height is 42% of the frame's (a 1 l carton held up
    at chest height in a head-and-shoulders shot), close to the pack shot's own resolution (no upscaled detail).
    """
    carton, mask = pack
    h, w = carton.shape[:2]
    H, W = image.shape[:2]
    out_h = 0.42 * H
    out_w = out_h * w / h
    corners = np.float32([[-out_w / 2, -out_h / 2], [out_w / 2, -out_h / 2], [out_w / 2, out_h / 2],
                          [-out_w / 2, out_h / 2]])
    corners[:2, 0] *= 1 - (0.06 + 0.04 * math.sin(1.3 * t))  # top edge farther away: the carton leans back
    a = math.radians(6 * math.sin(2.1 * t))
    centre = (W * (where[0] + 0.02 * math.sin(3 * t)), H * (where[1] + 0.015 * math.cos(2 * t)))
    dst = corners @ np.float32([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) + np.float32(centre)
    warp = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), dst.astype(np.float32))
    warped = cv2.warpPerspective(carton, warp, (W, H), flags=cv2.INTER_AREA)
    alpha = cv2.warpPerspective(mask, warp, (W, H)).astype(np.float32)[..., None] / 255.0
    return (warped * alpha + image * (1.0 - alpha)).astype(np.uint8), centre


def real_room(detector, room: str, clip: str, pack: str | None = None, where: tuple[float, float] = (0.76, 0.58)):
    """Run a room built from a real clip (the pack held up during SHOWN) through the detector, as Frames at 2 fps.

    Returns [(stream time, the pack's centre or None when not shown, signals)] for every sampled frame.
    """
    carton = cut_out(pack) if pack else None
    out = []
    state = detector.open_room(room)
    for i, (t, image) in enumerate(real_frames(clip)):
        centre = None
        if carton is not None and SHOWN[0] <= t < SHOWN[1]:
            image, centre = hold_up(image, carton, t, where)
        out.append((t, centre, state.process(Frame(room, t, image, index=i))))
    return out


def named(room) -> list[str]:
    """Product ids the detector called the held pack, one per sampled frame it was shown in and named."""
    return [s.subject for _, centre, signals in room if centre is not None for s in signals if s.kind == "product"]


@pytest.mark.parametrize("clip", [real_clip(CALM_HOST), real_clip(BUSY_HOST), real_clip(TURNING_HOST)])
def test_real_footage_alone_is_never_called_a_catalog_product(detector, clip: str):
    """A real host talking and moving for the whole clip: the moving person makes blobs, none is a product."""
    room = real_room(detector, f"real-alone-{clip}", clip)
    assert len(room) >= 14  # the whole clip was sampled at 2 fps
    assert [(round(t, 1), s.subject) for t, _, signals in room for s in signals if s.kind == "product"] == []


@pytest.mark.parametrize("pack, expected", [("Tropicana-Apple-Juice.jpg", "tropicana-apple"),
                                            ("Oatly-Oat-Milk.jpg", "oatly-oat-milk")])
@pytest.mark.parametrize("clip", [real_clip(CALM_HOST)])
def test_pack_held_up_in_real_footage_is_recognised_while_shown(detector, clip: str, pack: str, expected: str):
    """A real pack shot held up for 3 s in front of real footage: named right while shown, and only then."""
    room = real_room(detector, f"real-{expected}-{clip}", clip, pack)
    shown = [(t, centre, signals) for t, centre, signals in room if centre is not None]
    hits = [(t, centre, s) for t, centre, signals in shown for s in signals if s.kind == "product"]
    assert len(shown) == 6
    # the unlisted_product rule wants 3 hits in 5 s: nearly every sampled frame while shown names it
    assert len(hits) >= len(shown) - 1 and {s.subject for _, _, s in hits} == {expected}
    for _, (cx, cy), s in hits:
        x0, y0, x1, y1 = s.evidence["bbox"]
        assert x0 < cx < x1 and y0 < cy < y1  # the box is around the pack, not the host
    # before it is held up and after it is put away (the background model still remembers it): nothing
    assert [(round(t, 1), s.subject) for t, centre, signals in room if centre is None
            for s in signals if s.kind == "product"] == []


@pytest.mark.parametrize("clip", [real_clip(CALM_HOST)])
def test_pack_missing_from_the_catalog_held_up_in_real_footage_is_not_a_catalog_product(detector, clip: str):
    """Oatly held up the same way in front of a catalog without it: never a catalog product id, shown or not.

    The same room with Oatly in the catalog names it in nearly every frame, so the pack is seen and its crop
    judged; only the catalog differs (the same index less Oatly's pack shot and views, nothing re-embedded).
    """
    from livewarden.detectors.products import ProductsDetector

    pack = "Oatly-Oat-Milk.jpg"
    with_it = real_room(detector, f"real-oatly-listed-{clip}", clip, pack)
    assert len(named(with_it)) >= 5 and set(named(with_it)) == {"oatly-oat-milk"}
    others = [i for i, (product, _) in enumerate(detector.index.originals) if product != "oatly-oat-milk"]
    without = ProductsDetector(detector.index.subset(others))
    room = real_room(without, f"real-oatly-missing-{clip}", clip, pack)
    assert sum(centre is not None for _, centre, _ in room) == 6
    assert [(round(t, 1), s.subject) for t, _, signals in room for s in signals if s.kind == "product"] == []


# Known weaknesses the real footage shows (strict: when the detector learns these, the tests say so and must be
# promoted to plain tests). Proposals are blobs that differ from a slowly updated grey background.
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="a host who moves a lot makes larger blobs than the pack, or one blob with it; only the 3 "
                   "largest are embedded, so the pack is named in 1-2 of 6 frames (the rule wants 3 in 5 s)")
@pytest.mark.parametrize("clip", [real_clip(BUSY_HOST), real_clip(TURNING_HOST)])
def test_pack_held_up_next_to_a_moving_real_host_is_recognised_while_shown(detector, clip: str):
    """Oatly held below the shoulder of a host who laughs and leans (d12) or turns her head (d3) while talking."""
    room = real_room(detector, f"real-moving-{clip}", clip, "Oatly-Oat-Milk.jpg", where=(0.8, 0.7))
    assert len(named(room)) >= 5 and set(named(room)) == {"oatly-oat-milk"}


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="the carton's middle band is as bright as the wall behind it, so its blob splits in two; "
                   "each half-pack crop is close to the catalog's pack shot (0.66) but too little of the pack for the "
                   "pack-shot confirmation")
@pytest.mark.parametrize("clip", [real_clip(CALM_HOST)])
def test_a_catalogued_pack_as_bright_as_the_wall_is_recognised_in_real_footage(detector, clip: str):
    """Bravo orange juice, added to the catalog, held up in front of the calm host's light wall."""
    from livewarden.detectors.products import ProductIndex, ProductsDetector

    refs = [(p, b, FIXTURES / img) for p, b, _, img, _ in CATALOG]
    with_bravo = ProductsDetector(ProductIndex(detector.embedder, refs + [("bravo-orange", "bravo",
                                                                            FIXTURES / "Bravo-Orange-Juice.jpg")]))
    room = real_room(with_bravo, f"real-bravo-listed-{clip}", clip, "Bravo-Orange-Juice.jpg")
    assert len(named(room)) >= 5 and set(named(room)) == {"bravo-orange"}


def test_a_pack_already_on_camera_when_watching_starts_is_found_and_kept_while_it_stands(rooms, detector):
    """The background model sees only what changes: a pack up before the first frame, or one that never moves,
    is found by the sweep of the whole frame, reported while its place is unchanged, and dropped once taken away."""
    pack = cv2.imread(str(FIXTURES / "Tropicana-Apple-Juice.jpg"))
    bg = generate_background(12, 1280, 720)
    standing, _ = place_mark(bg, pack, center=(900, 380), scale=0.2, angle_deg=4, tilt=8)
    frames = [standing.copy() for _ in range(5)] + [bg.copy() for _ in range(3)]
    for k, img in enumerate(frames):
        draw_host(img, k * 0.5)  # the host keeps moving: changed regions that are not products
    found = [[s.subject for s in rooms.detect(Frame("room-standing", k * 0.5, img)) if s.kind == "product"]
             for k, img in enumerate(frames)]
    assert found[:5] == [["tropicana-apple"]] * 5  # from the first frame on, every frame while it stands
    assert found[5:] == [[]] * 3  # taken away: no longer reported
