"""`livewarden serve`: the pipeline (when there are rooms to watch), the API and the webhook sender in one
process, on one port. `BackgroundServer` runs the same beside another loop (the demo's `--serve`, tests)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def server_parts(system: Any, pipeline: Any = None, registry_path: Path | None = None, placer: Any = None):
    """(platform, app, webhook sender) over the system's store, built but not started; with `registry_path`
    (the file the system was built from) the API can reload it, into `pipeline`'s rooms or, with rooms on Ray,
    the room `placer`'s.

    Build them before the pipeline starts: the platform files each alert into its case as it is recorded."""
    from livewarden.api.app import create_app
    from livewarden.cases.outbox import WebhookSender
    from livewarden.cases.platform import Platform

    from livewarden.registry.issued import bank_for
    from livewarden.runtime.reload import RegistryReload
    from livewarden.runtime.scan_jobs import ScanJobs

    settings = system.settings
    rooms = None  # this process's pipeline
    if pipeline is None and getattr(system.bus, "redis", None) is not None:  # rooms watched elsewhere
        from livewarden.runtime.room_board import BoardRooms

        rooms = BoardRooms(system.bus.redis, system.bus.keys, settings.bus.board_stale_s)
    platform = Platform(system.store, rules=system.policy.rules, claim_ttl_s=settings.cases.claim_ttl_s)
    scans = ScanJobs(system, Path(settings.store.data_dir) / "scans", settings.api.max_scan_s,
                     int(settings.api.max_upload_mb * 2**20))
    reload = RegistryReload(registry_path, system, pipeline, placer=placer) if registry_path is not None else None
    codes = bank_for(settings)
    codes.sync(system.registry)
    app = create_app(platform, system.registry, pipeline, settings.cases, scans, settings.api.worker_threads,
                     reload, codes, settings.api.verify_limit, rooms)
    return platform, app, WebhookSender(platform.engine)


def run_server(system: Any, host: str, port: int, watch: bool = True, registry_path: Path | None = None,
               decide: bool = True, engine: str = "local", workers: int = 2, ray_address: str | None = None) -> None:
    """Serve until Ctrl-C / SIGTERM; rooms are watched from the start (here, or on Ray room workers with
    `engine="ray"`), webhooks sent from the outbox."""
    import uvicorn

    from livewarden.runtime.collector import settle_after_start

    watching = watch and bool(system.registry.rooms)
    pipeline = system.pipeline(decide=decide) if watching and engine == "local" else None
    placer = None
    if engine == "ray" and watching:
        from livewarden.runtime.ray_engine import RoomPlacer

        placer = RoomPlacer(system.registry, system.settings, workers, ray_address)  # workers up, no room yet
    platform, app, sender = server_parts(system, pipeline, registry_path, placer)
    if engine == "ray":
        from livewarden.runtime.pipeline import Decider

        if decide:
            Decider(system)  # a consumer of the signal partitions, beside any `livewarden policy`
        if placer is not None:
            placer.start()
    if pipeline is not None:
        pipeline.start()
    sender.start()
    settle_after_start()  # start-up is done: what it built is never walked by the collector again
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        sender.stop()
        if pipeline is not None:
            pipeline.stop()
        if placer is not None:
            placer.stop()
        system.bus.close()


class BackgroundServer:
    """The API and the webhook sender in a thread of this process."""

    def __init__(self, system: Any, pipeline: Any, host: str = "127.0.0.1", port: int = 8080,
                 registry_path: Path | None = None):
        import uvicorn

        self.platform, self.app, self.sender = server_parts(system, pipeline, registry_path)
        self.url = f"http://{host}:{port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=host, port=port, log_level="warning",
                                                     access_log=False, timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, name="api", daemon=True)

    def start(self, timeout_s: float = 10.0) -> "BackgroundServer":
        self.sender.start()
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the API did not start on {self.url} (is the port taken?)")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(5)
        self.sender.stop()
