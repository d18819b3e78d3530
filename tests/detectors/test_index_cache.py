"""The index cache: a cached registry gives the same arrays and builds nothing; only a changed reference is built
again; a corrupt entry is rebuilt; two processes can build one index at once; faces' registry errors survive it.

Catalog images and face photos are the small fixtures under tests/fixtures; marks are generated.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import yaml

from livewarden.assets.marks import generate_mark
from livewarden.config import Settings
from livewarden.detectors.index_cache import IndexCache
from livewarden.detectors.marks import MarksDetector
from livewarden.registry import RegistryError, load_registry

REPO = Path(__file__).resolve().parents[2]
PRODUCT_IMAGES, FACES = REPO / "tests" / "fixtures" / "products", REPO / "tests" / "fixtures" / "faces"
PERSONS = [{"id": "obama", "name": "Barack Obama", "photos": ["photos/obama-enrol.jpg"]},
           {"id": "biden", "name": "Joe Biden", "photos": ["photos/biden-enrol.jpg"]}]
CATALOG = [("oatly-oat-milk", "oatly", "Oatly-Oat-Milk.jpg"), ("tropicana-apple", "tropicana", "Tropicana-Apple-Juice.jpg"),
           ("alpro-blueberry", "alpro", "Alpro-Blueberry-Soyghurt.jpg"), ("arla-milk", "arla", "Arla-Standard-Milk.jpg")]


@pytest.fixture(scope="module")
def embedder():
    from livewarden.detectors.embedder import Embedder

    return Embedder()


@pytest.fixture
def embedded(embedder, monkeypatch) -> list[int]:
    """How many images each call of the embedder got."""
    calls: list[int] = []
    real = embedder.embed
    monkeypatch.setattr(embedder, "embed", lambda images: calls.append(len(images)) or real(images))
    return calls


def catalog(d: Path, rows=CATALOG) -> list[tuple[str, str, Path]]:
    d.mkdir(parents=True, exist_ok=True)
    for _, _, name in rows:
        if not (d / name).exists():
            shutil.copy(PRODUCT_IMAGES / name, d / name)
    return [(product, brand, d / name) for product, brand, name in rows]


def write_persons(d: Path, persons: list[dict]) -> Path:
    """A registry of protected persons, their photos copied from the fixtures (and a pack shot: no face)."""
    (d / "photos").mkdir(exist_ok=True)
    for f in [*FACES.glob("*.jpg"), PRODUCT_IMAGES / "Oatly-Oat-Milk.jpg"]:
        shutil.copy(f, d / "photos" / f.name)
    doc = {"sellers": [{"id": "shop", "name": "Shop"}], "rooms": [{"id": "room", "seller": "shop", "source": "x.mp4"}],
           "persons": persons}
    (d / "registry.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return d / "registry.yaml"


def features(det: MarksDetector) -> tuple[np.ndarray, ...]:
    return det._descs, det._points, det._owner, *[r.outline for r in det._refs]


def assert_same(a: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def test_a_cached_catalog_is_bit_identical_and_embeds_nothing(tmp_path, embedder, embedded):
    from livewarden.detectors.products import ProductIndex, build_verifier

    cache, refs = IndexCache(tmp_path / "index"), catalog(tmp_path / "a")
    fresh = ProductIndex(embedder, refs)
    first = ProductIndex(embedder, refs, cache=cache)
    assert len(embedded) == 2 * len(refs)  # fresh, then into the cache: one batch per image and its views
    embedded.clear()
    again = ProductIndex(embedder, refs, cache=cache)
    moved = ProductIndex(embedder, catalog(tmp_path / "b"), cache=cache)  # same bytes elsewhere: content, not path
    assert embedded == []
    for index in (first, again, moved):
        assert index.vectors.dtype == np.float32 and np.array_equal(index.vectors, fresh.vectors)
        assert index.rows == fresh.rows and index.row_reference == fresh.row_reference
    assert again.lookup(cv2.imread(str(PRODUCT_IMAGES / "shop-photo-Oatly-Oat-Milk.jpg")))[0].product == "oatly-oat-milk"
    # the pack-shot verifier's features come from the cache too, the same as built from scratch
    assert_same(features(build_verifier(again.originals, cache)), features(build_verifier(fresh.originals)))


def test_a_cached_run_loads_no_model(tmp_path, embedder):
    from livewarden.detectors.face_embedder import FaceEmbedder
    from livewarden.detectors.faces import FacesDetector, enroll
    from livewarden.detectors.products import ProductsDetector

    settings = Settings().with_overrides({"store.index_dir": tmp_path / "index"})
    reg = load_registry(write_persons(tmp_path, PERSONS))
    enroll(reg, FaceEmbedder(), IndexCache(tmp_path / "index"))
    faces = FacesDetector.from_registry(reg, settings)  # would start the descriptor's child process if it had to
    assert faces.embedder._pool is None and faces.embedder._encoder is None and len(faces.refs) == 2
    shop = SimpleNamespace(products=[SimpleNamespace(id=p, brand=b, images=[img])
                                     for p, b, img in catalog(tmp_path / "c", CATALOG[:1])])
    ProductsDetector.from_registry(shop, settings, embedder=embedder)  # fills the cache
    assert ProductsDetector.from_registry(shop, settings).embedder._model is None


def test_one_changed_or_added_image_is_the_only_one_embedded_again(tmp_path, embedder, embedded):
    from livewarden.detectors.products import ProductIndex

    cache, refs = IndexCache(tmp_path / "index"), catalog(tmp_path / "a")
    before = ProductIndex(embedder, refs, cache=cache)
    embedded.clear()
    flipped = cv2.flip(cv2.imread(str(refs[1][2])), 1)
    cv2.imwrite(str(refs[1][2]), flipped)  # same path, new content
    refs = catalog(tmp_path / "a", CATALOG + [("bravo-orange", "bravo", "Bravo-Orange-Juice.jpg")])
    after = ProductIndex(embedder, refs, cache=cache)
    assert embedded == [3, 3]  # the changed image and the new one, each with its two held-up views
    unchanged = [i for i, r in enumerate(before.row_reference) if r != 1]
    assert np.array_equal(after.vectors[unchanged], before.vectors[unchanged])
    assert np.array_equal(after.vectors, ProductIndex(embedder, refs).vectors)


def test_one_changed_mark_is_the_only_one_described_again(tmp_path, monkeypatch):
    marks = [(f"b{i}", tmp_path / f"m{i}.png") for i in range(5)]
    for i, (_, path) in enumerate(marks):
        cv2.imwrite(str(path), generate_mark(f"M{i}", i))
    cache = IndexCache(tmp_path / "index")
    described: list[str] = []
    real = MarksDetector._describe
    monkeypatch.setattr(MarksDetector, "_describe",
                        lambda self, image, data, brand: described.append(brand) or real(self, image, data, brand))
    first = MarksDetector(marks, cache=cache)
    assert len(described) == 5
    cv2.imwrite(str(marks[3][1]), generate_mark("M3", 99))
    described.clear()
    second = MarksDetector(marks, cache=cache)
    assert described == ["b3"]
    assert_same(features(second), features(MarksDetector(marks)))
    assert not np.array_equal(features(first)[0], features(second)[0])
    # a setting that changes the features builds every mark again; one that does not, none
    described.clear()
    MarksDetector(marks, cache=cache, ref_features=500)
    MarksDetector(marks, cache=cache, min_inliers=10)
    assert len(described) == 5
    described.clear()  # a run builds through from_registry, with the cache its settings name
    registry = SimpleNamespace(brands=[SimpleNamespace(id=brand, marks=[path]) for brand, path in marks])
    settings = Settings().with_overrides({"store.index_dir": tmp_path / "index"})
    assert_same(features(MarksDetector.from_registry(registry, settings)), features(second))
    assert described == []


DAMAGE = {
    "truncated": lambda entry: entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2]),
    "garbage": lambda entry: entry.write_bytes(b"\x00not a zip" * 100),
    "empty": lambda entry: entry.write_bytes(b""),
    "pickled": lambda entry: np.savez(entry, points=np.array([object()], dtype=object)),  # refused: no pickle
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_corrupt_entry_is_built_again_with_a_warning(tmp_path, caplog, damage):
    marks = [("nova", generate_mark("NOVA", 11)), ("koru", generate_mark("KORU", 23))]
    cache = IndexCache(tmp_path / "index")
    good = features(MarksDetector(marks, cache=cache))
    entry = sorted((tmp_path / "index" / "marks").glob("*.npz"))[0]
    DAMAGE[damage](entry)
    with caplog.at_level(logging.WARNING, logger="livewarden.detectors.index_cache"):
        assert_same(features(MarksDetector(marks, cache=cache)), good)
    assert str(entry) in caplog.text and "building it again" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="livewarden.detectors.index_cache"):
        assert_same(features(MarksDetector(marks, cache=cache)), good)  # the rebuilt entry was saved
    assert caplog.text == ""


BUILDER = textwrap.dedent("""
    import sys, time, hashlib
    from pathlib import Path
    from livewarden.detectors.index_cache import IndexCache
    from livewarden.detectors.marks import MarksDetector
    marks = sorted(Path(sys.argv[1]).glob("*.png"))
    if sys.argv[3] == "reverse":
        marks.reverse()
    Path(sys.argv[2], sys.argv[3]).touch()
    while not Path(sys.argv[2], "go").exists():
        time.sleep(0.005)
    det = MarksDetector([(m.stem, m) for m in marks], cache=IndexCache(Path(sys.argv[2], "index")))
    order = sorted(range(len(det._refs)), key=lambda r: det._refs[r].name)
    print(hashlib.sha256(b"".join(det._descs[det._owner == r].tobytes() for r in order)).hexdigest())
""")


def test_two_processes_building_the_same_index_at_once_both_succeed(tmp_path):
    (tmp_path / "marks").mkdir()
    for i in range(40):
        cv2.imwrite(str(tmp_path / "marks" / f"m{i:02d}.png"), generate_mark(f"M{i}", i))
    # one goes forward, the other backward: each reads entries the other is writing at that moment
    procs = [subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path / "marks"), str(tmp_path), order],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
             for order in ("forward", "reverse")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / o).exists() for o in ("forward", "reverse")) and time.monotonic() < deadline:
        time.sleep(0.01)
    (tmp_path / "go").touch()
    results = [p.communicate(timeout=60) for p in procs]
    for p, (out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "cannot be read" not in err  # never a half-written entry
    assert results[0][0] == results[1][0]
    entries = list((tmp_path / "index" / "marks").iterdir())
    assert len(entries) == 40 and all(e.suffix == ".npz" for e in entries)  # no temporary file left behind


def test_the_faces_registry_error_still_names_each_file_on_a_cached_run(tmp_path, monkeypatch):
    from livewarden.detectors.face_embedder import FaceEmbedder
    from livewarden.detectors.faces import enroll

    path = write_persons(tmp_path, [
        {"id": "obama", "name": "Barack Obama", "photos": ["photos/obama-enrol.jpg", "photos/two-people.jpg"]},
        {"id": "biden", "name": "Joe Biden", "photos": ["photos/Oatly-Oat-Milk.jpg", "photos/biden-enrol.jpg"]},
    ])
    reg, cache, embedder = load_registry(path), IndexCache(tmp_path / "index"), FaceEmbedder()
    (tmp_path / "photos" / "biden-enrol.jpg").write_bytes(b"not a jpeg any more")  # broken since it was loaded
    described: list[int] = []
    real = embedder.faces
    monkeypatch.setattr(embedder, "faces", lambda image: described.append(1) or real(image))
    messages = []
    for _ in range(2):
        with pytest.raises(RegistryError) as err:
            enroll(reg, embedder, cache)
        messages.append(str(err.value))
    assert len(described) == 3  # the first run only; the unreadable file is never described
    assert messages[0] == messages[1]
    assert "two-people.jpg" in messages[1] and "2 faces found: use a photo with only Barack Obama" in messages[1]
    assert "Oatly-Oat-Milk.jpg" in messages[1] and "no face found" in messages[1]
    assert "biden-enrol.jpg" in messages[1] and "cannot be read as an image" in messages[1]

    good = load_registry(write_persons(tmp_path, PERSONS))
    fresh = enroll(good, embedder)
    described.clear()
    cached = [enroll(good, embedder, cache) for _ in range(2)]
    assert len(described) == 1  # biden's restored photo, once: obama's was kept from the runs that failed
    for gallery, refs in cached:
        assert gallery.dtype == np.float32 and np.array_equal(gallery, fresh[0]) and refs == fresh[1]
    assert all(e.stat().st_mode & 0o077 == 0 for e in (tmp_path / "index" / "faces").iterdir())  # owner only
