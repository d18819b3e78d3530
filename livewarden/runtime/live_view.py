"""The terminal console: rooms with their health, and alerts as they appear (Rich)."""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from livewarden.runtime.pipeline import Pipeline

STATE_STYLE = {"live": "green", "connecting": "yellow", "reconnecting": "yellow", "ended": "dim",
               "failed": "bold red", "stopped": "dim"}
SEVERITY_STYLE = {"red_flag": "bold white on red", "review": "black on yellow"}


def rooms_table(pipeline: Pipeline) -> Table:
    table = Table(title="Rooms", expand=True, title_justify="left")
    for col, just in [("room", "left"), ("state", "left"), ("fps in", "right"), ("sampled", "right"),
                      ("lag s", "right"), ("drops", "right"), ("analysed", "right"), ("stream t", "right"),
                      ("alerts", "right"), ("note", "left")]:
        table.add_column(col, justify=just, no_wrap=col != "note")
    for status in pipeline.rooms.values():
        h = status.health
        state = h.state
        note = status.error or h.last_error or ""
        table.add_row(
            status.room_id,
            Text(state, style=STATE_STYLE.get(state, "")),
            f"{h.fps_in:.1f}", f"{h.fps_sampled:.1f}",
            f"{h.lag_s:.2f}" if h.lag_s is not None else "-",
            str(h.drops + pipeline.dropped_busy(status.room_id)),
            str(status.analysed), f"{status.last_stream_time:.1f}",
            Text(str(status.alerts), style="bold red" if status.alerts else ""),
            Text(note[:80], style="red" if note else ""),
        )
    return table


def alerts_table(pipeline: Pipeline, limit: int = 12) -> Table:
    table = Table(title="Alerts (newest first)", expand=True, title_justify="left")
    for col in ("#", "opened", "room", "rule", "subject", "severity", "conf", "stream time", "evidence"):
        table.add_column(col, no_wrap=col != "evidence", overflow="fold")
    for alert in list(pipeline.recent_alerts)[:limit]:
        severity = "shadow" if alert.shadow else alert.severity
        table.add_row(
            str(alert.id), datetime.fromtimestamp(alert.opened_at).strftime("%H:%M:%S"),
            alert.room_id, alert.rule, alert.subject,
            Text(severity, style=SEVERITY_STYLE.get(severity, "dim")),
            f"{alert.confidence:.2f}", f"{alert.first_stream_time:.1f}s",
            alert.evidence[0] if alert.evidence else "-",
        )
    if not pipeline.recent_alerts:
        table.add_row("", "", Text("no alerts yet", style="dim"), "", "", "", "", "", "")
    return table


def render(pipeline: Pipeline, started: float, title: str = "livewarden") -> Panel:
    elapsed = time.monotonic() - started
    return Panel(Group(rooms_table(pipeline), alerts_table(pipeline)),
                 title=f"[bold]{title}[/bold]", subtitle=f"{elapsed:.0f}s — Ctrl-C to stop")
