"""`livewarden serve`: the pipeline (when there are rooms to watch), the API and the webhook sender in one
process, on one port."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def server_parts(system: Any, watch: bool = True):
    """(platform, app, pipeline or None): everything `serve` runs, built but not started (tests use it)."""
    from livewarden.api.app import create_app
    from livewarden.cases.platform import Platform

    cases = system.settings.cases
    platform = Platform(system.store, rules=system.policy.rules, claim_ttl_s=cases.claim_ttl_s)
    pipeline = system.pipeline() if watch and system.registry.rooms else None
    return platform, create_app(platform, system.registry, pipeline, cases), pipeline


def run_server(system: Any, host: str, port: int, watch: bool = True) -> None:
    """Serve until Ctrl-C / SIGTERM; rooms are watched from the start, webhooks sent from the outbox."""
    import uvicorn

    platform, app, pipeline = server_parts(system, watch)
    sender = _webhook_sender(platform)
    if pipeline is not None:
        pipeline.start()
    sender.start()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        sender.stop()
        if pipeline is not None:
            pipeline.stop()


def _webhook_sender(platform: Any):
    from livewarden.cases.outbox import WebhookSender

    return WebhookSender(platform.engine)
