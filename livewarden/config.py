"""Settings: every knob of a run, from defaults, a YAML file, LIVEWARDEN_* variables and the command line.

One sub-model per detector (its tuning constants, typed, with why each has
its value), the runtime, the store, the policy and the API. Precedence, last
wins: defaults < settings file < environment (`LIVEWARDEN_RUNTIME__SAMPLE_FPS=4`,
nested with `__`) < command-line options. A bad value names the file and line,
or the variable, it came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from livewarden.errors import Problem, SettingsError

ENV_PREFIX = "LIVEWARDEN_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MarksSettings(_Section):
    """Brand marks: ORB + FLANN-LSH + homography.

    Thresholds chosen on `benchmarks/marks_accuracy.py --split dev --sweep` (precision first: 1.0 on dev from 8
    to 40 inliers; 12 kept as margin for many rooms x frames), checked on generated 1280x720 scenes. Speed on
    1280x720 with 20 references, one core: ~25-33 ms/frame with frame_features=1500.
    """

    enabled: bool = True  # (runs only when some brand has marks)
    ref_size: int = 300  # long side of a reference mark once loaded, px
    ref_features: int = 600  # keypoints kept per reference
    ref_levels: int = 12  # ORB pyramid levels (x1.2) for references
    frame_size: int = 960  # long side of the working copy of a frame, px
    frame_features: int = 1500  # keypoints kept per frame
    lsh_tables: int = 4  # FLANN-LSH: fewer tables / longer keys = faster, fewer true neighbours found
    lsh_key_bits: int = 16
    max_hamming: int = 64  # of 256 bits: farther neighbours are never a match
    ratio: float = 0.85  # Lowe ratio, against the best neighbour of ANOTHER brand
    neighbours: int = 4  # k of the kNN search, so every variant of one brand gets its match
    reproj_px: float = 5.0  # RANSAC reprojection threshold in working-frame px
    min_inliers: int = 12  # confidence 0.5 here; fewer inliers are not reported
    strong_inliers: int = 24  # confidence 0.8 here
    min_inlier_span: float = 0.15  # inliers' hull must cover this share of the reference outline
    min_area_px: int = 400  # smallest quad in working-frame px^2
    max_aspect_change: float = 3.0  # quad aspect vs reference aspect
    max_side_ratio: float = 4.0  # opposite sides of the quad
    refresh_s: float = 4.0  # live rooms: full search at least this often; in between only changed tiles


class ProductsSettings(_Section):
    """Catalog products: EfficientNet-Lite0 embeddings + FAISS, confirmed by the marks machinery on pack shots.

    match_similarity is the open-set threshold benchmarks/products_accuracy.py chose on ../shared/data/products/dev
    (at most 5% of photos of products missing from the catalog pass; 0.55 kept); the policy's K hits in W seconds
    does the rest.
    """

    enabled: bool = True  # (runs only when the registry has a catalog)
    match_similarity: float = 0.55  # a crop must be this close to a catalog image to be a candidate at all
    strong_similarity: float = 0.70  # (confidence scale of embedding matches: 0.5 at match_, 0.8 at strong_)
    unverified_similarity: float = 0.90  # without local-feature confirmation, only this close a match counts
    min_margin: float = 0.04  # over the best OTHER product: two near-equal candidates mean neither is sure
    unknown_likeness: float = 0.5  # ImageNet mass on product-like classes for an unmatched crop
    thumb_width: int = 160  # background model resolution
    diff_level: int = 28  # grey-level change that counts as foreground
    background_rate: float = 0.05  # share of a new frame blended into the background (per analysed frame)
    min_blob_share: float = 0.01  # smallest candidate, as a share of the frame
    max_blob_share: float = 0.6  # larger changes are a cut or camera move, not a product
    candidates: int = 3  # largest blobs that are cropped and embedded
    crop_margin: float = 0.08  # share of the blob added on each side before embedding
    reuse_s: float = 1.0  # the same region in the same room is embedded again only after this long
    reuse_max_change: float = 12.0  # ... if its 16x16 grey thumbnail changed less than this (mean abs grey levels)
    sweep_s: float = 4.0  # while nothing is recognised, the whole frame is searched for pack shots this often
    # `lookup` reads the words printed on the packs and on the photo (pack_words.py) and ranks by similarity +
    # text_weight x word score (chosen on products/dev); live rooms do not read them (see the README's figures)
    pack_words: bool = True
    text_weight: float = 0.02


class FacesSettings(_Section):
    """Protected persons: dlib HOG detector, 5 landmarks, 128-d descriptors.

    match_distance: benchmarks/faces_accuracy.py on ../shared/data/faces/dev, open-set protocol (leave one person
    out of a two-photo gallery): the middle of the gap between the largest distance of a right match (0.442) and
    the smallest distance of a non-enrolled face (0.649).
    """

    enabled: bool = True  # (runs only when the registry has protected persons)
    match_distance: float = 0.546  # confidence 0.5
    strong_distance: float = 0.45  # confidence 0.8
    min_face_px: int = 40  # smaller faces are too blurry to accuse anyone
    redescribe_s: float = 8.0  # a tracked face (same place, re-located every ~2 s) is described again after this
    track_iou: float = 0.4  # overlap with last frame's face that makes it the same face
    locate_side: int = 800  # frames are searched at this long side: ~33 ms, faces from ~100 px in 720p
    locate_every_s: float = 2.0  # faces are located at most this often per room; in between, tracks answer
    full_search_every_s: float = 6.0  # between full-frame searches, only the regions around known faces
    region_margin: float = 0.75  # a known face's region: its box grown by this much of its width on each side
    region_face_px: int = 100  # the region is scaled so the face is about this wide (HOG's window is 80 px)
    # between locations, a face whose box changed more than this (mean abs grey levels of 16x16 thumbnails) is
    # looked for again at once: real talking heads (video/dev) change it 1-31 within 2 s, a face taken away
    # from a generated room 48-65
    gone_change: float = 40.0


class LanguageSettings(_Section):
    """Counterfeit talk, viewers' concern and stated prices in chat (and, through screen_text/speech, OCR/ASR)."""

    enabled: bool = True
    lexicon: list[Path] = Field(default_factory=list)  # extra lexicon YAML files or folders (beside the packaged)
    classifier: bool = True  # the learned second reader of seller-side lines (detectors/offer_classifier.py)


class ScreenTextSettings(_Section):
    """On-screen text (OCR), read at most once per `every_s` per room: ~0.1-0.3 s of a core per read."""

    enabled: bool = False
    every_s: float = 1.0
    min_confidence: float = 0.6  # OCR lines below this are noise ("__" from a noisy strip)
    # detection input (long side) in live rooms, chosen on ocr_accuracy --split dev: the smallest of
    # 960/720/640/512 that read dev no worse than 960 in every language (640: CER en 0, zh 0, vi 0.010 vs 0.013;
    # 134 vs 283 ms per 720p frame); scans keep 960
    live_max_side: int = 640
    scan_max_side: int = 960
    # a line naming a registered brand (its `words:`) is a mark sighting at this confidence x the line's:
    # below the review line of unauthorized_brand (0.65), so a name read alone asks for review, never a red flag
    word_marks: bool = True
    word_mark_confidence: float = Field(0.6, gt=0, le=1)


class SpeechSettings(_Section):
    """Speech (faster-whisper: tiny.en or the multilingual base) over overlapping audio windows, one per room."""

    enabled: bool = False
    model: Literal["auto", "base", "tiny.en"] = "auto"  # auto: tiny.en for rooms declaring only English
    window_s: float = 5.0
    overlap_s: float = 1.0  # a word cut at a window's edge is heard whole in the next window
    workers: int = Field(1, ge=1)  # transcriptions at once, all rooms together (the speech budget, one core each)
    model_dir: Path | None = None  # default: the packaged model


class BroadcastSettings(_Section):
    """The broadcast itself: loops and frozen pictures (the room against its own past), registered broadcasts
    (the bank), and a frame fingerprint per inspected frame for the policy's same-stream-in-two-rooms check.

    Loop thresholds chosen on video/dev clips looped, played back and forth, and played once
    (benchmarks/loop_accuracy.py --split dev); see detectors/loops.py for what each test keeps out.
    """

    enabled: bool = True
    every_s: float = Field(0.5, gt=0)  # a room's frames are hashed at most this often (stream clock)
    loop_max_period_s: float = Field(3600.0, gt=0)  # the ring: a room's last hour, ~0.5 MB
    loop_min_period_s: float = Field(5.0, gt=0)
    loop_window_s: float = Field(8.0, gt=0)  # this much of the room must repeat before a loop is called
    frozen_after_s: float = Field(30.0, gt=0)  # a picture still this long (bar a clock or counter) is frozen
    bank_window_s: float = Field(12.0, gt=0)  # a room's recent frames judged together against the bank
    bank_min_frames: int = Field(4, ge=1)  # matched frames (at one offset into the broadcast) for a match
    keyframe_every_s: float = Field(1.0, ge=0)  # a frame the hashes do not place is looked up by its local
    # features at most this often (crops, banners, picture-in-picture: detectors/keyframes.py); 0: never
    keyframe_same_bits: int = Field(31, ge=0, le=256)  # ...and only when its picture moved this far (PDQ bits,
    # PDQ's own same-picture distance) from the last one looked up, or `keyframe_recheck_s` passed
    keyframe_recheck_s: float = Field(10.0, gt=0)
    bank_dir: Path | None = None  # a saved bank (BroadcastBank.save) loaded beside the registry's recordings


class CodesSettings(_Section):
    """Traceability codes (QR, DataMatrix, EAN/UPC, Code 128) read with zxing-cpp, ~4 ms a 720p frame."""

    enabled: bool = True
    every_s: float = Field(0.25, ge=0)  # a room's frames are read at most this often (stream clock)
    unambiguous_confidence: float = Field(0.95, gt=0, le=1)  # a GS1 link or the brand's URL: red flags
    ambiguous_confidence: float = Field(0.7, gt=0, le=1)  # a bare serial or a GTIN: for review


class DetectorSettings(_Section):
    marks: MarksSettings = Field(default_factory=MarksSettings)
    products: ProductsSettings = Field(default_factory=ProductsSettings)
    faces: FacesSettings = Field(default_factory=FacesSettings)
    language: LanguageSettings = Field(default_factory=LanguageSettings)
    screen_text: ScreenTextSettings = Field(default_factory=ScreenTextSettings)
    speech: SpeechSettings = Field(default_factory=SpeechSettings)
    broadcast: BroadcastSettings = Field(default_factory=BroadcastSettings)
    codes: CodesSettings = Field(default_factory=CodesSettings)


class RuntimeSettings(_Section):
    sample_fps: float = Field(2.0, ge=0.1, le=30)  # frames analysed per second per room
    workers: int | None = Field(None, ge=1)  # detector threads (default: one per core)
    change_gate: bool = True  # skip frames that did not change
    realtime: bool | None = None  # None: live URLs in real time, files as fast as possible
    offline: bool = False  # scans: never drop a sampled frame
    evidence_every_s: float = Field(1.0, gt=0)  # evidence is cut at most this often per (room, kind, subject)
    evidence_keep_s: float = Field(300.0, gt=0)  # spooled evidence no alert kept is removed after this long


def _default_index_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "livewarden" / "index"


class StoreSettings(_Section):
    data_dir: Path = Path("livewarden-data")  # the SQLite file and the evidence folder
    url: str | None = None  # any SQLAlchemy URL (postgresql+psycopg://...); default: SQLite under data_dir
    # detectors' registry indexes (catalog embeddings, enrolled faces, mark features), keyed by what they were
    # built from: shared by every run on this machine, so a second scan does not build them again
    index_dir: Path = Field(default_factory=_default_index_dir)


class BusSettings(_Section):
    """Between detection and policy: in process (the default), or Redis Streams when `url` is set."""

    url: str | None = None  # redis://host:6379/0 (signals on Redis Streams: runtime/redis_bus.py)
    prefix: str = "lw:"  # of every key, so several deployments can share one Redis
    partitions: int = Field(16, ge=1, le=1024)  # signal streams; a room's signals stay in one, in order
    lease_s: float = Field(5.0, gt=0)  # a dead consumer's partitions are taken over after this long
    max_deliveries: int = Field(5, ge=1)  # a signal whose handler raised this often is parked
    # how long a worker's evidence files wait in Redis for the policy process that keeps them (from another
    # machine); a policy that is down longer commits its alerts without those files
    evidence_ttl_s: float = Field(600.0, gt=0)
    # the room board (runtime/room_board.py): how often a watcher posts its rooms' health for API servers
    # elsewhere, after how long without a post a room is shown lost, how long a room no one posts stays on the
    # board, and how often a room's thumbnail goes with its post (0: never; ~10 KB each)
    board_every_s: float = Field(1.0, gt=0)
    board_stale_s: float = Field(10.0, gt=0)
    board_keep_s: float = Field(3600.0, gt=0)
    board_thumbnail_s: float = Field(5.0, ge=0)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"bus.url must be a redis:// (or rediss://, unix://) URL, not {url.split('@')[-1]!r}")
        return url


class PolicySettings(_Section):
    rules: Path | None = None  # rules YAML (default: the packaged rules)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_upload_mb: float = Field(500, gt=0)  # a self-check clip (POST /scans)
    # the public verification page (GET /verify): checks per client address (`limits` notation)
    verify_limit: str = Field("20/minute", pattern=r"^\d+\s*/\s*(second|minute|hour|day)$")
    max_scan_s: float = Field(1800, gt=0)  # and its duration: half an hour of broadcast
    # requests worked on at once (the others wait their turn): more threads than this only fight over
    # Python's interpreter lock, and an overloaded server then spent 3x the CPU per request
    worker_threads: int = Field(6, ge=1, le=200)


class CasesSettings(_Section):
    """The clocks of notice-and-takedown."""

    notice_sla_s: float = Field(24 * 3600, gt=0)  # a notice is acted on within this (DSA: "timely")
    counter_window_s: float = Field(15 * 86400, gt=0)  # after a counter-notice, the rights holder has this long
    # to answer before the measure is lifted (China E-Commerce Law Art. 43: 15 days)
    claim_ttl_s: float = Field(600, gt=0)  # a moderator's claim on a case lapses after this
    trusted_flaggers: list[str] = Field(default_factory=list)  # tenants whose notices are handled first (DSA Art. 22)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid",
                                      validate_assignment=True)

    detectors: DetectorSettings = Field(default_factory=DetectorSettings)
    runtime: RuntimeSettings = Field(default_factory=RuntimeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    bus: BusSettings = Field(default_factory=BusSettings)
    cases: CasesSettings = Field(default_factory=CasesSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        # the file's values come in as init values (see load_settings); the environment overrides them
        return env_settings, init_settings

    def with_overrides(self, overrides: dict[str, Any]) -> "Settings":
        """A copy with dotted overrides applied ({"runtime.sample_fps": 4}); None values are skipped."""
        data = self.model_dump()
        for dotted, value in overrides.items():
            if value is None:
                continue
            *path, last = dotted.split(".")
            node = data
            for part in path:
                node = node[part]
            node[last] = value
        try:
            return Settings.model_validate(data)
        except ValidationError as exc:
            raise SettingsError([Problem("command line", None, ".".join(map(str, e["loc"])), e["msg"])
                                 for e in exc.errors()]) from None


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults < `path` (YAML) < LIVEWARDEN_* environment < `overrides` (dotted keys, from the command line)."""
    from livewarden.registry.located import read_yaml

    doc = read_yaml(Path(path), "settings") if path else None
    data = (doc.data or {}) if doc else {}
    if not isinstance(data, dict):
        raise SettingsError([Problem(str(path), 1, "", "a settings file is a mapping (runtime:, detectors:, ...)")])
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            var = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
            if var in os.environ:
                problems.append(Problem(f"environment {var}", None, "", f"{os.environ[var]!r}: {e['msg']}"))
            elif doc is not None:
                problems.append(doc.problem(loc, e["msg"]))
            else:
                problems.append(Problem("environment", None, ".".join(map(str, loc)), e["msg"]))
        raise SettingsError(problems) from None
    return settings.with_overrides(overrides or {})
