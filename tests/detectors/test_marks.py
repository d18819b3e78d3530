"""MarksDetector on generated 1280x720 scenes: geometry, negatives, confusion, errors, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from livewarden.assets.marks import generate_background, generate_mark, place_mark
from livewarden.detectors.marks import MarksDetector
from livewarden.model import Frame
from livewarden.registry.schema import Brand, Registry
from livewarden.testing.rooms import Rooms

BRANDS = {"nova": ("NOVA", 1), "kraft": ("KRAFT", 2), "zebra": ("Zebra Co", 3), "orbit": ("ORBIT", 4), "lumen": ("Lumen", 5)}


@pytest.fixture(scope="module")
def marks() -> dict[str, np.ndarray]:
    return {b: generate_mark(text, seed) for b, (text, seed) in BRANDS.items()}


@pytest.fixture(scope="module")
def detector(marks) -> MarksDetector:
    return MarksDetector(list(marks.items()))


@pytest.fixture
def rooms(detector) -> Rooms:
    """The detector's rooms for one test (each room's keypoint reuse starts empty)."""
    return Rooms(detector)


def camera(image: np.ndarray, seed: int) -> np.ndarray:
    """What a stream encoder does to a scene: slight defocus, sensor noise, JPEG blocking."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(image, (3, 3), 0.8).astype(np.float32)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])[1], cv2.IMREAD_COLOR)


def box_iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def bbox(poly) -> list[float]:
    p = np.asarray(poly, float)
    return [*p.min(0), *p.max(0)]


def frame(image: np.ndarray, t: float = 12.5) -> Frame:
    return Frame(room_id="room-1", stream_time=t, image=image)


# (brand, scale as share of frame width, in-plane angle, tilt degrees, occlusion)
VIEWS = [
    ("nova", 0.40, 0, 0, 0.0),
    ("kraft", 0.08, 0, 0, 0.0),
    ("zebra", 0.12, 15, 10, 0.0),
    ("orbit", 0.25, 45, 0, 0.0),
    ("lumen", 0.20, -120, 0, 0.0),
    ("nova", 0.25, 10, 50, 0.0),
    ("kraft", 0.30, -20, 35, 0.3),
    ("zebra", 0.25, 0, 0, 0.3),
]


@pytest.mark.parametrize("seed,brand,scale,angle,tilt,occlusion", [(i, *v) for i, v in enumerate(VIEWS)])
def test_detects_mark_under_scale_rotation_tilt_occlusion(detector, rooms, marks, seed, brand, scale, angle, tilt, occlusion):
    scene, truth = place_mark(
        generate_background(seed), marks[brand], center=(600, 380), scale=scale, angle_deg=angle, tilt=tilt, occlusion=occlusion
    )
    signals = rooms.detect(frame(camera(scene, seed)))

    assert [s.subject for s in signals] == [brand]
    s = signals[0]
    assert (s.kind, s.detector, s.room_id, s.stream_time) == ("mark", "marks", "room-1", 12.5)
    assert s.frame is not None and s.frame.image is not None
    assert 0.5 <= s.confidence <= 1.0
    ev = s.evidence
    assert len(ev["polygon"]) == 4 and all(len(p) == 2 for p in ev["polygon"])
    assert ev["inliers"] >= detector.settings["min_inliers"]
    assert ev["ref"] == str(list(BRANDS).index(brand))  # arrays are named by their position
    assert box_iou(ev["bbox"], bbox(truth)) > 0.5
    assert box_iou(bbox(ev["polygon"]), bbox(truth)) > 0.5


def test_large_frontal_mark_is_a_strong_match(detector, rooms, marks):
    scene, _ = place_mark(generate_background(7), marks["orbit"], center=(640, 360), scale=0.3)
    (s,) = rooms.detect(frame(camera(scene, 7)))
    assert s.confidence >= 0.8


@pytest.mark.parametrize("seed", range(6))
def test_no_signal_without_a_mark(detector, rooms, seed):
    assert rooms.detect(frame(camera(generate_background(1000 + seed), seed))) == []


def test_unregistered_look_alike_marks_are_not_reported(detector, rooms):
    """Other generated logos (same style, same fonts, even the same text with another seed) are not our brands."""
    for i, text in enumerate(["NOVA", "Quill", "TERRA", "KRAFT"]):
        scene, _ = place_mark(generate_background(50 + i), generate_mark(text, 100 + i), center=(640, 360), scale=0.3)
        assert rooms.detect(frame(camera(scene, i))) == [], text


def test_two_brands_in_one_frame_are_not_confused(detector, rooms, marks):
    scene, truth_a = place_mark(generate_background(21), marks["kraft"], center=(330, 360), scale=0.3, angle_deg=10)
    scene, truth_b = place_mark(scene, marks["lumen"], center=(950, 360), scale=0.3, angle_deg=-10)
    found = {s.subject: s for s in rooms.detect(frame(camera(scene, 21)))}
    assert set(found) == {"kraft", "lumen"}
    assert box_iou(found["kraft"].evidence["bbox"], bbox(truth_a)) > 0.5
    assert box_iou(found["lumen"].evidence["bbox"], bbox(truth_b)) > 0.5


def test_unreadable_reference_names_brand_and_file(tmp_path: Path, marks):
    bad = tmp_path / "acme_logo.png"
    bad.write_bytes(b"this is not a png")
    with pytest.raises(ValueError, match=r"acme.*acme_logo\.png"):
        MarksDetector([("nova", marks["nova"]), ("acme", bad)])


def test_featureless_reference_is_rejected(marks):
    blank = np.full((300, 300, 3), 200, np.uint8)
    with pytest.raises(ValueError, match=r"'plain'.*too few"):
        MarksDetector([("nova", marks["nova"]), ("plain", blank)])


def test_from_registry_reads_mark_files(tmp_path: Path, marks):
    paths = {}
    for b in ("nova", "kraft"):
        paths[b] = tmp_path / f"{b}.png"
        cv2.imwrite(str(paths[b]), marks[b])
    registry = Registry(brands=[Brand(id=b, name=b.title(), marks=[p]) for b, p in paths.items()])
    det = MarksDetector.from_registry(registry)
    scene, _ = place_mark(generate_background(3), marks["kraft"], center=(640, 360), scale=0.25)
    (s,) = Rooms(det).detect(frame(camera(scene, 3)))
    assert (s.subject, s.evidence["ref"]) == ("kraft", "kraft.png")


def test_concurrent_rooms_match_sequential(detector, marks):
    """One detector shared by rooms on several threads (each room its own state) finds what one thread finds."""
    scenes = []
    for i, brand in enumerate(BRANDS):
        scene, _ = place_mark(generate_background(300 + i), marks[brand], center=(640, 360), scale=0.2, angle_deg=20 * i)
        scenes.append(camera(scene, i))
    scenes.append(camera(generate_background(399), 9))

    def run(img):
        room = detector.open_room("room-1")  # a fresh room per call: a full search, like the sequential one
        return [(s.subject, s.evidence["inliers"], s.evidence["polygon"]) for s in room.process(frame(img))]

    expected = [run(img) for img in scenes]
    assert [len(e) for e in expected] == [1, 1, 1, 1, 1, 0]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            assert list(pool.map(run, scenes)) == expected


def test_card_in_a_generated_room_is_found_whenever_it_is_on_screen(detector, rooms, marks):
    """The demo's and benchmarks' rooms: a swaying host holds the card up from 2 s to 6 s (sampled at 4 fps)."""
    from livewarden.testing.scenes import room_frames

    fps, on = 4, (2.0, 6.0)
    for i, image in enumerate(room_frames(marks["nova"], seconds=8, fps=fps, mark_on=on, seed=9)):
        t = i / fps
        found = {s.subject for s in rooms.detect(frame(camera(image, i), t))}
        assert found == ({"nova"} if on[0] <= t < on[1] else set()), f"at {t:.2f}s"


def live(image: np.ndarray, t: float, room: str) -> Frame:
    return Frame(room_id=room, stream_time=t, image=image)


def test_a_live_room_is_searched_again_only_where_it_changed_and_finds_the_same_cards(detector, rooms, marks):
    """Between full searches only changed tiles are searched; the verdicts equal a full search of every frame."""
    from livewarden.testing.scenes import room_frames

    fps, on = 2, (3.0, 9.0)
    for i, image in enumerate(room_frames(marks["nova"], seconds=12, fps=fps, mark_on=on, seed=11)):
        t, shot = i / fps, camera(image, i)
        live_found = {s.subject for s in rooms.detect(live(shot, t, "reuse-room"))}
        assert live_found == {m.brand for m in detector.match_image(shot)}, f"at {t:.1f}s"
        assert live_found == ({"nova"} if on[0] <= t < on[1] else set()), f"at {t:.1f}s"
    full, partial = rooms.room("reuse-room").searches
    assert full + partial == 24 and partial >= 12, (full, partial)


def test_a_card_held_still_keeps_being_found_and_a_new_card_is_found_at_once(detector, rooms, marks):
    still = generate_background(77)
    with_card, _ = place_mark(still, marks["orbit"], center=(900, 360), scale=0.22, angle_deg=10)
    shots = [still] * 3 + [with_card] * 6
    found = [{s.subject for s in rooms.detect(live(camera(img, i), i * 0.5, "still-room"))}
             for i, img in enumerate(shots)]
    assert found == [set()] * 3 + [{"orbit"}] * 6
    full, partial = rooms.room("still-room").searches
    assert full == 2 and partial == 7  # one full search at 0 s and one at 4 s (refresh), the rest partial


def test_a_card_swapped_for_another_in_the_same_place_is_not_remembered(detector, rooms, marks):
    """Nothing of the old card may be carried over where the picture changed, however little of each tile."""
    background = generate_background(7)
    first, _ = place_mark(background, marks["zebra"], center=(600, 380), scale=0.25, occlusion=0.3)
    second, _ = place_mark(background, marks["orbit"], center=(640, 360), scale=0.3)
    assert {s.subject for s in rooms.detect(live(camera(first, 7), 0.0, "swap-room"))} == {"zebra"}
    assert {s.subject for s in rooms.detect(live(camera(second, 7), 0.5, "swap-room"))} == {"orbit"}
    assert rooms.room("swap-room").searches == (1, 1)
