"""Protected persons: enrollment errors, the faces detector on generated rooms from real photos, impersonation.

The face photos are four small copies from ageitgey/face_recognition's examples (MIT; see
tests/fixtures/faces/ATTRIBUTION.md).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
import yaml
from typer.testing import CliRunner

from livewarden.assets.marks import generate_background, place_mark
from livewarden.assets.scenes import draw_host
from livewarden.cli import app
from livewarden.model import Frame, Signal
from livewarden.policy import Policy, load_rules
from livewarden.registry import RegistryError, load_registry

FACES = Path(__file__).parent / "fixtures" / "faces"
PACK = Path(__file__).parent / "fixtures" / "products" / "Oatly-Oat-Milk.jpg"


def write_persons(d: Path, persons: list[dict]) -> Path:
    (d / "photos").mkdir(exist_ok=True)
    for f in list(FACES.glob("*.jpg")) + [PACK]:
        shutil.copy(f, d / "photos" / f.name)
    doc = {
        "sellers": [{"id": "official-shop", "name": "Official"}, {"id": "other-shop", "name": "Other"}],
        "rooms": [{"id": "own-room", "seller": "official-shop", "source": "own.mp4"},
                  {"id": "fake-room", "seller": "other-shop", "source": "fake.mp4"}],
        "persons": persons,
    }
    path = d / "registry.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


PERSONS = [
    {"id": "obama", "name": "Barack Obama", "photos": ["photos/obama-enrol.jpg"],
     "authorized_sellers": ["official-shop"]},
    {"id": "biden", "name": "Joe Biden", "photos": ["photos/biden-enrol.jpg"]},
]


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory) -> Path:
    return write_persons(tmp_path_factory.mktemp("persons"), PERSONS)


@pytest.fixture(scope="module")
def detector(registry_path):
    from livewarden.detectors.faces import FacesDetector

    return FacesDetector.from_registry(load_registry(registry_path))


def test_persons_load_and_unknown_references_are_reported(tmp_path: Path, registry_path: Path):
    reg = load_registry(registry_path)
    assert reg.person_authorized("own-room", "obama") and not reg.person_authorized("fake-room", "obama")
    assert not reg.person_authorized("own-room", "biden")
    bad = write_persons(tmp_path, [{**PERSONS[0], "authorized_sellers": ["nobody"], "authorized_rooms": ["nowhere"],
                                    "photos": ["photos/missing.jpg"]}])
    with pytest.raises(RegistryError) as err:
        load_registry(bad)
    text = str(err.value)
    assert "persons[0].authorized_sellers[0]: unknown seller 'nobody'" in text
    assert "persons[0].authorized_rooms[0]: unknown room 'nowhere'" in text
    assert "persons[0].photos[0]: reference image not found" in text


def test_enrollment_rejects_photos_without_exactly_one_face(tmp_path: Path):
    path = write_persons(tmp_path, [
        {"id": "obama", "name": "Barack Obama", "photos": ["photos/obama-enrol.jpg", "photos/two-people.jpg"]},
        {"id": "biden", "name": "Joe Biden", "photos": ["photos/Oatly-Oat-Milk.jpg"]},
    ])
    result = CliRunner().invoke(app, ["registry", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "two-people.jpg: persons[0].photos[1] (obama): 2 faces found: use a photo with only Barack Obama" \
        in result.output
    assert "Oatly-Oat-Milk.jpg: persons[1].photos[0] (biden): no face found" in result.output


def room_with_face(photo: str, seed: int = 4):
    """A generated room where a real portrait is shown large, as a face on camera would be."""
    bg = generate_background(seed, 1280, 720)
    for k in range(3):
        img = bg.copy()
        draw_host(img, k * 0.5)
        img, _ = place_mark(img, cv2.imread(str(FACES / photo)), center=(900, 360), scale=0.3, angle_deg=0, tilt=0)
        yield img


def test_detector_names_the_protected_person_and_ignores_others(detector):
    found = [s for i, img in enumerate(room_with_face("obama-live.jpg")) for s in detector.detect(Frame("r", i, img))]
    assert [s.subject for s in found] == ["obama"] * 3
    assert all(s.kind == "face" and 0.5 < s.confidence <= 1 and s.evidence["ref"] == "obama-enrol.jpg" for s in found)
    assert "descriptor" not in found[0].evidence  # no biometric template leaves the detector
    x0, y0, x1, y1 = found[0].evidence["bbox"]
    assert 700 < (x0 + x1) / 2 < 1100
    # the generated host is not a person, and a scene without a real face gives nothing
    assert detector.detect(Frame("r", 9, generate_background(5, 1280, 720))) == []


def face(room: str, t: float, person: str = "obama", conf: float = 0.8, wall: float | None = None) -> Signal:
    return Signal(room_id=room, stream_time=t, kind="face", subject=person, confidence=conf, detector="faces",
                  wall_time=1_000_000.0 + t if wall is None else wall)


def test_impersonation_only_in_rooms_the_person_has_not_authorized(registry_path: Path):
    reg = load_registry(registry_path)
    policy = Policy(reg, load_rules())
    opened = [(u.finding.room_id, u.finding.rule, u.finding.severity) for t in range(6)
              for room in ("own-room", "fake-room") for u in policy.observe(face(room, t * 0.5)) if u.opened]
    assert ("fake-room", "impersonation", "red_flag") in opened
    assert all(room == "fake-room" for room, _, _ in opened)  # never the person's own room
    weak = [u.finding.severity for t in range(6) for u in policy.observe(face("own-room", t * 0.5, "biden", 0.6))
            if u.opened]
    assert weak == ["review"]  # Biden authorized nobody; a weak likeness is for a person to judge


def test_same_person_live_in_two_rooms_flags_the_fake_not_their_own(registry_path: Path):
    reg = load_registry(registry_path)
    rules = [r for r in load_rules() if r.id == "concurrent_impersonation"]
    policy = Policy(reg, rules)
    # first only the own room is live: nothing
    assert [u for t in range(4) for u in policy.observe(face("own-room", t * 0.5))] == []
    # then a second room shows the same face at the same wall time (its stream clock is its own)
    opened = [(u.finding.room_id, u.finding.rule) for t in range(4)
              for room, st in (("own-room", 2 + t * 0.5), ("fake-room", 100 + t * 0.5))
              for u in policy.observe(face(room, st, wall=1_000_002.0 + t * 0.5)) if u.opened]
    assert opened == [("fake-room", "concurrent_impersonation")]
    # a room seen 20 s earlier (wall clock) is not "at the same time"
    late = Policy(reg, rules)
    late.observe(face("own-room", 0, wall=1_000_000.0))
    assert [u for t in range(4) for u in late.observe(face("fake-room", t * 0.5, wall=1_000_020.0 + t * 0.5))] == []
