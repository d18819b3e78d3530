"""Every detector in the table through the same checks (the contract of detectors/base.py).

One registry with material for all of them (generated marks, the fixture catalog, the fixture portraits), and
for each detector the items it reads: generated rooms holding a mark, a catalog pack, a pack missing from the
catalog, a face, a card with words; chat lines; a real speech recording. Each detector must:
emit exactly the kinds it declares (every declared kind seen on these items, nothing undeclared), give the same
answers for rooms run side by side on two threads as for rooms run one after the other, drop its state on
close, say nothing about a black frame / an empty line / silence, and give signals that cross a bus as JSON.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from livewarden.assets.marks import generate_mark, place_mark, generate_background
from livewarden.testing.clips import pattern_frames, write_clip
from livewarden.testing.codes import tag
from livewarden.testing.scenes import draw_host, held_up, product_card, shown_large
from livewarden.config import Settings
from livewarden.detectors.table import TABLE, BY_NAME
from livewarden.errors import RegistryError
from livewarden.model import AudioChunk, Frame, Signal, TextLine
from livewarden.policy.rules import load_rules
from livewarden.registry import load_registry
from livewarden.runtime.build import build_detectors

from ..conftest import DATA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPEECH = DATA / "speech" / "dev" / "en_jfk.flac"
# a real shop photo of something that is no catalog product yet plainly a product (dev split, read in place)
STRANGER = DATA / "products" / "dev" / "Honeydew-Melon" / "Honeydew-Melon_031.jpg"
# kinds a detector declares that these items cannot show, and why
# the only English recording here is JFK's speech; the card on screen says its offer in lexicon words
UNCOVERED = {"speech": {"counterfeit_talk", "counterfeit_paraphrase", "stated_price"},
             "screen_text": {"counterfeit_paraphrase"}}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    d = tmp_path_factory.mktemp("contract")
    (d / "marks").mkdir()
    cv2.imwrite(str(d / "marks" / "nova.png"), generate_mark("NOVA", 11))
    for f in ("Tropicana-Apple-Juice.jpg", "Oatly-Oat-Milk.jpg"):
        shutil.copy(FIXTURES / "products" / f, d / f)
    shutil.copy(FIXTURES / "faces" / "obama-enrol.jpg", d / "obama.jpg")
    doc = {
        "brands": [{"id": "nova", "name": "Nova", "marks": ["marks/nova.png"]},
                   {"id": "tropicana", "name": "Tropicana"}, {"id": "oatly", "name": "Oatly"}],
        "products": [{"id": "tropicana-apple", "brand": "tropicana", "name": "Tropicana Apple Juice",
                      "images": ["Tropicana-Apple-Juice.jpg"], "msrp": 3.1, "currency": "USD"},
                     {"id": "oatly-oat-milk", "brand": "oatly", "name": "Oatly Oat Milk",
                      "images": ["Oatly-Oat-Milk.jpg"], "msrp": 2.5, "currency": "USD"}],
        "persons": [{"id": "obama", "name": "Barack Obama", "photos": ["obama.jpg"]}],
        "sellers": [{"id": "shop", "name": "Shop"}],
        "rooms": [{"id": "room", "seller": "shop", "source": "room.mp4"}],
    }
    write_clip(d / "broadcast.mp4", broadcast_frames(), 10)
    doc["broadcasts"] = [{"id": "show", "owner": "shop", "recordings": ["broadcast.mp4"]}]
    (d / "nova-codes.txt").write_text("NV0001\nNV0002\n")
    doc["code_schemes"] = [{"id": "nova-tags", "brand": "nova", "kind": "url",
                            "template": "https://verify.nova.example/{serial}", "issued": ["nova-codes.txt"]}]
    (d / "registry.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_registry(d / "registry.yaml")


def broadcast_frames(seconds: float = 10.0, fps: int = 10):
    """A registered recording: a scene that moves all the time (every moment of it looks different)."""
    yield from pattern_frames(int(seconds * fps), size=(640, 360), fps=fps)


@pytest.fixture(scope="module")
def detectors(registry, tmp_path_factory):
    settings = Settings().with_overrides({"detectors.screen_text.enabled": True, "detectors.speech.enabled": True,
                                          "store.data_dir": tmp_path_factory.mktemp("contract-data")})
    built = {d.name: d for d in build_detectors(registry, settings)}
    assert set(built) == {e.name for e in TABLE}, "the registry should give every detector material"
    return built


def card(text: str) -> np.ndarray:
    img = np.full((720, 1280, 3), (70, 90, 110), np.uint8)
    cv2.rectangle(img, (300, 250), (980, 420), (245, 245, 245), -1)
    cv2.putText(img, text, (330, 360), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 5, cv2.LINE_AA)
    return img


def mark_room():
    bg = generate_background(21, 1280, 720)
    for k in range(3):
        img = bg.copy()
        draw_host(img, k * 0.5)
        yield place_mark(img, product_card(generate_mark("NOVA", 11)), center=(900, 380), scale=0.25)[0]


def scenes() -> dict[str, list]:
    """Per room: the items of one kind of sighting (each room fresh, so per-room state starts empty)."""
    pack = cv2.imread(str(FIXTURES / "products" / "Tropicana-Apple-Juice.jpg"))
    stranger = cv2.imread(str(STRANGER if STRANGER.is_file() else FIXTURES / "products" / "Bravo-Orange-Juice.jpg"))
    portrait = cv2.imread(str(FIXTURES / "faces" / "obama-live.jpg"))
    frames = {"mark-room": list(mark_room()), "pack-room": list(held_up(pack)),
              "stranger-room": list(held_up(stranger)), "face-room": list(shown_large(portrait)),
              "card-room": [card("REPLICA 1:1 $25")] * 2,
              "code-room": list(held_up(tag(generate_mark("NOVA", 11), "https://verify.nova.example/NV0001")))}
    items: dict[str, list] = {room: [Frame(room, i * 0.5, img) for i, img in enumerate(imgs)]
                              for room, imgs in frames.items()}
    # the broadcast itself: a room playing the registered recording (twice: a loop), and a still picture
    recording = list(broadcast_frames())[::5]  # 2 a second
    items["replay-room"] = [Frame("replay-room", i * 0.5, img) for i, img in enumerate(recording + recording)]
    items["still-room"] = [Frame("still-room", i * 2.0, card("BACK SOON")) for i in range(18)]
    items["chat-room"] = [TextLine("chat-room", 1.0, "chat", "AAA r3plica 1:1 only $25 today", role="seller"),
                          TextLine("chat-room", 2.0, "chat", "is this fake??", role="viewer", author="ana"),
                          # no lexicon term: the learned reader's (a review, for a person to read)
                          TextLine("chat-room", 3.0, "chat", "made in the same workshop as the boutique ones, nobody "
                                   "will ever know, forty bucks", role="seller")]
    if SPEECH.is_file():
        from livewarden.media.audio import audio_chunks

        items["speech-room"] = list(audio_chunks("speech-room", SPEECH))
    return items


def run(detector, room: str, items: list) -> list[Signal]:
    state = detector.open_room(room)
    try:
        return [s for item in items if isinstance(item, detector.reads) for s in state.process(item)]
    finally:
        state.close()


@pytest.fixture(scope="module")
def outputs(detectors):
    """Every detector over every room, one room after the other: {name: {room: signals}}."""
    items = scenes()
    return {name: {room: run(d, room, its) for room, its in items.items()} for name, d in detectors.items()}


NAMES = [e.name for e in TABLE]


@pytest.mark.parametrize("name", NAMES)
def test_kinds_declared_are_the_kinds_emitted(name, outputs, detectors):
    if (name == "speech" and not SPEECH.is_file()) or (name == "products" and not STRANGER.is_file()):
        pytest.skip(f"reference data not found at {DATA} (../shared/data beside the repo)")
    emitted = {s.kind for signals in outputs[name].values() for s in signals}
    declared = set(detectors[name].kinds)
    assert detectors[name].kinds == BY_NAME[name].kinds
    assert emitted <= declared, f"{name} emitted undeclared kinds {emitted - declared}"
    assert declared - UNCOVERED.get(name, set()) <= emitted, f"{name} never emitted {declared - emitted}"
    assert all(s.detector == name for signals in outputs[name].values() for s in signals)


@pytest.mark.parametrize("name", NAMES)
def test_rooms_side_by_side_on_two_threads_answer_as_one_after_the_other(name, outputs, detectors):
    items = {room: its for room, its in scenes().items() if any(isinstance(i, detectors[name].reads) for i in its)}
    results: dict[str, list[Signal]] = {}

    def go(room: str) -> None:
        results[room] = run(detectors[name], room, items[room])

    threads = [threading.Thread(target=go, args=(room,)) for room in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    seen = {room: sorted({(s.kind, s.subject) for s in signals}) for room, signals in results.items()}
    assert seen == {room: sorted({(s.kind, s.subject) for s in outputs[name][room]}) for room in items}


def retained(obj, depth: int = 0, seen: set | None = None) -> int:
    """Bytes of numpy arrays and items of containers a room object still holds (not its shared detector)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen or depth > 4:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return len(obj) + sum(retained(v, depth + 1, seen) for v in obj.values())
    if isinstance(obj, (list, tuple, set)):
        return len(obj) + sum(retained(v, depth + 1, seen) for v in obj)
    if hasattr(obj, "__dict__") and depth < 4 and not callable(obj):
        return sum(retained(v, depth + 1, seen) for k, v in vars(obj).items() if k not in ("detector", "settings"))
    return 0


@pytest.mark.parametrize("name", NAMES)
def test_close_drops_the_room_state(name, detectors):
    detector = detectors[name]
    items = [i for its in scenes().values() for i in its if isinstance(i, detector.reads)][:6]
    state = detector.open_room("closing-room")
    for item in items:
        state.process(item)
    if name in ("marks", "products", "faces"):  # (the check can see state: these hold pictures of the room)
        assert retained(state) > 0
    state.close()
    assert retained(state) == 0, f"{name}: {retained(state)} bytes/items kept after close"


@pytest.mark.parametrize("name", NAMES)
def test_nothing_is_said_about_a_black_frame_an_empty_line_or_silence(name, detectors):
    detector = detectors[name]
    nothing = {Frame: [Frame("dark", t, np.zeros((720, 1280, 3), np.uint8)) for t in (0.0, 0.5, 1.0)],
               TextLine: [TextLine("dark", 1.0, "chat", ""), TextLine("dark", 2.0, "chat", "   ")],
               AudioChunk: [AudioChunk("dark", 0.0, np.zeros(16000 * 5, np.float32), (0.0, 5.0))]}
    assert run(detector, "dark", nothing[detector.reads]) == []


@pytest.mark.parametrize("name", NAMES)
def test_signals_cross_a_bus_as_json(name, outputs):
    for signals in outputs[name].values():
        for signal in signals:
            message = json.loads(json.dumps(signal.to_message()))
            back = Signal.from_message(message)
            assert (back.key, back.kind, back.subject, back.evidence) == (signal.key, signal.kind, signal.subject,
                                                                          json.loads(json.dumps(signal.evidence)))


def test_a_rule_reading_a_kind_no_detector_emits_is_refused_naming_file_and_line(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - id: ok\n    signal: mark\n  - id: holo\n    signal: hologram\n")
    with pytest.raises(RegistryError, match=r"rules\.yaml:5: rules\[1\]\.signal: no detector emits signals of kind "
                                            r"'hologram'"):
        load_rules(rules)
