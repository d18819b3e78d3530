"""The terminal console: rooms with their health, and alerts as they appear (Rich)."""

from __future__ import annotations

import signal
import time
from datetime import datetime

from rich.console import Console, Group
from rich.live import Live
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


def run_live(pipeline: Pipeline, console: Console, *, duration: float | None, title: str) -> None:
    """Start the pipeline and show the console until Ctrl-C, SIGTERM, `duration` s, or every source ended."""
    started = time.monotonic()
    stop_requested = False

    def _on_sigterm(*_):
        nonlocal stop_requested
        stop_requested = True

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    pipeline.start()
    try:
        with Live(render(pipeline, started, title), console=console, refresh_per_second=4) as live:
            while not stop_requested and not pipeline.all_done():
                if duration is not None and time.monotonic() - started >= duration:
                    break
                time.sleep(0.25)
                live.update(render(pipeline, started, title))
            live.update(render(pipeline, started, title))
    except KeyboardInterrupt:
        console.print("[dim]stopping…[/dim]")
    finally:
        signal.signal(signal.SIGTERM, previous)
        pipeline.stop()


def print_alert_summary(console: Console, store) -> None:
    alerts = store.alerts()
    console.print(f"\n[bold]{len(alerts)} alert(s)[/bold] in {store.url}")
    for a in alerts:
        tag = "shadow" if a.shadow else a.severity
        console.print(f"  #{a.id} [{tag}] {a.room_id} {a.rule} {a.subject} at {a.first_stream_time:.1f}s "
                      f"(conf {a.confidence:.2f}, {a.hits} hits) evidence: {a.evidence[0] if a.evidence else '-'}",
                      markup=False, highlight=False)
