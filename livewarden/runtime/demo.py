"""`livewarden demo`: two generated rooms streamed through a local RTMP server, watched live.

Room `nova-official` is run by the seller NOVA authorized; room `deal-hunter`
shows the very same NOVA card but its seller is not authorized, so only it
must alert. Everything is generated on first run and cached in the workdir.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import cv2
import yaml
from rich.console import Console

from livewarden.assets.marks import generate_mark
from livewarden.assets.scenes import room_frames
from livewarden.cases.store import CaseStore
from livewarden.detectors.marks import MarksDetector
from livewarden.media.clips import write_clip
from livewarden.media.publish import start_publisher
from livewarden.media.rtmp_server import RtmpServer
from livewarden.policy import Policy, load_rules
from livewarden.registry import load_registry
from livewarden.runtime.live_view import print_alert_summary, run_live
from livewarden.runtime.pipeline import Pipeline, PipelineOptions

ASSETS_VERSION = "1"  # bump when the generated assets change, to regenerate cached copies
FPS = 25
CLIP_SECONDS = 12.0
MARK_ON = (3.0, 9.0)

BRANDS = {"nova": ("NOVA", 11), "koru": ("KORU", 23)}
SELLERS = [
    {"id": "nova-store", "name": "NOVA Official Store", "authorized_brands": ["nova"]},
    {"id": "bargain-king", "name": "Bargain King", "authorized_brands": ["koru"]},
]
ROOMS = [  # (room id, seller, brand whose card is shown, background seed)
    ("nova-official", "nova-store", "nova", 5),
    ("deal-hunter", "bargain-king", "nova", 9),
]
EXPECT_ALERT = {"deal-hunter"}


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
    for room_id, _seller, brand_id, seed in ROOMS:
        with console.status(f"generating sample room {room_id} ({CLIP_SECONDS:.0f}s of 720p video)…"):
            write_clip(workdir / "rooms" / f"{room_id}.mp4",
                       room_frames(marks[brand_id], seconds=CLIP_SECONDS, fps=FPS, mark_on=MARK_ON, seed=seed),
                       FPS, gop_seconds=1.0)
    registry = {
        "brands": [{"id": b, "name": text.title(), "marks": [f"marks/{b}.png"]} for b, (text, _) in BRANDS.items()],
        "sellers": SELLERS,
        "rooms": [{"id": r, "seller": s, "source": f"rooms/{r}.mp4", "title": f"{s} live"} for r, s, _, _ in ROOMS],
    }
    registry_path.write_text(yaml.safe_dump(registry, sort_keys=False))
    stamp.write_text(ASSETS_VERSION)
    return registry_path


def run_demo(workdir: Path, *, duration: float, use_rtmp: bool, console: Console) -> bool:
    """Run the demo; return True when exactly the unauthorized room alerted."""
    registry_path = prepare_assets(workdir, console)
    registry = load_registry(registry_path)
    store_dir = workdir / "store"
    shutil.rmtree(store_dir, ignore_errors=True)  # each demo run starts with an empty case store
    store = CaseStore.at(store_dir)
    policy = Policy(registry, load_rules())
    detectors = [MarksDetector.from_registry(registry)]

    server = None
    publishers = []
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
                publishers.append(start_publisher(room.source, url, loop=True))
                rooms.append(room.model_copy(update={"source": url}))
            registry = registry.model_copy(update={"rooms": rooms})
            console.print(f"streaming {len(rooms)} rooms through nginx-rtmp on 127.0.0.1:{server.port}")
        else:
            console.print(f"playing {len(registry.rooms)} rooms from files at real-time pace (one {CLIP_SECONDS:.0f}s pass)")
        pipeline = Pipeline(registry, detectors, policy, store, PipelineOptions(realtime=True))
        console.print(f"[bold]{BRANDS['nova'][0]}[/bold] cards appear {MARK_ON[0]:.0f}–{MARK_ON[1]:.0f}s into each "
                      f"{CLIP_SECONDS:.0f}s loop; only room deal-hunter's seller is not authorized for it.")
        run_live(pipeline, console, duration=duration, title="livewarden demo")
    finally:
        for thread, stop in publishers:
            stop.set()
        for thread, _ in publishers:
            thread.join(timeout=3)
        if server:
            server.stop()

    print_alert_summary(console, store)
    alerted = {a.room_id for a in store.alerts() if a.rule == "unauthorized_brand" and not a.shadow}
    ok = alerted == EXPECT_ALERT
    if ok:
        console.print("[bold green]demo ok[/bold green]: the unauthorized room alerted, the authorized room did not.")
        console.print(f"Watch these rooms yourself: livewarden watch --registry {registry_path}", soft_wrap=True)
    else:
        console.print(f"[bold red]demo check failed[/bold red]: expected alerts in {sorted(EXPECT_ALERT)}, "
                      f"got {sorted(alerted) or 'none'}")
    return ok
