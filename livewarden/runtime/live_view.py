"""The terminal console: rooms with their health, and alerts as they appear (Rich)."""

from __future__ import annotations

import signal
import time
from datetime import datetime

from rich import box
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
    """One row per room: is it live, how fast frames come in and get analysed, how far behind, what broke."""
    table = Table(title="Rooms", expand=True, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("room", no_wrap=True, min_width=12, overflow="ellipsis")
    table.add_column("state", no_wrap=True)
    table.add_column("fps in/used", justify="right", no_wrap=True)
    table.add_column("lag", justify="right", no_wrap=True)
    table.add_column("drops", justify="right", no_wrap=True)
    table.add_column("analysed", justify="right", no_wrap=True)
    table.add_column("alerts", justify="right", no_wrap=True)
    products = any({"product", "face"} & set(d.kinds) for d in pipeline.detectors)
    chat = bool(pipeline.chat_sources)
    if chat:
        table.add_column("chat", justify="right", no_wrap=True)
    if products:
        table.add_column("on camera", overflow="ellipsis", no_wrap=True, max_width=24)
    statuses = list(pipeline.rooms.values())
    notes = [s.error or s.health.last_error or "" for s in statuses]
    if any(notes):
        table.add_column("note", min_width=16, overflow="fold")
    for status, note in zip(statuses, notes):
        h = status.health
        cells = [
            status.room_id,
            Text(h.state, style=STATE_STYLE.get(h.state, "")),
            f"{h.fps_in:.0f}/{h.fps_sampled:.1f}",
            f"{max(0.0, h.lag_s):.1f}s" if h.lag_s is not None else "-",
            str(h.drops + pipeline.dropped_busy(status.room_id)),
            f"{status.analysed} @{status.last_stream_time:.0f}s",
            Text(str(status.alerts), style="bold red" if status.alerts else ""),
        ]
        if chat:
            waiting = f" (+{status.seller_lines_waiting})" if status.seller_lines_waiting else ""  # seller lines queued
            cells.append(f"{status.chat_messages}{waiting}")
        if products:
            cells.append(pipeline.timeline.on_camera(status.room_id, status.last_stream_time))
        if any(notes):
            cells.append(Text(note[:120], style="red"))
        table.add_row(*cells)
    return table


def alerts_table(pipeline: Pipeline, limit: int = 10) -> Group:
    """Newest alerts first, then where the evidence of the newest few is on disk."""
    table = Table(title="Alerts (newest first)", expand=True, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col, just in (("#", "right"), ("opened", "left"), ("room", "left"), ("finding", "left"),
                      ("severity", "left"), ("conf", "right"), ("at", "right")):
        table.add_column(col, justify=just, no_wrap=col not in ("room", "finding"), overflow="fold")
    alerts = list(pipeline.recent_alerts)[:limit]
    for alert in alerts:
        severity = "shadow" if alert.shadow else alert.severity
        table.add_row(
            str(alert.id), datetime.fromtimestamp(alert.opened_at).strftime("%H:%M:%S"),
            alert.room_id, f"{alert.rule} {alert.subject}",
            Text(severity, style=SEVERITY_STYLE.get(severity, "dim")),
            f"{alert.confidence:.2f}", f"{alert.first_stream_time:.1f}s",
        )
    if not alerts:
        table.add_row("", "", Text("no alerts yet", style="dim"), "", "", "", "")
    evidence = [Text(f"evidence #{a.id}: {a.evidence[0]}", style="dim", overflow="fold")
                for a in alerts[:3] if a.evidence]
    return Group(table, *evidence)


def words_table(pipeline: Pipeline, limit: int = 6) -> Table:
    """The newest lines said, shown or typed with a lexicon term in them; the term highlighted, negations dimmed."""
    table = Table(title="Said, shown, typed (newest first)", expand=True, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False)
    for col in ("room", "from", "at", "line"):
        table.add_column(col, no_wrap=col != "line", overflow="fold")
    for room_id, line in pipeline.transcript.flagged(limit):
        text = Text(line["text"][:160])
        for flag in line["flags"]:
            if flag["end"] <= 160:
                text.stylize("dim strike" if flag.get("negated_by") else "bold red", flag["start"], flag["end"])
        for price in line.get("prices", ()):
            if price["end"] <= 160 and price["below_floor"]:
                text.stylize("bold magenta", price["start"], price["end"])  # a price no genuine product has
        who = line["source"] if line["source"] != "chat" else f"chat/{line['role']}"
        table.add_row(room_id, who, f"{line['time']:.0f}s", text)
    return table


def feeds_table(pipeline: Pipeline) -> Table:
    """One row per chat feed: is it connected, how much came in, what went wrong last (bad lines are skipped)."""
    table = Table(title="Chat feeds", expand=True, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (("feed", "left"), ("state", "left"), ("messages", "right"), ("errors", "right"),
                      ("last problem", "left")):
        table.add_column(col, justify=just, no_wrap=col != "last problem", overflow="fold")
    for source in pipeline.chat_sources:
        h = source.health()
        state = h.get("state") or ("connected" if h.get("connected") else "waiting")
        table.add_row(str(h.get("path") or h.get("url") or type(source).__name__),
                      Text(state, style="green" if h.get("connected") else "yellow"),
                      f"{h.get('messages', 0)}" + (f" (+{h['filtered']} other rooms)" if h.get("filtered") else ""),
                      Text(str(h.get("errors", 0)), style="red" if h.get("errors") else ""),
                      Text(str(h.get("last_error") or "")[:160], style="red"))
    return table


def render(pipeline: Pipeline, started: float, title: str = "livewarden") -> Panel:
    elapsed = time.monotonic() - started
    parts = [rooms_table(pipeline), alerts_table(pipeline)]
    if pipeline.language is not None and pipeline.transcript.flagged(1):
        parts.insert(1, words_table(pipeline))
    if pipeline.chat_sources:
        parts.insert(1, feeds_table(pipeline))
    return Panel(Group(*parts),
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
                      markup=False, highlight=False, soft_wrap=True)
