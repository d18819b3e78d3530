"""Command line: demo, watch, scan, registry check."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from livewarden.registry import RegistryError, load_registry

app = typer.Typer(help="livewarden: real-time trust & safety for livestream shopping.", no_args_is_help=True,
                  add_completion=False)
registry_app = typer.Typer(help="Work with registry files.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
console = Console()
err_console = Console(stderr=True)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_path=False)])


def _fail(headline: str, detail: str = "", code: int = 2) -> typer.Exit:
    """Print an error without wrapping (paths stay copyable) and return the Exit to raise."""
    err_console.print(f"[bold red]{headline}[/bold red] {escape(detail)}", soft_wrap=True, highlight=False)
    return typer.Exit(code)


def _load_or_exit(path: Path):
    try:
        return load_registry(path)
    except RegistryError as exc:
        raise _registry_problems(exc) from None


def _registry_problems(exc: RegistryError) -> typer.Exit:
    """List every problem of a registry (file:line: field: what) and return the Exit to raise."""
    err_console.print(f"[bold red]registry has {len(exc.problems)} problem(s):[/bold red]")
    _print_problems(exc)
    return typer.Exit(2)


def _print_problems(exc: RegistryError) -> None:
    for p in exc.problems:
        err_console.print(f"  {p}", markup=False, highlight=False, soft_wrap=True)


def _load_rules_or_exit(path: Optional[Path]):
    from livewarden.policy import load_rules

    try:
        return load_rules(path)
    except RegistryError as exc:
        err_console.print("[bold red]rules file has problems:[/bold red]")
        _print_problems(exc)
        raise typer.Exit(2) from None


@registry_app.command("check")
def registry_check(path: Path = typer.Argument(..., help="registry YAML file")) -> None:
    """Validate a registry and list every problem with file, line and field."""
    reg = _load_or_exit(path)
    if reg.persons:  # a reference photo must show exactly one face: only the face model can tell
        from livewarden.detectors.face_embedder import FaceEmbedder
        from livewarden.detectors.faces import enroll

        try:
            with console.status(f"checking {sum(len(p.photos) for p in reg.persons)} reference photos…"):
                enroll(reg, FaceEmbedder())
        except RegistryError as exc:
            raise _registry_problems(exc) from None
    marks = sum(len(b.marks) for b in reg.brands)
    images = sum(len(p.images) for p in reg.products)
    listings = sum(len(r.listings) for r in reg.rooms)
    console.print(f"[green]ok[/green] {path}: {len(reg.brands)} brands ({marks} marks), "
                  f"{len(reg.products)} products ({images} images), {len(reg.sellers)} sellers, "
                  f"{len(reg.rooms)} rooms ({listings} listings), {len(reg.persons)} protected persons",
                  soft_wrap=True)


def _language(registry, lexicon: Optional[list[Path]]):
    """The language detector over the packaged lexicon plus the user's files; lexicon errors exit naming file:line."""
    from livewarden.detectors.language import LanguageDetector
    from livewarden.detectors.text import LanguageMatcher, Lexicon

    missing = [str(p) for p in lexicon or [] if not p.exists()]
    if missing:
        raise _fail("lexicon not found:", ", ".join(missing))
    try:
        return LanguageDetector(registry, LanguageMatcher(Lexicon.load(lexicon or [])))
    except RegistryError as exc:
        err_console.print("[bold red]lexicon has problems:[/bold red]")
        _print_problems(exc)
        raise typer.Exit(2) from None


# OCR's text detection input (long side) in live rooms, chosen on ocr_accuracy --split dev: the smallest of
# 960/720/640/512 that read dev no worse than 960 in every language (640: CER en 0, zh 0, vi 0.010 vs 0.013;
# 134 vs 283 ms per 720p frame); scans keep 960. The README reports eval at both sizes.
LIVE_OCR_SIDE = 640


def _build(registry, rules_path: Optional[Path], data_dir: Path, language=None, ocr: bool = False,
           live: bool = False):
    """The detectors the registry has material for (marks, catalog, persons, + on-screen text), policy and store."""
    from livewarden.cases import CaseStore
    from livewarden.policy import Policy

    rules = _load_rules_or_exit(rules_path)
    detectors = []
    if ocr and language is not None:
        from livewarden.detectors.ocr import TextReader
        from livewarden.detectors.screen_text import ScreenTextDetector

        detectors.append(ScreenTextDetector(TextReader(options={"max_side": LIVE_OCR_SIDE} if live else {}), language))
    try:
        if any(b.marks for b in registry.brands):
            from livewarden.detectors.marks import MarksDetector

            detectors.append(MarksDetector.from_registry(registry))
        if registry.products:
            from livewarden.detectors.products import ProductsDetector

            with console.status(f"indexing {len(registry.products)} catalog products…"):
                detectors.append(ProductsDetector.from_registry(registry))
        if registry.persons:
            from livewarden.detectors.faces import FacesDetector

            with console.status(f"enrolling {len(registry.persons)} protected persons…"):
                detectors.append(FacesDetector.from_registry(registry))
    except RegistryError as exc:
        raise _registry_problems(exc) from None
    except ValueError as exc:
        raise _fail("cannot build the detectors:", str(exc)) from None
    if not detectors and language is None:
        raise _fail("nothing to look for:", "the registry has no brand marks, no catalog products and no protected persons")
    return detectors, Policy(registry, rules), CaseStore.at(data_dir)


@app.command()
def watch(
    registry: Path = typer.Option(..., "--registry", "-r", help="registry YAML listing the rooms to watch"),
    rules: Optional[Path] = typer.Option(None, help="rules YAML (default: the packaged rules)"),
    data_dir: Path = typer.Option(Path("livewarden-data"), help="where the SQLite store and evidence go"),
    sample_fps: float = typer.Option(2.0, min=0.1, max=30, help="frames analysed per second per room"),
    room: Optional[list[str]] = typer.Option(None, help="watch only these room ids (repeatable)"),
    duration: Optional[float] = typer.Option(None, help="stop after this many seconds (default: until Ctrl-C)"),
    chat: Optional[list[str]] = typer.Option(None, help="chat feed: a JSONL file (followed like tail -f) or a "
                                                         "ws:// / wss:// URL (repeatable); see README 'Feeding chat'"),
    chat_http: Optional[int] = typer.Option(None, min=0, max=65535, help="serve POST /chat on 127.0.0.1:PORT"),
    ocr: bool = typer.Option(False, help="read on-screen text (OCR, <= 1 fps per room; ~0.3 s of a core per read)"),
    speech: bool = typer.Option(False, help="transcribe each room's audio (English; a listener per room)"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Monitor every room in the registry live, until Ctrl-C."""
    from livewarden.runtime.live_view import run_live
    from livewarden.runtime.pipeline import Pipeline, PipelineOptions

    _setup_logging(verbose)
    reg = _load_or_exit(registry)
    if room:
        unknown = sorted(set(room) - {r.id for r in reg.rooms})
        if unknown:
            raise _fail("unknown room(s):", f"{', '.join(unknown)}; {registry} has: "
                                            f"{', '.join(r.id for r in reg.rooms)}")
    if not reg.rooms:
        raise _fail("no rooms to watch:", f"{registry} has no `rooms:` list")
    language = _language(reg, lexicon)
    detectors, policy, store = _build(reg, rules, data_dir, language, ocr=ocr, live=True)
    pipeline = Pipeline(reg, detectors, policy, store,
                        PipelineOptions(sample_fps=sample_fps, realtime=True, speech=speech),
                        rooms=room, language=language, transcriber=_transcriber() if speech else None)
    _add_chat(pipeline, chat or [], chat_http)
    run_live(pipeline, console, duration=duration, title=f"livewarden watch — {len(pipeline.rooms)} rooms")
    _print_summary(store, data_dir)


def _transcriber():
    from livewarden.detectors.speech import SpeechModelMissing, SpeechTranscriber

    try:
        return SpeechTranscriber()
    except SpeechModelMissing as exc:
        raise _fail("speech is not available:", str(exc)) from None


def _add_chat(pipeline, feeds: list[str], http_port: Optional[int]) -> None:
    """Attach the chat feeds named on the command line; a missing file or a bad URL exits naming it."""
    from livewarden.media.chat import JsonlChatSource, WebsocketChatSource

    rooms = list(pipeline.rooms)
    for feed in feeds:
        if feed.startswith(("ws://", "wss://")):
            pipeline.add_chat(lambda on_message, on_error, url=feed:
                              WebsocketChatSource(url, on_message, on_error, rooms=rooms))
        elif "://" in feed:
            raise _fail("chat feed not understood:", f"{feed} (give a JSONL file path or a ws:// / wss:// URL)")
        else:
            if not Path(feed).parent.is_dir():
                raise _fail("chat feed not found:", f"{feed}: folder {Path(feed).parent} does not exist")
            pipeline.add_chat(lambda on_message, on_error, path=feed:
                              JsonlChatSource(path, on_message, on_error, follow=True, rooms=rooms))
    if http_port is not None:
        from livewarden.media.chat.http import HttpChatIngest

        pipeline.add_chat(lambda on_message, on_error: HttpChatIngest(on_message, on_error, port=http_port,
                                                                      rooms=rooms))


def _print_summary(store, data_dir: Path) -> None:
    from livewarden.runtime.live_view import print_alert_summary

    print_alert_summary(console, store)


@app.command()
def scan(
    clip: Path = typer.Argument(..., help="recorded clip (any format FFmpeg reads)"),
    room: str = typer.Option(..., help="room id in the registry (decides which seller's authorizations apply)"),
    registry: Path = typer.Option(..., "--registry", "-r"),
    rules: Optional[Path] = typer.Option(None),
    out: Optional[Path] = typer.Option(None, help="output folder (default: ./livewarden-scan-<clip name>)"),
    sample_fps: float = typer.Option(2.0, min=0.1, max=30),
    ocr: bool = typer.Option(True, help="read on-screen text (OCR, <= 1 fps)"),
    speech: bool = typer.Option(True, help="transcribe the clip's audio (English)"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Analyse a recorded clip faster than real time; write a JSON report with findings, evidence and transcript."""
    from livewarden.runtime.scan import ScanError, scan_clip

    _setup_logging(verbose)
    reg = _load_or_exit(registry)
    if reg.room(room) is None:
        raise _fail("unknown room:", f"{room!r} is not in {registry}; rooms there: "
                                     f"{', '.join(r.id for r in reg.rooms) or '(none)'}")
    out = out or Path(f"livewarden-scan-{clip.stem}")
    language = _language(reg, lexicon)
    detectors, policy, store = _build(reg, rules, out, language, ocr=ocr)
    try:
        report = scan_clip(clip, room, reg, detectors, policy, store, out, sample_fps=sample_fps, console=console,
                           language=language, transcriber=_transcriber() if speech else None)
    except ScanError as exc:
        raise _fail("scan failed:", str(exc), code=1) from None
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
        console.print(f"  [{f['severity']}] {f['rule']} {f['subject']} {f['first_stream_time']:.1f}s–"
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

    from livewarden.detectors.embedder import Embedder
    from livewarden.detectors.products import DEFAULTS, ProductIndex

    reg = _load_or_exit(registry)
    if not reg.products:
        raise _fail("no catalog:", f"{registry} has no products (add `products:` or `catalog: products.csv`)")
    img = cv2.imread(str(image), cv2.IMREAD_COLOR)
    if img is None:
        raise _fail("cannot read image:", f"{image} is missing or not an image file")
    with console.status(f"indexing {len(reg.products)} catalog products…"):
        index = ProductIndex.from_registry(reg, Embedder())
    threshold = DEFAULTS["match_similarity"]
    for rank, m in enumerate(index.lookup(img, k=top), 1):
        product = reg.product(m.product)
        verdict = "match" if m.similarity >= threshold else "below threshold"
        console.print(f"{rank}. {m.product}  ({product.name if product else ''}, brand {m.brand})  "
                      f"similarity {m.similarity:.3f}  {verdict}  ref {m.ref}", markup=False, soft_wrap=True)


@app.command()
def words(
    line: str = typer.Argument(..., help="a line as said, shown or typed, e.g. 'AAA r3plica 1:1 only $25'"),
    role: str = typer.Option("seller", help="who wrote it: seller, moderator or viewer"),
    lexicon: Optional[list[Path]] = typer.Option(None, help="extra lexicon YAML file or folder (repeatable)"),
) -> None:
    """How the matcher reads one line: terms found (and what negates them), prices, and the verdict.

    For lexicon authors: try a new term or a tricky line without running a room.
    """
    from livewarden.detectors.prices import find_prices
    from livewarden.model import ROLES
    from livewarden.registry.schema import Registry

    if role not in ROLES:
        raise _fail("unknown role:", f"{role!r}; use one of {', '.join(ROLES)}")
    matcher = _language(Registry(), lexicon).matcher
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
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Stream two sample rooms and watch alerts appear: one seller is authorized for the brand, one is not."""
    from livewarden.runtime.demo import run_demo

    _setup_logging(verbose)
    try:
        ok = run_demo(workdir, duration=duration, use_rtmp=rtmp, console=console)
    except RegistryError as exc:  # only if the generated assets were tampered with
        _print_problems(exc)
        raise typer.Exit(2) from None
    raise typer.Exit(0 if ok else 1)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
