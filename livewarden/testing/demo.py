"""`livewarden demo`: six generated rooms streamed through a local RTMP server, watched live.

Room `nova-official` is run by the seller NOVA authorized; room `deal-hunter`
shows the NOVA card too but its seller is not authorized, so only it
must raise `unauthorized_brand`; its card carries a QR whose serial NOVA never issued (`code_invalid`).
Rooms `rerun-shop` and `koru-outlet` hold KORU swing tags with one and the same issued serial: `code_cloned`
in both. Room `juice-bar` lists oat milk but holds up
apple juice from the catalog, so it must raise `unlisted_product`.
Room `copycat` restreams nova-official's live broadcast (registered as `nova-live`), scaled to 480p,
re-encoded and framed by a banner, 3 s behind it: `restreamed_content` and `concurrent_restream`, never
for the original. Room `rerun-shop` plays one recorded 12 s segment over and over: `non_live_content`.
A chat feed (a JSONL file written while the demo runs, followed like a live
feed) adds words: deal-hunter's seller offers a disguised "r3plica",
juice-bar's seller states an impossible price, viewers ask and NOVA's own
seller claims authenticity — only the first two must alert. In room `voice-deals` the seller says the offer
out loud (speech generated with espeak-ng, heard with Whisper tiny.en): `counterfeit_language` from speech.
Everything is generated on first run and cached in the workdir.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from importlib import resources
from pathlib import Path

import cv2
import yaml
from rich.console import Console

from livewarden.assets.marks import generate_mark
from livewarden.testing.codes import tag
from livewarden.testing.scenes import room_frames
from livewarden.config import load_settings
from livewarden.media.chat import JsonlChatSource
from livewarden.testing.clips import write_clip
from livewarden.testing.publish import start_publisher
from livewarden.testing.rtmp_server import RtmpServer
from livewarden.registry import load_registry
from livewarden.runtime.build import build_system
from livewarden.runtime.live_view import print_alert_summary, run_live

ASSETS_VERSION = "6"  # bump when the generated assets change, to regenerate cached copies
FPS = 15  # the pipeline samples 2 a second; fewer frames make the clips quicker to draw
CLIP_SECONDS = 12.0  # the card comes up MARK_ON into every CLIP_SECONDS
MARK_ON = (3.0, 9.0)
SEGMENTS = 4  # a live room's clip is this many segments long and never repeats itself (the host moves on)
RESTREAM_DELAY_S = 3.0  # the copycat's clip starts with this much black: it runs that far behind the original

BRANDS = {"nova": ("NOVA", 11), "koru": ("KORU", 23)}
SELLERS = [
    {"id": "nova-store", "name": "NOVA Official Store", "authorized_brands": ["nova"]},
    {"id": "bargain-king", "name": "Bargain King", "authorized_brands": ["koru"]},
    # a NOVA reseller: it may sell NOVA, not restream NOVA's own broadcast
    {"id": "mirror-mall", "name": "Mirror Mall", "authorized_brands": ["nova"]},
]
PRODUCTS = [  # id, brand, name, pack shot shipped in livewarden/assets/packs, MSRP in USD
    ("oatly-oat-milk", "oatly", "Oatly Oat Milk 1 l", "Oatly-Oat-Milk.jpg", 2.49),
    ("tropicana-apple", "tropicana", "Tropicana Apple Juice 1 l", "Tropicana-Apple-Juice.jpg", 3.10),
]
ROOMS = [  # (room id, seller, what is held up: a brand card or a pack shot, background seed, listed products)
    ("nova-official", "nova-store", "nova", 5, []),
    ("deal-hunter", "bargain-king", "nova", 9, []),
    ("juice-bar", "nova-store", "Tropicana-Apple-Juice.jpg", 13, ["oatly-oat-milk"]),
    ("koru-outlet", "bargain-king", "koru", 29, []),
]
# the brands' traceability codes: issued serials, and the QR each room's card carries (a swing tag)
CODE_SCHEMES = [{"id": f"{b}-tags", "brand": b, "kind": "url", "template": f"https://verify.{b}.example/{{serial}}",
                 "issued": [f"codes/{b}.csv"]} for b in BRANDS]
ISSUED = {"nova": ["NV7K2P9QM4", "NV3H8D6WX2"], "koru": ["KR5T9C2ZP8", "KR8M4Q7VJ3"]}
NEVER_ISSUED, CLONED = "NV9Z9Z9Z9Z", "KR5T9C2ZP8"
CODES = {"deal-hunter": f"https://verify.nova.example/{NEVER_ISSUED}",  # room -> payload of the QR on its card
         "rerun-shop": f"https://verify.koru.example/{CLONED}", "koru-outlet": f"https://verify.koru.example/{CLONED}"}
RESTREAM = ("copycat", "mirror-mall", "nova-official")  # room, seller, the room it restreams
RERUN = ("rerun-shop", "bargain-king", "koru", 17)  # room, seller, its card (authorized), background seed
VOICE = ("voice-deals", "bargain-king", "koru", 31)  # room, seller, its card (authorized), background seed
VOICE_LINE = "okay everyone, these watches are replicas, one to one copies of the original, message me"
VOICE_AT = 2.0  # seconds into each loop the seller says it
BROADCASTS = [{"id": "nova-live", "owner": "nova-store", "title": "NOVA official live", "rooms": ["nova-official"]}]
CHAT = [  # (seconds into each loop, room, role, author, text): replayed into a followed JSONL file
    (2.0, "nova-official", "seller", "nova-store", "Welcome! 100% authentic NOVA, not fake, 假一赔十"),
    (4.0, "deal-hunter", "seller", "bargain-king", "NOVA AAA r3plica 1:1, same factory as the original"),
    (5.0, "deal-hunter", "viewer", "mai", "is this real NOVA??"),
    (6.0, "juice-bar", "seller", "nova-store", "apple juice today only $0.79, last 20 packs!"),
    (7.0, "juice-bar", "viewer", "tuan", "hàng thật không shop?"),
    (8.0, "deal-hunter", "viewer", "li", "这个是正品吗"),
]
# exactly these (room, rule, subject) alerts, and nothing else: a false alert anywhere fails the demo
EXPECT = {("deal-hunter", "unauthorized_brand", "nova"), ("deal-hunter", "counterfeit_language", "bargain-king"),
          ("juice-bar", "unlisted_product", "tropicana-apple"), ("juice-bar", "listing_mismatch", "tropicana-apple"),
          ("juice-bar", "price_anomaly", "tropicana-apple"),
          ("copycat", "restreamed_content", "nova-live"), ("copycat", "concurrent_restream", "nova-official"),
          ("rerun-shop", "non_live_content", "loop"), ("deal-hunter", "code_invalid", f"nova-tags/{NEVER_ISSUED}"),
          ("rerun-shop", "code_cloned", f"koru-tags/{CLONED}"), ("koru-outlet", "code_cloned", f"koru-tags/{CLONED}"),
          ("voice-deals", "counterfeit_language", "bargain-king")}


def prepare_assets(workdir: Path, console: Console) -> Path:
    """Write marks, clips and registry.yaml under `workdir` (once); return the registry path."""
    registry_path = workdir / "registry.yaml"
    stamp = workdir / ".assets-version"
    if registry_path.exists() and stamp.exists() and stamp.read_text() == ASSETS_VERSION:
        return registry_path
    workdir.mkdir(parents=True, exist_ok=True)
    marks = {}
    for brand_id, (text, seed) in BRANDS.items():
        marks[brand_id] = generate_mark(text, seed)
        (workdir / "marks").mkdir(exist_ok=True)
        cv2.imwrite(str(workdir / "marks" / f"{brand_id}.png"), marks[brand_id])
    (workdir / "codes").mkdir(exist_ok=True)
    for brand_id, serials in ISSUED.items():
        (workdir / "codes" / f"{brand_id}.csv").write_text("serial,batch,issued_on\n" + "".join(
            f"{serial},{brand_id.upper()}-B1,2026-11-02\n" for serial in serials))
    (workdir / "packs").mkdir(exist_ok=True)
    packs = resources.files("livewarden.assets") / "packs"
    for *_, image, _msrp in PRODUCTS:
        (workdir / "packs" / image).write_bytes((packs / image).read_bytes())
    jobs = [(workdir, room_id, shown, seed, SEGMENTS * CLIP_SECONDS) for room_id, _s, shown, seed, _l in ROOMS]
    jobs.append((workdir, VOICE[0], VOICE[2], VOICE[3], SEGMENTS * CLIP_SECONDS))
    rerun, _, shown, seed = RERUN
    jobs.append((workdir, rerun, shown, seed, CLIP_SECONDS))  # one segment, written SEGMENTS times
    copycat, _, original = RESTREAM
    with console.status(f"generating {len(jobs) + 1} sample rooms ({SEGMENTS * CLIP_SECONDS:.0f}s of video each)…"):
        with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
            list(pool.map(_write_room, jobs))
        write_clip(workdir / "rooms" / f"{copycat}.mp4", restreamed(workdir / "rooms" / f"{original}.mp4"), FPS,
                   crf=30, gop_seconds=1.0, preset="ultrafast")
        add_voice(workdir / "rooms" / f"{VOICE[0]}.mp4", VOICE_LINE)
    rooms = ROOMS + [(copycat, RESTREAM[1], None, None, []), (rerun, RERUN[1], None, None, []),
                     (VOICE[0], VOICE[1], None, None, [])]
    registry = {
        "brands": [{"id": b, "name": text.title(), "marks": [f"marks/{b}.png"]} for b, (text, _) in BRANDS.items()]
        + [{"id": brand, "name": brand.title()} for _, brand, *_ in PRODUCTS],
        "products": [{"id": pid, "brand": brand, "name": name, "images": [f"packs/{image}"], "msrp": msrp,
                      "currency": "USD"} for pid, brand, name, image, msrp in PRODUCTS],
        "sellers": SELLERS,
        "rooms": [{"id": r, "seller": s, "source": f"rooms/{r}.mp4", "title": f"{s} live",
                   "listings": [{"product": p} for p in listed], **({"languages": ["en"]} if r == VOICE[0] else {})}
                  for r, s, _, _, listed in rooms],
        "broadcasts": BROADCASTS,
        "code_schemes": CODE_SCHEMES,
    }
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    stamp.write_text(ASSETS_VERSION)
    return registry_path


def _write_room(job: tuple) -> None:
    """One generated room's clip (in a worker process: drawing 720p frames is the slow part)."""
    workdir, room_id, shown, seed, seconds = job
    card = generate_mark(*BRANDS[shown]) if shown in BRANDS else cv2.imread(str(workdir / "packs" / shown))
    scale = 0.24 if shown in BRANDS else 0.22
    if room_id in CODES:  # a swing tag: the mark and the unit's QR
        card, scale = tag(card, CODES[room_id]), 0.34
    frames = list(room_frames(card, seconds=seconds, fps=FPS, mark_on=MARK_ON, seed=seed, scale=scale,
                              every=CLIP_SECONDS))
    repeats = round(SEGMENTS * CLIP_SECONDS / seconds)
    write_clip(workdir / "rooms" / f"{room_id}.mp4", (f for _ in range(repeats) for f in frames), FPS,
               gop_seconds=1.0, preset="ultrafast")


def add_voice(clip: Path, line: str) -> None:
    """Give `clip` a sound track: the seller says `line` VOICE_AT into every loop (espeak-ng, Debian's)."""
    import numpy as np

    from livewarden.media.audio import RATE
    from livewarden.testing.voices import espeak, with_sound

    voice = espeak(line)
    track = np.zeros(int(SEGMENTS * CLIP_SECONDS * RATE), np.float32)
    for k in range(SEGMENTS):
        at = int((k * CLIP_SECONDS + VOICE_AT) * RATE)
        track[at:at + voice.size] = voice[:track.size - at]
    with_sound(track, clip, clip)


def restreamed(original: Path):
    """What a thief's room sends: `original` 3 s late (black first), scaled to 480p, under a banner."""
    import av

    black = None
    with av.open(str(original)) as container:
        for frame in container.decode(video=0):
            image = cv2.resize(frame.to_ndarray(format="bgr24"), (854, 480), interpolation=cv2.INTER_AREA)
            if black is None:
                black = image * 0
                for _ in range(int(RESTREAM_DELAY_S * FPS)):
                    yield black
            cv2.rectangle(image, (0, 420), (854, 480), (30, 30, 200), -1)
            cv2.putText(image, "FLASH SALE - 70% OFF - LINK BELOW", (24, 462), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                        (255, 255, 255), 2, cv2.LINE_AA)
            yield image


def replay_chat(path: Path, stop: threading.Event, loop_start: Callable[[str], float | None]) -> None:
    """Append the CHAT lines to `path` on their schedule, loop after loop, as a live chat feed would.

    Each room's lines follow that room's own video: `loop_start(room)` is the wall time of the first loop of
    its clip that the pipeline sees from before the card or pack comes up (None while not known yet), so the
    seller's price line comes while the juice is on camera wherever the stream was joined.
    """
    path.write_text("")
    starts: dict[str, float] = {}
    rooms = {room for _, room, *_ in CHAT}
    while len(starts) < len(rooms):
        if stop.wait(0.1):
            return
        for room in rooms - set(starts):
            at = loop_start(room)
            if at is not None:
                starts[room] = at
    loop = 0
    while not stop.is_set():
        for due, room, role, author, text in sorted((starts[room] + loop * CLIP_SECONDS + at, room, *rest)
                                                    for at, room, *rest in CHAT):
            if stop.wait(max(0.0, due - time.time())):
                return
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"room": room, "time": time.time(), "author": author, "role": role,
                                    "text": text}, ensure_ascii=False) + "\n")
        loop += 1


def first_whole_loop(clip_started: float | None, first_analysed: float | None) -> float | None:
    """Wall time of the first clip loop whose card or pack comes up after the room's first frame was analysed
    (a pack already up when watching starts is part of the products detector's background until it moves)."""
    if clip_started is None or first_analysed is None:
        return None
    k = math.ceil((first_analysed + 0.5 - clip_started - MARK_ON[0]) / CLIP_SECONDS)
    return clip_started + max(0, k) * CLIP_SECONDS


def run_demo(workdir: Path, *, duration: float, use_rtmp: bool, console: Console, serve_port: int | None = None) -> bool:
    """Run the demo; return True when exactly the expected rooms raised the expected alerts.

    With `serve_port`, the API (`livewarden serve`'s) runs beside it on that port, with a key per role printed."""
    registry_path = prepare_assets(workdir, console)
    registry = load_registry(registry_path)
    store_dir = workdir / "store"
    shutil.rmtree(store_dir, ignore_errors=True)  # each demo run starts with an empty case store
    settings = load_settings(overrides={"store.data_dir": store_dir, "runtime.realtime": True,
                                        "detectors.speech.enabled": True})
    system = build_system(registry, settings, progress=console.status)
    store = system.store

    server = api = None
    publishers = []
    chat_path, chat_stop = workdir / "chat.jsonl", threading.Event()
    clip_started: dict[str, float] = {}  # wall time each room's clip (loop 0) began playing
    if use_rtmp:
        ok, why = RtmpServer.available()
        if ok:
            server = RtmpServer().start()
        else:
            console.print(f"[yellow]no local RTMP server ({why}); playing the sample rooms from files instead[/yellow]")
    try:
        if server:
            rooms = []
            for room in registry.rooms:
                url = server.url(room.id)
                publishers.append(start_publisher(room.source, url, loop=True,
                                                  on_start=lambda wall, r=room.id: clip_started.__setitem__(r, wall)))
                rooms.append(room.model_copy(update={"source": url}))
            console.print(f"streaming {len(rooms)} rooms through nginx-rtmp on 127.0.0.1:{server.port}")
        else:
            rooms = list(registry.rooms)
            console.print(f"playing {len(rooms)} rooms from files at real-time pace (one {SEGMENTS * CLIP_SECONDS:.0f}s pass)")
        pipeline = system.pipeline(rooms=[])
        if serve_port is not None:
            api = serve_beside(system, pipeline, serve_port, console)
        for room in rooms:
            pipeline.add_room(room)
        if not server:  # files play from the pipeline's start
            clip_started.update({room.id: time.time() for room in registry.rooms})
        chat_thread = threading.Thread(
            target=replay_chat, name="demo-chat", daemon=True,
            args=(chat_path, chat_stop,
                  lambda room: first_whole_loop(clip_started.get(room), pipeline.rooms[room].first_analysed_wall)))
        chat_thread.start()
        pipeline.add_chat(lambda on_message, on_error: JsonlChatSource(chat_path, on_message, on_error, follow=True))
        console.print(f"Cards appear {MARK_ON[0]:.0f}–{MARK_ON[1]:.0f}s into each {CLIP_SECONDS:.0f}s loop: "
                      f"[bold]{BRANDS['nova'][0]}[/bold] in nova-official and deal-hunter (only deal-hunter's seller "
                      "is not authorized for it); apple juice in juice-bar, which lists only oat milk. copycat "
                      "restreams nova-official; rerun-shop plays one recorded segment over and over. deal-hunter's "
                      "card carries a QR NOVA never issued; rerun-shop and koru-outlet show one issued KORU code; "
                      "voice-deals' seller says the offer out loud. "
                      f"Chat is read from {chat_path}.")
        run_live(pipeline, console, duration=duration, title="livewarden demo")
    finally:
        chat_stop.set()
        if api is not None:
            api.stop()
        for thread, stop in publishers:
            stop.set()
        for thread, _ in publishers:
            thread.join(timeout=3)
        if server:
            server.stop()

    print_alert_summary(console, store)
    alerts = [a for a in store.alerts() if not a.shadow]
    got = {(a.room_id, a.rule, a.subject) for a in alerts}
    ok = got == EXPECT
    if ok:
        console.print("[bold green]demo ok[/bold green]: deal-hunter's unauthorized NOVA card and its seller's "
                      "'r3plica' offer, juice-bar's unlisted apple juice (another brand than it lists) and impossible "
                      "price, copycat's restream of nova-official, rerun-shop's loop, deal-hunter's never-issued QR, the "
                      "KORU code cloned in rerun-shop and koru-outlet and the offer voice-deals' seller said out loud "
                      "were flagged; nothing else "
                      "was (not the authorized room, not the original broadcast, not the viewers' questions).")
        console.print(f"Watch these rooms yourself: livewarden watch --registry {registry_path}", soft_wrap=True)
    else:
        missing = ", ".join(" ".join(x) for x in sorted(EXPECT - got)) or "none"
        unexpected = ", ".join(" ".join(x) for x in sorted(got - EXPECT)) or "none"
        console.print(f"[bold red]demo check failed[/bold red]: missing alerts: {missing}; unexpected alerts: "
                      f"{unexpected}", markup=True)
    return ok


DEMO_KEYS = (("admin", "default"), ("moderator", "default"), ("brand", "nova"), ("seller", "bargain-king"),
             ("regulator", "default"))


def serve_beside(system, pipeline, port: int, console: Console):
    """The API on `port` for the demo's store, and one key per role (printed: this is a local demo)."""
    from livewarden.cases.keys import create_key
    from livewarden.runtime.serve import BackgroundServer

    import socket

    from livewarden.testing.private_server import free_port

    with socket.socket() as probe:  # the port taken (another demo, another server): any free one
        taken = probe.connect_ex(("127.0.0.1", port)) == 0
    api = BackgroundServer(system, pipeline, port=free_port() if taken else port).start()
    keys = {(role, tenant): create_key(system.store.engine, role, tenant, "demo")[1] for role, tenant in DEMO_KEYS}
    console.print(f"API on {api.url} (docs at {api.url}/docs); demo keys:")
    for (role, tenant), token in keys.items():
        console.print(f"  {role:<9} {tenant:<12} {token}", soft_wrap=True, highlight=False)
    console.print(f"[bold]web console: {api.url}/console[/bold] — sign in with the moderator key "
                  f"{keys[('moderator', 'default')]}", soft_wrap=True, highlight=False)
    return api
