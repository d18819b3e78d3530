"""Fraud language end to end: chat through the real ingest paths, speech and on-screen text into alerts.

The rooms' video is down on purpose in the chat tests: chat must keep flowing.
Product images are real pack shots (tests/fixtures/products, MIT); the speech is
a real recording from ../shared/data/speech (skipped with its reason if absent).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from livewarden.cases import CaseStore
from livewarden.cli import app
from livewarden.detectors.language import LanguageDetector
from livewarden.media.chat import JsonlChatSource
from livewarden.media.chat.http import HttpChatIngest
from livewarden.model import TextLine
from livewarden.config import Settings
from livewarden.policy.prices import attribute_price
from livewarden.registry import load_registry
from livewarden.runtime.build import System

from ..conftest import DATA

PACKS = Path(__file__).resolve().parents[1] / "fixtures" / "products"
SPEECH = DATA / "speech" / "dev" / "en_jfk.flac"


def write_shop(d: Path, video: str = "down.mp4") -> Path:
    """Two rooms of an unauthorized seller listing two products (USD MSRPs); their video is `video`."""
    (d / "images").mkdir(exist_ok=True)
    for name in ("Oatly-Oat-Milk.jpg", "Tropicana-Apple-Juice.jpg"):
        shutil.copy(PACKS / name, d / "images" / name)
    registry = {
        "brands": [{"id": "nova", "name": "Nova", "price_floor": 0.5}, {"id": "koru", "name": "Koru"}],
        "products": [
            {"id": "nova-earbuds", "brand": "nova", "name": "Nova Earbuds Pro", "images": ["images/Oatly-Oat-Milk.jpg"],
             "msrp": 129, "currency": "USD"},
            {"id": "koru-bag", "brand": "koru", "name": "Koru Leather Tote", "images": ["images/Tropicana-Apple-Juice.jpg"],
             "msrp": 450, "currency": "USD"},
        ],
        "sellers": [{"id": "bargain", "name": "Bargain"}],
        "rooms": [
            {"id": "deals", "seller": "bargain", "source": video,
             "listings": [{"product": "nova-earbuds", "price": 119}, {"product": "koru-bag", "price": 420}]},
            {"id": "outlet", "seller": "bargain", "source": video},
        ],
    }
    path = d / "registry.yaml"
    path.write_text(yaml.safe_dump(registry, sort_keys=False, allow_unicode=True))
    return path


def message(room: str, role: str, text: str, author: str = "") -> str:
    return json.dumps({"room": room, "time": time.time(), "author": author or role, "role": role, "text": text},
                      ensure_ascii=False)


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def chat_system(registry, data_dir: Path, *detectors, **runtime) -> System:
    """Chat (and whatever readers are given) only: the language detector, live timing unless told otherwise."""
    settings = Settings().with_overrides({f"runtime.{k}": v for k, v in {"realtime": True, **runtime}.items()})
    return System.of(registry, [LanguageDetector(registry), *detectors], data_dir=data_dir, settings=settings)


def test_chat_from_a_file_and_over_http_raises_language_and_price_alerts_while_video_is_down(tmp_path: Path):
    registry = load_registry(write_shop(tmp_path))
    system = chat_system(registry, tmp_path / "data")
    store, pipeline = system.store, system.pipeline()
    feed = tmp_path / "chat.jsonl"
    feed.write_text("")
    pipeline.add_chat(lambda on_message, on_error: JsonlChatSource(feed, on_message, on_error, follow=True))
    pipeline.add_chat(lambda on_message, on_error: HttpChatIngest(on_message, on_error))
    pipeline.start()
    try:
        lines = [
            message("deals", "viewer", "is this fake?", "ana"),
            message("deals", "seller", "100% authentic, not fake, 假一赔十"),  # an authenticity claim, not an admission
            message("deals", "seller", "Nova Earbuds Pro at the listed $119, free shipping"),  # a normal price
            message("deals", "seller", "AAA r3plica earbuds, same factory as the original!"),
            message("deals", "viewer", "wait is it real??", "bo"),
            message("deals", "seller", "today only $19.99 for the Nova Earbuds Pro"),
            message("deals", "viewer", "looks fake to me", "cy"),
            message("deals", "viewer", "careful guys, these are fakes", "di"),
        ]
        with feed.open("a") as f:
            f.write("\n".join(lines) + "\n")
        http = next(s for s in pipeline.chat_sources if isinstance(s, HttpChatIngest))
        answer = httpx.post(f"{http.url}/chat", content="\n".join([
            message("outlet", "moderator", "ｒｅｐ 1:1 bags in stock, DM me"),
            '{"room": "outlet", "text": "no time or author"}',
        ]))
        assert answer.status_code == 422 and answer.json()["accepted"] == 1  # the bad item is named, the good kept
        alerts = wait_for(lambda: {(a.room_id, a.rule): a for a in store.alerts()} if len(store.alerts()) >= 4 else None)
    finally:
        pipeline.stop()
    assert alerts is not None, [(a.room_id, a.rule) for a in store.alerts()]
    assert set(alerts) == {("deals", "counterfeit_language"), ("deals", "price_anomaly"),
                           ("deals", "viewer_fake_concern"), ("outlet", "counterfeit_language")}
    offer = alerts[("deals", "counterfeit_language")]
    assert offer.severity == "red_flag" and offer.subject == "bargain"
    evidence = offer.signals[0]["evidence"]
    assert evidence["source"] == "chat" and evidence["role"] == "seller"
    assert evidence["span"] in "AAA r3plica earbuds, same factory as the original!" and evidence["normalized"]
    price = alerts[("deals", "price_anomaly")]
    assert price.subject == "nova-earbuds" and price.severity == "red_flag"
    assert price.signals[0]["evidence"]["span"] == "$19.99" and price.signals[0]["evidence"]["floor"] == 0.5
    assert alerts[("deals", "viewer_fake_concern")].severity == "review"  # viewers suspect; they do not sell
    disguised = alerts[("outlet", "counterfeit_language")].signals[0]["evidence"]
    assert disguised["span"].startswith("ｒｅｐ") and disguised["role"] == "moderator"
    # the video never came up, and said so; chat went on regardless
    assert all(pipeline.rooms[r].error for r in ("deals", "outlet"))
    assert pipeline.rooms["deals"].chat_messages == len(lines)
    transcript = pipeline.transcript.lines("deals")
    assert [t["text"] for t in transcript] == [json.loads(x)["text"] for x in lines]
    claim = transcript[1]
    assert not claim["offer"] and all(f.get("negated_by") for f in claim["flags"])
    [low] = transcript[5]["prices"]  # the impossible price is marked in the transcript too
    assert low["span"] == "$19.99" and low["product"] == "nova-earbuds" and low["ratio"] < low["floor"]
    assert transcript[2]["prices"][0]["ratio"] > 0.9  # the listed price, compared and fine


def test_a_price_is_compared_with_the_product_on_camera_then_named_then_cheapest_listed(tmp_path: Path):
    registry = load_registry(write_shop(tmp_path))
    """The detector hears a price; the policy decides which product it is for (`attribute_price`)."""
    on_camera: list[str] = []
    language = LanguageDetector(registry)

    def price(text: str, room: str = "deals") -> dict | None:
        [stated] = [s for s in language.read(TextLine(room, 1.0, "speech", text)) if s.kind == "stated_price"]
        found = attribute_price(registry, stated, list(on_camera))
        return found.evidence | {"product": found.subject} if found else None

    assert price("just $99 today")["product"] == "nova-earbuds"  # the cheapest listed: $99 is 0.77 of its MSRP
    assert price("the Koru Leather Tote for $99")["product"] == "koru-bag"  # named
    on_camera.append("koru-bag")
    assert price("just $99 today")["product_from"] == "on camera"
    assert price("chỉ 99k đ") is None  # VND: no exchange rates, no comparison
    assert price("just $99", room="outlet")["product_from"] == "on camera"
    on_camera.clear()
    assert price("just $99", room="outlet") is None  # nothing listed, nothing on camera: no product to compare


def test_a_line_typed_while_a_product_was_on_camera_finds_it_after_later_frames_were_analysed():
    """Chat arrives late: frames after the line's stream time may already have been analysed (the demo's
    price line was compared with the cheapest listed product instead of the juice held up)."""
    from livewarden.model import Signal
    from livewarden.policy.timeline import Timeline

    timeline = Timeline(gap_s=3.0)
    for t in (1.0, 2.0, 3.0, 4.0, 5.0):
        timeline.observe(Signal("r", t, "product", "juice", 0.9, "products"))
    assert timeline.seen("r", "product", 4.0) == ["juice"]  # inside the span
    assert timeline.seen("r", "product", 7.5) == ["juice"] and timeline.seen("r", "product", 0.0) == ["juice"]
    assert timeline.seen("r", "product", 8.5) == [] and timeline.seen("r", "product", -2.5) == []


def test_viewer_lines_never_accuse_the_seller(tmp_path: Path):
    registry = load_registry(write_shop(tmp_path))
    language = LanguageDetector(registry)
    for text in ("selling AAA replica too, DM me", "is this a replica?", "hàng fake à?", "这是高仿吗"):
        signals = language.read(TextLine("deals", 1.0, "chat", text, role="viewer"))
        assert [s.kind for s in signals] == ["text_line", "fake_concern"], text
    signals = language.read(TextLine("deals", 1.0, "chat", "hello, what size is this?", role="viewer"))
    assert [s.kind for s in signals] == ["text_line"]


def card_clip(path: Path, text: str, seconds: float = 6.0, fps: int = 10) -> None:
    """A plain room with a card held up from 1 s to 5 s (text drawn as a seller would write it)."""
    from livewarden.testing.clips import write_clip

    rng = np.random.default_rng(3)
    base = np.full((720, 1280, 3), (70, 90, 110), np.uint8)
    frames = []
    for i in range(int(seconds * fps)):
        img = base.copy()
        img[600:720] = rng.integers(40, 60, (120, 1280, 3), dtype=np.uint8)  # a little noise so frames differ
        if 1.0 <= i / fps < 5.0:
            cv2.rectangle(img, (300, 250), (980, 420), (245, 245, 245), -1)
            cv2.putText(img, text, (330, 360), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (20, 20, 20), 5, cv2.LINE_AA)
        frames.append(img)
    write_clip(path, iter(frames), fps)


def test_scan_reads_a_card_and_the_speech_and_reports_the_flagged_spans(tmp_path: Path):
    if not SPEECH.is_file():
        pytest.skip(f"speech recording not found at {SPEECH} (../shared/data beside the repo)")
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg not installed (scripts/setup.sh installs it)")
    registry = write_shop(tmp_path)
    card_clip(tmp_path / "silent.mp4", "REPLICA 1:1 $25")
    clip = tmp_path / "room.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "silent.mp4"), "-i", str(SPEECH),
                    "-c:v", "copy", "-c:a", "aac", "-shortest", str(clip)], check=True)
    result = CliRunner().invoke(app, ["scan", str(clip), "--room", "deals", "--registry", str(registry),
                                      "--out", str(tmp_path / "scan")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "scan" / "report.json").read_text())
    assert report["speech"] == "transcribed"
    spoken = " ".join(t["text"] for t in report["transcript"] if t["source"] == "speech").lower()
    assert "fellow americans" in spoken  # the first six seconds of the recording
    cards = [t for t in report["transcript"] if t["source"] == "ocr" and t["offer"]]
    assert cards, [t for t in report["transcript"] if t["source"] == "ocr"]  # the card is read (a read may differ
    for card in cards:  # by a character from the last, so the same card can make more than one line)
        assert 1.0 <= card["time"] < 5.0 and any("REPLICA" in f["span"].upper() for f in card["flags"])
    rules = {(f["rule"], f["subject"]) for f in report["findings"]}
    assert ("counterfeit_language", "bargain") in rules and ("price_anomaly", "nova-earbuds") in rules
    finding = next(f for f in report["findings"] if f["rule"] == "counterfeit_language")
    assert any(p.endswith("_crop.jpg") for p in finding["evidence"])  # the card itself, cropped from the frame
    assert "REPLICA" in result.output and "of the MSRP of nova-earbuds" in result.output


def test_scan_of_a_clip_with_chinese_speech_gives_a_chinese_transcript_with_the_offer_flagged(tmp_path: Path):
    """The seller says "这款包是高仿的，一比一复刻…" (livewarden.testing.voices: synthetic Mandarin) in a room that
    declares Chinese: Whisper base hears it in 5 s windows, the packaged lexicon flags it."""
    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg not installed (scripts/setup.sh installs it)")
    from livewarden.media.audio import RATE, load_audio
    from livewarden.testing.voices import ZH_OFFER, with_sound

    silence = np.zeros(RATE, np.float32)
    clip = with_sound(np.concatenate([silence, load_audio(ZH_OFFER), silence, silence, silence]), tmp_path / "zh.mp4")
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump({"sellers": [{"id": "bargain", "name": "Bargain"}],
                                        "rooms": [{"id": "zh-room", "seller": "bargain", "source": str(clip),
                                                   "languages": ["zh"]}]}))
    result = CliRunner().invoke(app, ["scan", str(clip), "--room", "zh-room", "--registry", str(registry),
                                      "--no-ocr", "--out", str(tmp_path / "scan")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "scan" / "report.json").read_text())
    spoken = [t for t in report["transcript"] if t["source"] == "speech"]
    assert spoken and all(t["language"] == "zh" for t in spoken), spoken
    assert sum("\u4e00" <= c <= "\u9fff" for t in spoken for c in t["text"]) >= 10, spoken  # written in Chinese
    flagged = [t for t in spoken if t["offer"]]
    assert flagged and 0.5 <= flagged[0]["time"] <= 2.0, spoken  # said 1 s in
    terms = {f["term"] for t in flagged for f in t["flags"]}
    assert terms & {"gaofang", "yibiyi", "fuke", "fuke_top"}, flagged
    finding = next(f for f in report["findings"] if f["rule"] == "counterfeit_language")
    assert finding["subject"] == "bargain" and finding["signals"][0]["detector"] == "speech"
    assert "[red_flag] counterfeit_language bargain" in result.output  # the severity printed, not eaten as markup


def test_words_command_shows_terms_negations_prices_and_the_verdict(tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(app, ["words", "AAA r3plica 1:1 only $25"])
    assert result.exit_code == 0 and "'AAA r3plica'" in result.output and "$25' = 25 USD" in result.output
    assert "OFFERS COUNTERFEITS" in result.output
    result = runner.invoke(app, ["words", "không phải hàng giả đâu, hàng chính hãng"])
    assert result.exit_code == 0 and "negated by" in result.output and "not an offer" in result.output
    extra = tmp_path / "mine.yaml"  # a user's own term, no code
    extra.write_text("lang: en\nterms:\n  - id: ghost_stock\n    weight: 0.9\n    variants: [ghost stock]\n")
    result = runner.invoke(app, ["words", "ghost stock bags, dm me", "--lexicon", str(extra)])
    assert result.exit_code == 0 and "en/ghost_stock" in result.output and "OFFERS" in result.output
    extra.write_text("lang: en\nterms:\n  - id: broken\n    weight: 3\n    variants: [x]\n")
    result = runner.invoke(app, ["words", "x", "--lexicon", str(extra)])
    assert result.exit_code == 2 and "mine.yaml:4: terms[0].weight" in result.output and "weight" in result.output


def test_captions_for_chinese_and_vietnamese_speech_come_in_over_the_chat_feeds(tmp_path: Path):
    """No offline zh/vi speech model: a caption/ASR stream is a feed with source "speech"."""
    from livewarden.media.chat import ChatFormatError, parse_message

    registry = load_registry(write_shop(tmp_path))
    system = chat_system(registry, tmp_path / "data")
    store, pipeline = system.store, system.pipeline()
    pipeline.add_chat(lambda on_message, on_error: HttpChatIngest(on_message, on_error))
    pipeline.start()
    try:
        http = pipeline.chat_sources[0]
        caption = {"room": "outlet", "time": time.time(), "author": "asr", "source": "speech",
                   "text": "家人们这款是高仿的，跟专柜一模一样"}
        assert httpx.post(f"{http.url}/chat", json=caption).status_code == 202
        alerts = wait_for(lambda: store.alerts("outlet"))
    finally:
        pipeline.stop()
    [alert] = alerts
    evidence = alert.signals[0]["evidence"]
    assert alert.rule == "counterfeit_language" and evidence["source"] == "speech" and evidence["role"] == "seller"
    assert evidence["span"] == "高仿"
    with pytest.raises(ChatFormatError, match="source"):
        parse_message({**caption, "source": "radio"}, "feed")


def test_screen_text_is_read_at_most_once_a_second_per_room(tmp_path: Path):
    """OCR costs ~0.5 s a frame: each room is read once per second of stream time at most, rooms independently."""
    from livewarden.detectors.ocr import TextReader
    from livewarden.detectors.screen_text import ScreenTextDetector
    from livewarden.model import Frame

    class CountingReader(TextReader):
        reads = 0

        def read(self, image):
            CountingReader.reads += 1
            return super().read(image)

    registry = load_registry(write_shop(tmp_path))
    card_clip(tmp_path / "card.mp4", "REPLICA 1:1")
    import av

    with av.open(str(tmp_path / "card.mp4")) as container:
        image = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)][30]  # the card is up at 3 s
    detector = ScreenTextDetector(CountingReader(), LanguageDetector(registry))
    rooms = {room: detector.open_room(room) for room in ("deals", "outlet")}
    signals = [s for room in rooms for i in range(9)
               for s in rooms[room].process(Frame(room, 3.0 + i * 0.25, image)) if s.kind != "text_line"]
    assert CountingReader.reads == 6  # 2 s of frames at 4 fps: read at 0, 1 and 2 s in each room
    assert {s.room_id for s in signals} == {"deals", "outlet"} and {s.kind for s in signals} == {"counterfeit_talk"}
    assert all(s.evidence["source"] == "ocr" and s.evidence["polygon"] for s in signals)


def test_a_card_still_on_screen_is_one_transcript_line_even_with_speech_in_between():
    from livewarden.registry.schema import Registry
    from livewarden.runtime.transcript import Transcript

    language, transcript = LanguageDetector(Registry()), Transcript()
    for t, source, text in [(1.0, "ocr", "REPLICA 1:1 $25"), (1.5, "speech", "hello everyone"),
                            (2.0, "ocr", "REPLICA 1:1 $25"), (3.0, "ocr", "REPLICA 1:1 $25"),
                            (9.0, "ocr", "REPLICA 1:1 $25")]:  # back after 6 s off screen: a new line
        for signal in language.read(TextLine("r", t, source, text)):
            transcript.observe(signal)
    lines = transcript.lines("r")
    assert [(x["time"], x["source"], x.get("until")) for x in lines] == [
        (1.0, "ocr", 3.0), (1.5, "speech", None), (9.0, "ocr", None)]
    assert lines[0]["offer"] and transcript.flagged(5)[0][1]["time"] == 9.0


def test_watch_takes_chat_from_a_file_a_websocket_and_http_on_the_command_line(tmp_path: Path):
    """`livewarden watch --chat FILE --chat ws://… --chat-http PORT` as a user runs it (a real process), with
    every room's video down: the three feeds alert, and the console lists each feed with its health."""
    import os
    import subprocess
    import sys

    from tests.media.chat.conftest import ChatServer, free_port

    registry = write_shop(tmp_path)
    feed = tmp_path / "chat.jsonl"
    feed.write_text(message("deals", "seller", "AAA r3plica, same factory as the original") + "\n")
    ws_port, http_port = free_port(), free_port()
    chat_server = ChatServer(ws_port, [message("deals", "viewer", f"is this fake?? #{i}", f"v{i}") for i in range(3)]
                             + [message("outlet", "moderator", "super fake bags, mirror quality, ib")])
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "livewarden.cli", "watch", "--registry", str(registry),
                             "--data-dir", str(data), "--chat", str(feed), "--chat", f"ws://127.0.0.1:{ws_port}/chat",
                             "--chat-http", str(http_port), "--duration", "25"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        answer = wait_for(lambda: _post(http_port, message("outlet", "seller", "hàng fake loại 1 giá 199k ib em")), 20)
        assert answer == 202
        alerts = wait_for(lambda: len(CaseStore.at(data).alerts()) >= 3 and CaseStore.at(data).alerts(), 20)
        time.sleep(0.6)  # one more console refresh with every feed's counts
        proc.terminate()  # SIGTERM: the console stops like Ctrl-C and prints the summary
        output, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
        chat_server.stop()
    assert alerts and {(a.room_id, a.rule) for a in alerts} == {
        ("deals", "counterfeit_language"), ("deals", "viewer_fake_concern"), ("outlet", "counterfeit_language")}, output
    assert proc.returncode == 0 and "Traceback" not in output, output
    assert "deals counterfeit_language bargain" in output and "Chat feeds" in output
    assert str(feed) in output and f"ws://127.0.0.1:{ws_port}/chat" in output and f"127.0.0.1:{http_port}" in output
    bad = CliRunner().invoke(app, ["watch", "--registry", str(registry), "--chat", str(tmp_path / "no" / "x.jsonl")])
    assert bad.exit_code == 2 and "chat feed not found" in bad.output


def _post(port: int, body: str) -> int | None:
    try:
        return httpx.post(f"http://127.0.0.1:{port}/chat", content=body, timeout=2).status_code
    except httpx.HTTPError:
        return None  # not listening yet


@pytest.mark.rtmp
def test_live_speech_is_transcribed_from_a_room_streamed_through_nginx_rtmp(tmp_path: Path):
    """`watch --speech`'s path: a room with real speech (AAC) pushed through a real nginx-rtmp server; a
    listener per room transcribes 5 s windows onto the room's stream clock."""
    from livewarden.detectors.speech import SpeechDetector, SpeechTranscriber
    from livewarden.testing.publish import start_publisher
    from livewarden.testing.rtmp_server import RtmpServer

    ok, why = RtmpServer.available()
    if not ok:
        pytest.skip(why)
    if not SPEECH.is_file():
        pytest.skip(f"speech recording not found at {SPEECH} (../shared/data beside the repo)")
    registry = load_registry(write_shop(tmp_path))
    card_clip(tmp_path / "silent.mp4", "NOVA", seconds=11.0)
    clip = tmp_path / "room.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(tmp_path / "silent.mp4"), "-i", str(SPEECH),
                    "-c:v", "copy", "-c:a", "aac", "-shortest", str(clip)], check=True)
    with RtmpServer() as server:
        thread, stop = start_publisher(clip, server.url("deals"))
        live = registry.model_copy(update={"rooms": [registry.room("deals").model_copy(
            update={"source": server.url("deals")})]})
        speech = SpeechDetector(SpeechTranscriber(), LanguageDetector(live))
        pipeline = chat_system(live, tmp_path / "store", speech, realtime=None).pipeline()
        try:
            pipeline.start()
            heard = wait_for(lambda: " ".join(t["text"] for t in pipeline.transcript.lines("deals")
                                              if t["source"] == "speech").lower().count("country") >= 1, 40)
        finally:
            pipeline.stop()
            stop.set()
    lines = [t for t in pipeline.transcript.lines("deals") if t["source"] == "speech"]
    assert heard, lines  # (a listener joining a live stream hears it from when it joined)
    assert pipeline.rooms["deals"].speech_segments == len(lines)
    said = next(t for t in lines if "country" in t["text"].lower())
    assert 3.0 <= said["time"] <= 11.5  # "ask not what your country…" is said 7-9 s into the recording
