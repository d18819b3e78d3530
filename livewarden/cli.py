"""Command line: argument parsing and printing only; the system is built by runtime.build from settings."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape

from livewarden.errors import InputError, LivewardenError, ProblemsError

# no locals in tracebacks: they would print URLs, keys and secrets
app = typer.Typer(help="livewarden: real-time trust & safety for livestream shopping.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_show_locals=False)
registry_app = typer.Typer(help="Work with registry files.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
db_app = typer.Typer(help="The case store's database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
keys_app = typer.Typer(help="API keys for `livewarden serve` (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
case_app = typer.Typer(help="Cases in the store (as the server's operator: every tenant).", no_args_is_help=True)
app.add_typer(case_app, name="case")
codes_app = typer.Typer(help="Traceability codes: import a brand's issued serials, check a code.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")
cluster_app = typer.Typer(help="When rooms and decisions run in several processes (signals on Redis).",
                          no_args_is_help=True)
app.add_typer(cluster_app, name="cluster")
console = Console()
err_console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)])


def _fail(headline: str, detail: str = "", code: int = 2) -> typer.Exit:
    """Print an error without wrapping (paths stay copyable) and return the Exit to raise."""
    err_console.print(f"[bold red]{headline}[/bold red] {escape(detail)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


@contextmanager
def _errors():
    """Every error livewarden raises on purpose, printed for a person (file:line problems one per line)."""
    try:
        yield
    except ProblemsError as exc:
        what = {"SettingsError": "settings have", "LexiconError": "lexicon has"}.get(type(exc).__name__,
                                                                                      "registry or rules have")
        err_console.print(f"[bold red]{what} {len(exc.problems)} problem(s):[/bold red]")
        for p in exc.problems:
            err_console.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except LivewardenError as exc:  # an input named on the command line cannot be used: 1; anything else: 2
        raise _fail(f"{exc}", code=1 if isinstance(exc, InputError) else 2) from None


def _settings(path: Optional[Path], overrides: dict):
    from livewarden.config import load_settings

    return load_settings(path, overrides)


SETTINGS_HELP = "settings YAML (see README 'Settings'); LIVEWARDEN_* variables and these options override it"
# the options of every command that opens the case store
SettingsFile = Annotated[Optional[Path], typer.Option("--settings", help=SETTINGS_HELP)]
StoreUrl = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL of the case store")]
StoreDir = Annotated[Optional[Path], typer.Option(help="the embedded store's folder [livewarden-data]")]
# where the rooms' signals go: in process (default) or Redis Streams, decided here or by `livewarden policy`
BusUrl = Annotated[Optional[str], typer.Option("--bus", help="Redis URL: the rooms' signals go through Redis Streams "
                                                             "(redis://HOST:6379/0); default: in process")]
ClusterBus = Annotated[Optional[str], typer.Option("--bus",
                                                   help="Redis URL of the signal bus (redis://HOST:6379/0)")]
Decide = Annotated[bool, typer.Option("--decide/--no-decide",
                                      help="decide here (with --bus, beside any `livewarden policy`), or only "
                                           "publish the rooms' signals for `livewarden policy` to decide")]


@db_app.command("upgrade")
def db_upgrade(
    settings: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
    data_dir: Optional[Path] = typer.Option(None, help="the embedded store's folder [livewarden-data]"),
    url: Optional[str] = typer.Option(None, help="a SQLAlchemy URL (postgresql+psycopg://...) instead of SQLite"),
) -> None:
    """Bring the store's schema to this version (an embedded SQLite store also upgrades itself when opened)."""
    from sqlalchemy.exc import SQLAlchemyError

    from livewarden.cases.migrate import upgrade
    from livewarden.runtime.build import store_url

    with _errors():
        cfg = _settings(settings, {"store.data_dir": data_dir, "store.url": url})
        if not cfg.store.url:
            Path(cfg.store.data_dir).mkdir(parents=True, exist_ok=True)
        target = store_url(cfg)
    where = redact_url(target)
    try:
        before, after = upgrade(target)
    except (ImportError, SQLAlchemyError) as exc:
        reason = str(exc).splitlines()[0].replace(target, where)
        raise _fail("cannot upgrade the store:", f"{where}: {type(exc).__name__}: {reason}") from None
    if before == after:
        console.print(f"[green]up to date[/green] {where}: schema {after}", soft_wrap=True)
    else:
        console.print(f"[green]upgraded[/green] {where}: schema {before or '(empty)'} -> {after}", soft_wrap=True)


@app.command()
def serve(
    registry: Path = typer.Option(..., "--registry", "-r", help="registry YAML (brands, products, persons, rooms)"),
    settings: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
    db: Optional[str] = typer.Option(None, "--db", help="SQLAlchemy URL of the case store (postgresql+psycopg://"
                                                        "...); default: SQLite under --data-dir"),
    data_dir: Optional[Path] = typer.Option(None, help="where the SQLite store and evidence go [livewarden-data]"),
    rules: Optional[Path] = typer.Option(None, help="rules YAML (default: the packaged rules)"),
    host: Optional[str] = typer.Option(None, help="address to listen on [127.0.0.1]"),
    port: Optional[int] = typer.Option(None, min=0, max=65535, help="port of the API [8080]"),
    watch: bool = typer.Option(True, "--watch/--no-watch", help="watch the registry's rooms (or only serve the API)"),
    bus: BusUrl = None,
    decide: Decide = True,
    engine: str = typer.Option("local", "--engine", help="where rooms are watched: local (this process) or ray "
                                                          "(room-worker actors on a Ray cluster; needs --bus)"),
    workers: int = typer.Option(2, "--workers", min=1, help="--engine ray: room-worker actors to start"),
    ray_address: Optional[str] = typer.Option(None, "--ray-address",
                                              help="--engine ray: the cluster (ray start --head prints it); "
                                                   "default: a local one"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Run the server: the rooms' pipeline, the REST API with its live feed (/events), webhooks; docs at /docs."""
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_system
    from livewarden.runtime.serve import run_server

    _setup_logging(verbose)
    with _errors():
        reg = load_registry(registry)
        cfg = _settings(settings, {"policy.rules": rules, "store.data_dir": data_dir, "store.url": db,
                                   "api.host": host, "api.port": port, "runtime.realtime": True, "bus.url": bus})
        _need_bus(cfg, decide)
        if engine not in ("local", "ray"):
            raise _fail(f"unknown --engine {engine!r}:", "local or ray")
        if engine == "ray" and cfg.bus.url is None:
            raise _fail("--engine ray needs --bus:", "room workers publish their signals to Redis")
        system = build_system(reg, cfg, progress=console.status)
    where = f" on {workers} Ray room workers" if engine == "ray" and watch else ""
    console.print(f"[green]serving[/green] http://{cfg.api.host}:{cfg.api.port} (API docs at /docs), "
                  f"{len(reg.rooms) if watch else 0} rooms watched{where}; Ctrl-C stops", soft_wrap=True)
    run_server(system, cfg.api.host, cfg.api.port, watch=watch, registry_path=registry, decide=decide,
               engine=engine, workers=workers, ray_address=ray_address)


@app.command()
def policy(
    registry: Path = typer.Option(..., "--registry", "-r", help="registry YAML (the rooms' sellers, brands, rules' data)"),
    bus: Optional[str] = typer.Option(None, "--bus", help="Redis URL the rooms' signals come from (redis://HOST:6379/0)"),
    settings: SettingsFile = None,
    db: StoreUrl = None,
    data_dir: StoreDir = None,
    rules: Optional[Path] = typer.Option(None, help="rules YAML (default: the packaged rules)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Decide only: read the rooms' signals from Redis, commit alerts, file cases (beside other policy processes)."""
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_policy
    from livewarden.runtime.policy_worker import run_policy

    _setup_logging(verbose)
    with _errors():
        reg = load_registry(registry)
        cfg = _settings(settings, {"policy.rules": rules, "store.data_dir": data_dir, "store.url": db,
                                   "bus.url": bus})
        system = build_policy(reg, cfg)
    console.print(f"[green]deciding[/green] the signals of {redact_url(cfg.bus.url)} into {redact_url(system.store.url)}"
                  f"; Ctrl-C stops", soft_wrap=True)

    def told(event) -> None:
        a = event.alert
        if event.update.opened:
            console.print(f"  alert \\[{a.severity}] {a.rule} room {a.room_id}: {escape(a.message)}", soft_wrap=True)

    run_policy(system, on_alert=told)


@cluster_app.command("status")
def cluster_status_command(
    bus: ClusterBus = None,
    settings: SettingsFile = None,
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
) -> None:
    """Policy consumers and their partitions (lag, pending entries), parked signals; room workers and their rooms."""
    import json

    from rich.table import Table

    from livewarden.runtime.redis_bus import cluster_status

    with _errors():
        cfg = _cluster_settings(bus, settings)
        try:
            status = cluster_status(cfg.bus.url, cfg.bus.prefix, cfg.bus.partitions)
        except Exception as exc:  # redis.ConnectionError and kin: say where, not a traceback
            raise _fail(f"cannot read {redact_url(cfg.bus.url)}:", str(exc)) from None
    if as_json:
        print(json.dumps(status, indent=2))
        return
    consumers = status["consumers"]
    console.print(f"[bold]{len(consumers)} policy consumer(s)[/bold] on {redact_url(cfg.bus.url)} "
                  f"(prefix {cfg.bus.prefix!r})" + "".join(f"\n  {name}: {n} partitions" for name, n in consumers.items()))
    table = Table("partition", "read by", "length", "lag", "pending")
    for row in status["partitions"]:
        table.add_row(str(row["partition"]), row["holder"] or "[red]nobody[/red]", str(row["length"]),
                      "-" if row["lag"] is None else str(row["lag"]), str(row["pending"]))
    console.print(table)
    if status["workers"]:
        workers = Table("room worker", "process", "state", "load (CPU s/s)", "rooms")
        for name, w in sorted(status["workers"].items()):
            workers.add_row(name, str(w.get("pid") or "-"), "[red]dead[/red]" if w.get("dead") else "live",
                            "-" if w.get("load") is None else f"{w['load']:.2f}", ", ".join(w.get("rooms", [])))
        console.print(workers)
        console.print(f"{len(status['placement'])} rooms placed; rooms moved {status['rebalances']} time(s)")
    console.print(f"{status['parked']} parked signal(s)" + "".join(
        f"\n  {p['id']} partition {p['partition']}, {p['deliveries']} deliveries: {escape(p['reason'])}"
        for p in status["last_parked"]))


def _cluster_settings(bus: Optional[str], settings: Optional[Path]):
    cfg = _settings(settings, {"bus.url": bus})
    if cfg.bus.url is None:
        raise _fail("no bus to look at:", "give --bus redis://HOST:6379/0 (or bus.url in the settings)")
    return cfg


def _placer_request(bus: Optional[str], settings: Optional[Path], request: dict) -> None:
    import json

    import redis

    from livewarden.runtime.redis_bus import Keys

    with _errors():
        cfg = _cluster_settings(bus, settings)
        r, keys = redis.Redis.from_url(cfg.bus.url, socket_connect_timeout=2.0), Keys(cfg.bus.prefix)
        try:
            if not r.hlen(keys.workers):
                raise _fail("no room placer on this bus:", "start one with `livewarden serve --engine ray`")
            r.rpush(keys.requests, json.dumps(request))
        except redis.RedisError as exc:
            raise _fail(f"cannot reach {redact_url(cfg.bus.url)}:", str(exc)) from None
        finally:
            r.close()
    console.print(f"asked the room placer to {request['do']}" + (f" {request['room']}" if "room" in request else "")
                  + "; `livewarden cluster status` shows it done within a few seconds")


@cluster_app.command("move")
def cluster_move(
    room: str = typer.Argument(..., help="the room to move"),
    to: Optional[str] = typer.Option(None, "--to", help="the room worker to move it to (default: the least loaded)"),
    bus: ClusterBus = None,
    settings: SettingsFile = None,
) -> None:
    """Move a room to another room worker (rooms on Ray: `serve --engine ray`); off the air a few seconds."""
    _placer_request(bus, settings, {"do": "move", "room": room, "to": to})


@cluster_app.command("add-worker")
def cluster_add_worker(
    bus: ClusterBus = None,
    settings: SettingsFile = None,
) -> None:
    """Start one more room worker on the Ray cluster; rooms move to it until the workers are balanced."""
    _placer_request(bus, settings, {"do": "add-worker"})


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="admin, moderator, regulator, brand, person or seller"),
    tenant: str = typer.Option(..., help="who the key acts for: the platform (admin, moderator; a regulator's "
                                         "platform or *), the brand id, the person id or the seller id"),
    name: str = typer.Option("", help="a note: whose key this is"),
    settings: SettingsFile = None,
    db: StoreUrl = None,
    data_dir: StoreDir = None,
) -> None:
    """Make an API key; the token is printed once (keep it: only its hash is stored)."""
    from livewarden.cases.keys import create_key

    with _errors():
        store = _open_store(settings, db, data_dir)
        info, token = create_key(store.engine, role, tenant, name)
        store.append_audit("cli", "key_created", None, {"key_id": info.id, "role": role, "tenant": tenant})
    console.print(f"key {info.id} ({role} of {tenant}); the token, shown once:", soft_wrap=True)
    print(token)


@keys_app.command("list")
def keys_list(
    settings: SettingsFile = None,
    db: StoreUrl = None,
    data_dir: StoreDir = None,
) -> None:
    """The keys (ids, roles, tenants; never the secrets)."""
    from livewarden.cases.keys import list_keys

    with _errors():
        store = _open_store(settings, db, data_dir)
        for k in list_keys(store.engine):
            state = "revoked" if k.revoked_at else "active"
            console.print(f"{k.id}  {k.role:<9} {k.tenant:<20} {state:<8} {k.name}", soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="the key's id (the part after lw_ and before the next _)"),
    settings: SettingsFile = None,
    db: StoreUrl = None,
    data_dir: StoreDir = None,
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from livewarden.cases.keys import revoke_key

    with _errors():
        store = _open_store(settings, db, data_dir)
        if not revoke_key(store.engine, key_id):
            raise _fail("no such key:", key_id)
        store.append_audit("cli", "key_revoked", None, {"key_id": key_id})
    console.print(f"revoked {key_id}")


@case_app.command("timeline")
def case_timeline(
    case_id: int = typer.Argument(..., help="the case's id"),
    as_json: bool = typer.Option(False, "--json", help="print the timeline as JSON (as GET /cases/ID/timeline)"),
    settings: SettingsFile = None,
    db: StoreUrl = None,
    data_dir: StoreDir = None,
) -> None:
    """When did you know, and what did you do: the case's moments with the time between them."""
    import json

    from livewarden.cases.platform import Platform
    from livewarden.cases.scope import EVERY_PLATFORM, Principal

    with _errors():
        platform = Platform(_open_store(settings, db, data_dir))
        timeline = platform.timeline(Principal("cli", "regulator", EVERY_PLATFORM), case_id)
    if as_json:
        print(json.dumps(timeline, indent=2))
        return
    case = timeline["case"]
    console.print(f"case {case['id']}: {case['subject']} in room {case['room_id']} ({case['status']})", soft_wrap=True)
    for step in timeline["steps"]:
        what = step["what"] + (f" {step['action']} by {step['actor']}" if step["what"] == "action" else "")
        detail = step.get("detail") or ""
        console.print(f"  {step['when']}  +{step['since_first_s']:>10.3f}s  {what}  {detail}", soft_wrap=True,
                      highlight=False, markup=False)
    audit = timeline["audit"]
    console.print("audit chain verified" if audit["verified"] else
                  f"[red]audit chain broken[/red] at entry {audit['first_bad_entry']}")


def _open_store(settings: Optional[Path], db: Optional[str], data_dir: Optional[Path]):
    from livewarden.runtime.build import open_store

    return open_store(_settings(settings, {"store.url": db, "store.data_dir": data_dir}))


def redact_url(url: str) -> str:
    """The URL without its password (it is printed)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


RegistryFile = Annotated[Path, typer.Option("--registry", help="registry YAML file (its code_schemes)")]


@codes_app.command("import")
def codes_import(
    scheme: str = typer.Argument(..., help="the code scheme's id (code_schemes in the registry)"),
    files: list[Path] = typer.Argument(..., help="CSV (serial,product,batch,issued_on,revoked) or TXT files"),
    registry: RegistryFile = Path("registry.yaml"),
    settings: SettingsFile = None,
    data_dir: StoreDir = None,
) -> None:
    """Import issued serials (millions: streamed, never all in memory). Good rows are imported; bad ones are
    listed as file:line and the command exits 1."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from livewarden.registry import load_registry
    from livewarden.registry.issued import bank_for

    bad = 0
    with _errors():
        reg = load_registry(registry, check_images=False)
        found = reg.code_scheme(scheme)
        if found is None:
            raise InputError(f"{registry}: no code scheme {scheme!r} (known: "
                             f"{', '.join(s.id for s in reg.code_schemes) or 'none'})")
        bank = bank_for(_settings(settings, {"store.data_dir": data_dir} if data_dir else {}))
        products = {p.id for p in reg.products}
        for path in files:
            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TimeRemainingColumn(), console=err_console, transient=True) as bar:
                task = bar.add_task(f"importing {path.name}", total=path.stat().st_size if path.is_file() else 0)
                report = bank.import_file(found, path, products, lambda done, total: bar.update(task, completed=done))
            console.print(report.summary(), soft_wrap=True, markup=False, highlight=False)
            bad += report.bad_rows
        console.print(f"{scheme}: {bank.count(scheme):,} codes issued in all")
    if bad:
        raise typer.Exit(1)


@codes_app.command("check")
def codes_check(
    what: str = typer.Argument(..., help="an image file with codes in it, a URL or payload read from a code"),
    registry: RegistryFile = Path("registry.yaml"),
    settings: SettingsFile = None,
    data_dir: StoreDir = None,
) -> None:
    """What livewarden makes of a code: its scheme, brand, serial, product, whether it was issued, how often
    buyers verified it and in how many live rooms it was seen (checking does not count as a verification)."""
    import json

    import cv2

    from livewarden.api.verify import verdict
    from livewarden.detectors.codes import decode, describe
    from livewarden.registry import load_registry
    from livewarden.registry.codes import SchemeReader
    from livewarden.registry.issued import bank_for

    with _errors():
        reg = load_registry(registry, check_images=False)
        bank = bank_for(_settings(settings, {"store.data_dir": data_dir} if data_dir else {}))
        reader = SchemeReader(reg)
        payloads = [what]
        if Path(what).is_file():
            image = cv2.imread(what)
            if image is None:
                raise InputError(f"{what}: not an image livewarden can read")
            payloads = [text for text, _fmt, _poly in decode(image)]
            if not payloads:
                raise InputError(f"{what}: no QR, DataMatrix, EAN/UPC or Code 128 code found in the image")
        for payload in payloads:
            code = reader.read(payload)
            answer = {"verdict": verdict(reader, bank, payload, count=False), "read": describe(code, reader, bank)}
            print(json.dumps(answer, indent=2, ensure_ascii=False))


@registry_app.command("check")
def registry_check(path: Path = typer.Argument(..., help="registry YAML file")) -> None:
    """Validate a registry and list every problem with file, line and field."""
    from livewarden.registry import load_registry

    with _errors():
        reg = load_registry(path)
        if reg.persons:  # a reference photo must show exactly one face: only the face model can tell
            from livewarden.detectors.face_embedder import FaceEmbedder
            from livewarden.detectors.faces import enroll

            with console.status(f"checking {sum(len(p.photos) for p in reg.persons)} reference photos…"):
                enroll(reg, FaceEmbedder())
    marks = sum(len(b.marks) for b in reg.brands)
    images = sum(len(p.images) for p in reg.products)
    listings = sum(len(r.listings) for r in reg.rooms)
    console.print(f"[green]ok[/green] {path}: {len(reg.brands)} brands ({marks} marks), "
                  f"{len(reg.products)} products ({images} images), {len(reg.sellers)} sellers, "
                  f"{len(reg.rooms)} rooms ({listings} listings), {len(reg.persons)} protected persons, "
                  f"{len(reg.broadcasts)} broadcasts, {len(reg.code_schemes)} code schemes",
                  soft_wrap=True)


@app.command()
def watch(
    registry: Path = typer.Option(..., "--registry", "-r", help="registry YAML listing the rooms to watch"),
    settings: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
    rules: Optional[Path] = typer.Option(None, help="rules YAML (default: the packaged rules)"),
    data_dir: Optional[Path] = typer.Option(None, help="where the SQLite store and evidence go [livewarden-data]"),
    sample_fps: Optional[float] = typer.Option(None, min=0.1, max=30, help="frames analysed per second per room [2]"),
    room: Optional[list[str]] = typer.Option(None, help="watch only these room ids (repeatable)"),
    duration: Optional[float] = typer.Option(None, help="stop after this many seconds (default: until Ctrl-C)"),
    chat: Optional[list[str]] = typer.Option(None, help="chat feed: a JSONL file (followed like tail -f) or a "
                                                         "ws:// / wss:// URL (repeatable); see README 'Feeding chat'"),
    chat_http: Optional[int] = typer.Option(None, min=0, max=65535, help="serve POST /chat on 127.0.0.1:PORT"),
    ocr: Optional[bool] = typer.Option(None, "--ocr/--no-ocr",
                                       help="read on-screen text (OCR, <= 1 fps per room; ~0.1-0.3 s of a core per read)"),
    speech: Optional[bool] = typer.Option(None, "--speech/--no-speech",
                                          help="transcribe each room's audio, in the languages it declares "
                                               "(else told per window)"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
    bus: BusUrl = None,
    decide: Decide = True,
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Monitor every room in the registry live, until Ctrl-C."""
    from livewarden.registry import load_registry
    from livewarden.runtime.build import build_system
    from livewarden.runtime.live_view import print_alert_summary, run_live

    _setup_logging(verbose)
    with _errors():
        reg = load_registry(registry)
        if room:
            unknown = sorted(set(room) - {r.id for r in reg.rooms})
            if unknown:
                raise _fail("unknown room(s):", f"{', '.join(unknown)}; {registry} has: "
                                                f"{', '.join(r.id for r in reg.rooms)}")
        if not reg.rooms:
            raise _fail("no rooms to watch:", f"{registry} has no `rooms:` list")
        chat_feeds = _chat_feeds(chat or [])
        cfg = _settings(settings, {"policy.rules": rules, "store.data_dir": data_dir,
                                   "runtime.sample_fps": sample_fps, "runtime.realtime": True,
                                   "detectors.screen_text.enabled": ocr, "detectors.speech.enabled": speech,
                                   "detectors.language.lexicon": lexicon or None, "bus.url": bus})
        _need_bus(cfg, decide)
        system = build_system(reg, cfg, progress=console.status)
    pipeline = system.pipeline(rooms=room or None, decide=decide)
    _add_chat(pipeline, chat_feeds, chat_http)
    where = "" if decide else f" (signals to {redact_url(cfg.bus.url)}, decided by `livewarden policy`)"
    run_live(pipeline, console, duration=duration, title=f"livewarden watch — {len(pipeline.rooms)} rooms{where}")
    system.bus.close()
    if decide:
        print_alert_summary(console, system.store)


def _need_bus(cfg, decide: bool) -> None:
    if not decide and cfg.bus.url is None:
        raise _fail("--no-decide needs --bus:", "without a bus no other process can decide this one's signals")


def _chat_feeds(feeds: list[str]) -> list[str]:
    """The chat feeds named on the command line, checked before anything is built."""
    for feed in feeds:
        if "://" in feed and not feed.startswith(("ws://", "wss://")):
            raise _fail("chat feed not understood:", f"{feed} (give a JSONL file path or a ws:// / wss:// URL)")
        if "://" not in feed and not Path(feed).parent.is_dir():
            raise _fail("chat feed not found:", f"{feed}: folder {Path(feed).parent} does not exist")
    return feeds


def _add_chat(pipeline, feeds: list[str], http_port: Optional[int]) -> None:
    """Attach the chat feeds (already checked by _chat_feeds)."""
    from livewarden.media.chat import JsonlChatSource, WebsocketChatSource

    rooms = list(pipeline.rooms)
    for feed in feeds:
        if feed.startswith(("ws://", "wss://")):
            pipeline.add_chat(lambda on_message, on_error, url=feed:
                              WebsocketChatSource(url, on_message, on_error, rooms=rooms))
        else:
            pipeline.add_chat(lambda on_message, on_error, path=feed:
                              JsonlChatSource(path, on_message, on_error, follow=True, rooms=rooms))
    if http_port is not None:
        from livewarden.media.chat.http import HttpChatIngest

        pipeline.add_chat(lambda on_message, on_error: HttpChatIngest(on_message, on_error, port=http_port,
                                                                      rooms=rooms))


@app.command()
def scan(
    clip: Path = typer.Argument(..., help="recorded clip (any format FFmpeg reads)"),
    room: str = typer.Option(..., help="room id in the registry (decides which seller's authorizations apply)"),
    registry: Path = typer.Option(..., "--registry", "-r"),
    settings: Optional[Path] = typer.Option(None, "--settings", help=SETTINGS_HELP),
    rules: Optional[Path] = typer.Option(None),
    out: Optional[Path] = typer.Option(None, help="output folder (default: ./livewarden-scan-<clip name>)"),
    sample_fps: Optional[float] = typer.Option(None, min=0.1, max=30),
    ocr: bool = typer.Option(True, help="read on-screen text (OCR, <= 1 fps)"),
    speech: bool = typer.Option(True, help="transcribe the clip's audio, in the room's declared languages "
                                           "(else told per window)"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Analyse a recorded clip faster than real time; write a JSON report with findings, evidence and transcript."""
    from livewarden.runtime.scan import clip_settings, probe_clip, scan_clip

    _setup_logging(verbose)
    with _errors():
        probe_clip(clip)  # a file that is not a video is refused before any model loads
        from livewarden.registry import load_registry  # imported after the probe: a refusal needs neither
        from livewarden.runtime.build import build_system

        reg = load_registry(registry)
        if reg.room(room) is None:
            raise _fail("unknown room:", f"{room!r} is not in {registry}; rooms there: "
                                         f"{', '.join(r.id for r in reg.rooms) or '(none)'}")
        out = out or Path(f"livewarden-scan-{clip.stem}")
        cfg = clip_settings(_settings(settings, {"policy.rules": rules, "runtime.sample_fps": sample_fps,
                                                 "detectors.screen_text.enabled": ocr,
                                                 "detectors.speech.enabled": speech,
                                                 "detectors.language.lexicon": lexicon or None}), out)
        system = build_system(reg, cfg, progress=console.status)
        report = scan_clip(clip, room, system, out, console=console)
    console.print(f"\n[bold]{clip}[/bold]: {report['duration_s']:.1f}s of video in {report['elapsed_s']:.1f}s "
                  f"({report['speed_x']:.1f}x real time), {report['frames_analysed']} frames analysed")
    for span in report["on_camera"]:
        what = {"product": span["subject"], "face": f"person {span['subject']}"}.get(span["kind"], "unknown product")
        console.print(f"  on camera {span['first_stream_time']:.1f}s–{span['last_stream_time']:.1f}s: {what} "
                      f"({span['sightings']} sightings)", markup=False, highlight=False)
    for line in report["transcript"]:
        low = [p for p in line.get("prices", ()) if p["below_floor"]]
        if line["offer"] or low or any(not f.get("negated_by") for f in line["flags"]):
            spans = ", ".join([f"'{f['span']}'" + (f" (negated by '{f['negated_by']}')" if f.get("negated_by") else "")
                               for f in line["flags"]]
                              + [f"'{p['span']}' ({p['ratio']:.0%} of the MSRP of {p['product']})" for p in low])
            console.print(f"  {line['source']} {line['time']:.1f}s: {line['text']}  <- {spans}",
                          markup=False, highlight=False, soft_wrap=True)
    if not report["findings"]:
        console.print("[green]no findings[/green]")
    for f in report["findings"]:
        console.print(f"  \\[{f['severity']}] {f['rule']} {f['subject']} {f['first_stream_time']:.1f}s–"
                      f"{f['last_stream_time']:.1f}s conf {f['confidence']:.2f} evidence: "
                      f"{f['evidence'][0] if f['evidence'] else '-'}")
    console.print(f"report: {out / 'report.json'}")


@app.command()
def lookup(
    image: Path = typer.Argument(..., help="a photo or crop of the product"),
    registry: Path = typer.Option(..., "--registry", "-r"),
    top: int = typer.Option(5, min=1, max=50, help="how many catalog matches to list"),
) -> None:
    """Which catalog product is this? Lists the best matches with their similarity."""
    import cv2

    from livewarden.config import Settings
    from livewarden.detectors.embedder import Embedder
    from livewarden.detectors.index_cache import for_settings
    from livewarden.detectors.products import ProductIndex
    from livewarden.registry import load_registry

    with _errors():
        reg = load_registry(registry)
    if not reg.products:
        raise _fail("no catalog:", f"{registry} has no products (add `products:` or `catalog: products.csv`)")
    img = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if img is None:
        raise _fail("cannot read image:", f"{image} is missing or not an image file")
    settings = Settings().detectors.products
    reader = None
    if settings.pack_words:
        from livewarden.detectors.ocr import TextReader

        reader = TextReader(languages=("en", "zh"))
    with console.status(f"indexing {len(reg.products)} catalog products (their pictures and printed words)…"):
        index = ProductIndex.from_registry(reg, Embedder(), for_settings(Settings()), reader)
    for rank, m in enumerate(index.lookup(img, k=top, reader=reader, text_weight=settings.text_weight), 1):
        product = reg.product(m.product)
        verdict = "match" if m.similarity >= settings.match_similarity else "below threshold"
        words = f"  words {m.text:.1f}" if m.text else ""
        console.print(f"{rank}. {m.product}  ({product.name if product else ''}, brand {m.brand})  "
                      f"similarity {m.similarity:.3f}{words}  {verdict}  ref {m.ref}", markup=False, soft_wrap=True)


@app.command()
def words(
    line: str = typer.Argument(..., help="a line as said, shown or typed, e.g. 'AAA r3plica 1:1 only $25'"),
    role: str = typer.Option("seller", help="who wrote it: seller, moderator or viewer"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
) -> None:
    """How the matcher reads one line: terms found (and what negates them), prices, and the verdict.

    For lexicon authors: try a new term or a tricky line without running a room.
    """
    from livewarden.detectors.language import matcher_for
    from livewarden.detectors.prices import find_prices
    from livewarden.model import ROLES

    if role not in ROLES:
        raise _fail("unknown role:", f"{role!r}; use one of {', '.join(ROLES)}")
    with _errors():
        matcher = matcher_for(tuple(lexicon or ()))
    assessment = matcher.assess(line)
    for hit in assessment.hits:
        state = f"negated by '{hit.negation}'" if hit.negated else f"weight {hit.weight:.2f}"
        console.print(f"  term {hit.lang}/{hit.term_id}: '{hit.span}' (chars {hit.start}-{hit.end}, "
                      f"normalized '{hit.normalized}'), {state}", markup=False, highlight=False, soft_wrap=True)
    for price in find_prices(line):
        console.print(f"  price: '{price.span}' = {price.amount:g} {price.currency or '(currency unknown)'}",
                      markup=False, highlight=False)
    if role == "viewer":
        verdict = "viewer concern (never an offer)" if assessment.hits else "nothing"
    else:
        verdict = "OFFERS COUNTERFEITS" if assessment.offer else "not an offer"
    console.print(f"score {assessment.score:.2f}: {verdict}", highlight=False)


@app.command()
def demo(
    duration: float = typer.Option(45.0, help="seconds to run (Ctrl-C stops earlier); the outcome check needs ~25 s"),
    workdir: Path = typer.Option(Path("livewarden-data/demo"), help="where the demo registry, clips and store go"),
    rtmp: bool = typer.Option(True, help="stream through a local nginx-rtmp server (falls back to files if absent)"),
    serve: int = typer.Option(8080, "--serve", min=0, max=65535, metavar="PORT",
                              help="run the API and the web console (as `livewarden serve`) on 127.0.0.1:PORT, with "
                                   "demo keys (a free port if PORT is taken; 0: neither)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Stream two sample rooms and watch alerts appear: one seller is authorized for the brand, one is not."""
    from livewarden.testing.demo import run_demo

    _setup_logging(verbose)
    with _errors():  # a registry problem only if the generated assets were tampered with
        ok = run_demo(workdir, duration=duration, use_rtmp=rtmp, console=console, serve_port=serve or None)
    raise typer.Exit(0 if ok else 1)


LONG_LIVED = {"watch", "serve", "demo"}  # they run for hours: on jemalloc (runtime/allocator.py)


def main() -> None:
    if LONG_LIVED & set(sys.argv[1:2]):
        from livewarden.runtime.allocator import run_on_jemalloc

        run_on_jemalloc()
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
