"""The broadcast itself: PDQ hashes as Meta's, loops and frozen pictures found (and not where there are none),
the bank of registered broadcasts (lookups, persistence, a rebuild while looking up), bad recordings refused."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from livewarden.detectors import hash_bank
from livewarden.detectors.broadcast import BroadcastDetector, bank_recording, hash_recording
from livewarden.detectors.frame_hash import MATCH_DISTANCE, distance, distances, hash_image, variants
from livewarden.detectors.hash_bank import BankError, BroadcastBank
from livewarden.detectors.loops import FrozenWatch, SelfMatcher
from livewarden.detectors.keyframes import KeyframeBank
from livewarden.errors import InputError
from livewarden.model import Frame
from livewarden.testing.clips import drifting_shapes, pattern_frames, sampled_frames, write_clip
from livewarden.testing.restreams import banner, crop, mirror, picture_in_picture

from ..conftest import DATA

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MOVING_CLIP = DATA / "video" / "dev" / "liveportrait_driving_d3.mp4"  # a talking head, 11.8 s
STILL_CLIP = DATA / "video" / "dev" / "liveportrait_driving_d19.mp4"  # a host who hardly moves, 8.3 s


def test_pdq_is_meta_pdq_bit_for_bit():
    image = cv2.imread(str(FIXTURES / "pdq" / "bridge-1-original.jpg"))
    full = hash_image(image, scaled=False)
    assert full.hex() == "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    assert full.quality == 100
    # hashed at the working width, as every frame here is: far inside the match distance of the full hash
    assert distance(hash_image(image).bits, full.bits) <= 16
    # the mirror variant is the hash of the mirrored picture, bit for bit
    assert variants(image)["mirror"].hex() == hash_image(np.ascontiguousarray(image[:, ::-1])).hex()
    assert not hash_image(np.zeros((360, 640, 3), np.uint8)).usable  # a black frame has quality 0


def moving(seconds: float, seed: int = 0) -> list[np.ndarray]:
    """A generated scene in constant motion that never repeats, 2 frames a second: big shapes drifting on
    random paths over a background whose light changes."""
    return list(drifting_shapes(int(seconds * 2), seed=seed, fps=2))


def run_matcher(sequence: list[tuple[float, np.ndarray]]):
    matcher, found = SelfMatcher(), []
    for t, image in sequence:
        loop = matcher.add(t, hash_image(image), image)
        if loop is not None:
            found.append((t, loop))
    return matcher, found


def looped(frames: list[tuple[float, np.ndarray]], times: int, gap: float = 0.5):
    period = frames[-1][0] + gap
    return [(t + k * period, im) for k in range(times) for t, im in frames], period


def test_a_generated_loop_is_found_within_a_period_with_its_period():
    once = [(i * 0.5, im) for i, im in enumerate(moving(10.0))]
    sequence, period = looped(once, 3)
    matcher, found = run_matcher(sequence)
    assert found, "a clip played three times is a loop"
    t, loop = found[0]
    assert t <= 2 * period + 10  # within one period (+ the window) of the first repeat
    assert abs(loop.period - period) <= 0.5 and loop.ratio >= 0.8
    assert matcher.earlier_thumb(t - loop.period)  # the evidence can show the earlier frame
    assert matcher.memory_bytes < 2_000_000  # an hour's ring per room


def test_a_moving_scene_that_never_repeats_and_a_clip_played_back_and_forth_are_not_loops():
    once = [(i * 0.5, im) for i, im in enumerate(moving(40.0))]
    assert run_matcher(once)[1] == []
    forth = [(i * 0.5, im) for i, im in enumerate(moving(12.0))]
    end = forth[-1][0]
    back = [(2 * end + 0.5 - t, im) for t, im in reversed(forth)]
    assert run_matcher(forth + back)[1] == []


@pytest.mark.skipif(not MOVING_CLIP.is_file(), reason=f"reference data not found at {DATA}")
def test_real_talking_heads_looped_are_loops_and_played_once_are_not():
    for clip in (MOVING_CLIP, STILL_CLIP):
        once = sampled_frames(clip)
        sequence, period = looped(once, 3)
        found = run_matcher(sequence)[1]
        assert found and found[0][0] <= 2 * period + 10, clip.name
        assert abs(found[0][1].period - period) <= 1.0
        assert run_matcher(once)[1] == []
        end = once[-1][0]
        assert run_matcher(once + [(2 * end + 0.5 - t, im) for t, im in reversed(once)])[1] == [], clip.name


def test_a_re_encoded_loop_is_a_loop(tmp_path: Path):
    frames = moving(10.0)
    write_clip(tmp_path / "again.mp4", (f for f in frames for _ in range(5)), 10, crf=34)
    again = [im for _, im in sampled_frames(tmp_path / "again.mp4")]
    once = [(i * 0.5, im) for i, im in enumerate(frames)]
    second = [(10.5 + i * 0.5, im) for i, im in enumerate(again)]
    assert run_matcher(once + second + [(21.0 + t, im) for t, im in once])[1]


def test_frozen_needs_the_whole_time_and_ignores_a_ticking_clock():
    watch = FrozenWatch(after_s=30.0)
    still = np.full((360, 640, 3), 90, np.uint8)
    cv2.rectangle(still, (100, 100), (400, 300), (200, 200, 200), -1)
    results = []
    for i in range(40):
        image = still.copy()
        cv2.putText(image, f"{i:02d}:00", (540, 340), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1)
        results.append(watch.add(i * 1.0, image))
    assert results[29] is None and results[30] == pytest.approx(30.0) and results[39] == pytest.approx(39.0)
    live = FrozenWatch(after_s=30.0)
    assert all(live.add(i * 0.5, im) is None for i, im in enumerate(moving(40.0)))


def test_the_bank_finds_a_broadcasts_frames_and_only_them(tmp_path: Path):
    bank = BroadcastBank()
    show = np.stack([hash_image(im).bits for im in moving(20.0)])
    other = np.stack([hash_image(im).bits for im in moving(20.0, seed=1)])
    bank.add("show", np.arange(len(show)) * 0.5, show)
    found = bank.lookup(show[10:12])
    assert found[0][0].broadcast == "show" and found[0][0].time == pytest.approx(5.0) and found[0][0].distance == 0
    rng = np.random.default_rng(3)
    strangers = rng.integers(0, 256, (50, 32), dtype=np.uint8)
    assert all(not m for m in bank.lookup(strangers))
    bank.add("other", np.arange(len(other)) * 0.5, other)
    bank.save(tmp_path / "bank")
    again = BroadcastBank.load(tmp_path / "bank")
    assert len(again) == len(bank) and again.lookup(other[3:4])[0][0].broadcast == "other"
    (tmp_path / "bank" / "bank.faiss").write_bytes(b"not an index")  # rebuilt from the hashes, with a warning
    assert BroadcastBank.load(tmp_path / "bank").lookup(show[:1])[0][0].broadcast == "show"
    (tmp_path / "bank" / "bank.npz").write_bytes(b"truncated")
    with pytest.raises(BankError, match="bank.npz"):
        BroadcastBank.load(tmp_path / "bank")


def test_a_rebuild_swaps_in_a_trained_index_while_lookups_and_adds_go_on(monkeypatch):
    monkeypatch.setattr(hash_bank, "IVF_FROM", 5_000)
    rng = np.random.default_rng(7)
    bank = BroadcastBank()
    bulk = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    bank.add("bulk", np.zeros(len(bulk)), bulk)
    show = np.stack([hash_image(im).bits for im in moving(10.0)])
    stop, errors, looked = threading.Event(), [], [0]

    def look():
        while not stop.is_set():
            try:
                assert bank.lookup(bulk[:4])[0][0].broadcast == "bulk"
                looked[0] += 1
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    reader = threading.Thread(target=look)
    reader.start()
    thread = bank.rebuild()
    bank.add("show", np.arange(len(show)) * 0.5, show)  # banked while the new index trains
    thread.join(60)
    stop.set()
    reader.join(10)
    assert not errors and looked[0] > 0
    assert "IVF" in type(bank._index).__name__
    assert bank.lookup(show[5:6])[0][0].broadcast == "show"  # nothing banked during the rebuild was lost


def test_a_corrupt_or_empty_recording_is_refused_naming_it(tmp_path: Path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)
    with pytest.raises(InputError, match="broken.mp4"):
        hash_recording(bad)
    good = tmp_path / "good.mp4"
    write_clip(good, pattern_frames(30, size=(320, 240), fps=10), 10)
    arrays = hash_recording(good)
    assert len(arrays["times"]) == 6 and arrays["whole"].shape == (6, 32)
    assert (distances(arrays["whole"][0], arrays["whole"]) <= MATCH_DISTANCE).sum() >= 1


@pytest.mark.skipif(not MOVING_CLIP.is_file(), reason=f"reference data not found at {DATA}")
def test_cropped_bannered_and_inset_restreams_are_found_by_keyframes_and_another_host_is_not(tmp_path: Path):
    """What a frame hash cannot place (measured 65-122 bits away) the keyframes' local features do, at the
    right moment of the recording; a different talking head under the same banner matches nothing."""
    bank, keyframes = BroadcastBank(), KeyframeBank()
    bank_recording(bank, "show", MOVING_CLIP, keyframes=keyframes)
    detector = BroadcastDetector(bank, {}, keyframes)
    frames = sampled_frames(MOVING_CLIP, 2.0)
    times, images = [t for t, _ in frames], [im for _, im in frames]
    for name, shown in (("crop", crop(images, 0.10)), ("banner", banner(images)),
                        ("inset, mirrored", picture_in_picture(mirror(images), 0.7, seed=2))):
        room = detector.open_room(name)
        matches = [s for t, im in zip(times, shown) for s in room.process(Frame(name, t, im))
                   if s.kind == "broadcast_match"]
        assert matches and {m.subject for m in matches} == {"show"}, name
        if name != "banner":  # (a banner leaves the centre hash within reach on some frames)
            assert all(m.evidence["variant"].startswith("keyframe") for m in matches), name
        assert abs(matches[-1].evidence["offset_s"]) <= 2.5, name  # room time and recording time agree
    stranger = detector.open_room("stranger")
    other = [im for _, im in sampled_frames(STILL_CLIP, 2.0)]
    assert not [s for i, im in enumerate(banner(other)) for s in stranger.process(Frame("stranger", i * 0.5, im))
                if s.kind == "broadcast_match"]
