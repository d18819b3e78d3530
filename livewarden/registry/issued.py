"""The serials brands issued, and how often each was verified or seen live: one SQLite file beside the store.

A brand may issue tens of millions of codes, so they are never held in memory: a `WITHOUT ROWID` table keyed by
(scheme, serial) answers a lookup from the B-tree in a few microseconds, and the product, batch and issue date
many units share are kept once (`lots`). SQLite rather than the cases store's database because the bank is a
registry index the detectors read on every decoded payload, from any process of this machine (WAL), and it
must not load a PostgreSQL server with millions of reference rows that never change.

Counts keep no personal data: a verification adds one to the code's count and moves its first/last time; a
live sighting records the room (rooms are public) once per room.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterator

from livewarden.errors import InputError
from livewarden.registry.schema import CodeScheme, Registry

COLUMNS = ("serial", "product", "batch", "issued_on", "revoked")
TRUE, FALSE = {"1", "true", "yes", "y", "revoked"}, {"", "0", "false", "no", "n"}
BATCH_ROWS = 250_000  # rows sorted and inserted together: the bigger, the fewer B-tree pages each touches
PAD = [[""] * (len(COLUMNS) - n) for n in range(len(COLUMNS) + 1)]
MAX_ERRORS_SHOWN = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schemes (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS lots (id INTEGER PRIMARY KEY, product TEXT, batch TEXT, issued_on TEXT);
CREATE TABLE IF NOT EXISTS issued (scheme INTEGER NOT NULL, serial TEXT NOT NULL, lot INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (scheme, serial)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS verifications (scheme INTEGER NOT NULL, serial TEXT NOT NULL, count INTEGER NOT NULL,
    first_at REAL NOT NULL, last_at REAL NOT NULL, PRIMARY KEY (scheme, serial)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sightings (scheme INTEGER NOT NULL, serial TEXT NOT NULL, room TEXT NOT NULL,
    first_at REAL NOT NULL, last_at REAL NOT NULL, PRIMARY KEY (scheme, serial, room)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imports (scheme INTEGER NOT NULL, file TEXT NOT NULL, size INTEGER, mtime_ns INTEGER,
    rows INTEGER, at REAL, PRIMARY KEY (scheme, file));
"""


class CodesFileError(InputError):
    """An issued-codes file cannot be read at all (missing, not text)."""


@dataclass(frozen=True)
class Issued:
    product: str | None
    batch: str | None
    issued_on: str | None
    revoked: bool


@dataclass(frozen=True)
class CodeStatus:
    """One code as the bank knows it: issued (None: never), buyer verifications, live rooms it was seen in."""

    issued: Issued | None
    verified: int = 0
    first_verified_at: float | None = None
    last_verified_at: float | None = None
    live_rooms: int = 0


@dataclass
class ImportReport:
    file: Path
    accepted: int = 0
    errors: list[str] = field(default_factory=list)  # "file:line: what is wrong"
    bad_rows: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        shown = "\n".join(self.errors[:MAX_ERRORS_SHOWN])
        more = f"\n… and {self.bad_rows - MAX_ERRORS_SHOWN} more" if self.bad_rows > MAX_ERRORS_SHOWN else ""
        head = f"{self.file}: {self.accepted:,} codes imported in {self.seconds:.1f} s"
        return head + (f", {self.bad_rows:,} rows refused:\n{shown}{more}" if self.bad_rows else "")


Progress = Callable[[int, int], None]  # (bytes read, bytes in all)


class IssuedCodes:
    """The bank. Safe to share between threads (one connection, one lock; each call is short)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA page_size = 16384")  # (a new file only) fewer, fuller pages for 10 M keys
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._scheme_ids: dict[str, int] = {}

    def close(self) -> None:
        self._db.close()

    def _scheme(self, name: str) -> int:
        sid = self._scheme_ids.get(name)
        if sid is None:
            self._db.execute("INSERT OR IGNORE INTO schemes (name) VALUES (?)", (name,))
            sid = self._db.execute("SELECT id FROM schemes WHERE name = ?", (name,)).fetchone()[0]
            self._scheme_ids[name] = sid
        return sid

    # --- reading -------------------------------------------------------------------------------------------

    def lookup(self, scheme: str, serial: str) -> Issued | None:
        with self._lock:
            row = self._db.execute(
                "SELECT l.product, l.batch, l.issued_on, i.revoked FROM issued i LEFT JOIN lots l ON l.id = i.lot "
                "WHERE i.scheme = ? AND i.serial = ?", (self._scheme(scheme), serial)).fetchone()
        return None if row is None else Issued(row[0], row[1], row[2], bool(row[3]))

    def status(self, scheme: str, serial: str) -> CodeStatus:
        issued = self.lookup(scheme, serial)
        with self._lock:
            sid = self._scheme(scheme)
            v = self._db.execute("SELECT count, first_at, last_at FROM verifications WHERE scheme = ? AND serial = ?",
                                 (sid, serial)).fetchone()
            rooms = self._db.execute("SELECT count(*) FROM sightings WHERE scheme = ? AND serial = ?",
                                     (sid, serial)).fetchone()[0]
        return CodeStatus(issued, *(v or (0, None, None)), live_rooms=rooms)

    def count(self, scheme: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM issued WHERE scheme = ?", (self._scheme(scheme),)).fetchone()[0]

    def statistics(self, scheme: CodeScheme) -> dict:
        """A brand's scan statistics for one scheme: what it issued, what buyers verified, what rooms showed."""
        with self._lock:
            sid = self._scheme(scheme.id)
            one = lambda sql: self._db.execute(sql, (sid,)).fetchone()  # noqa: E731
            issued, revoked = one("SELECT count(*), coalesce(sum(revoked), 0) FROM issued WHERE scheme = ?")
            codes, scans = one("SELECT count(*), coalesce(sum(count), 0) FROM verifications WHERE scheme = ?")
            over = self._db.execute("SELECT count(*) FROM verifications WHERE scheme = ? AND count > ?",
                                    (sid, scheme.max_verifications)).fetchone()[0]
            never = one("SELECT count(*) FROM verifications v WHERE scheme = ? AND NOT EXISTS "
                        "(SELECT 1 FROM issued i WHERE i.scheme = v.scheme AND i.serial = v.serial)")[0]
            live = one("SELECT count(DISTINCT serial), count(DISTINCT room) FROM sightings WHERE scheme = ?")
        return {"scheme": scheme.id, "brand": scheme.brand, "issued": issued, "revoked": revoked,
                "verified_codes": codes, "verifications": scans, "verified_over_limit": over,
                "verified_never_issued": never, "seen_live_codes": live[0], "seen_live_rooms": live[1]}

    # --- counting ------------------------------------------------------------------------------------------

    def verify(self, scheme: str, serial: str, now: float | None = None) -> CodeStatus:
        """A buyer checked this code: count it (no one's identity is kept), then its status."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "INSERT INTO verifications (scheme, serial, count, first_at, last_at) VALUES (?, ?, 1, ?, ?) "
                "ON CONFLICT (scheme, serial) DO UPDATE SET count = count + 1, last_at = excluded.last_at",
                (self._scheme(scheme), serial, now, now))
        return self.status(scheme, serial)

    def record_sighting(self, scheme: str, serial: str, room_id: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute(
                "INSERT INTO sightings (scheme, serial, room, first_at, last_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (scheme, serial, room) DO UPDATE SET last_at = excluded.last_at",
                (self._scheme(scheme), serial, room_id, now, now))

    # --- importing -----------------------------------------------------------------------------------------

    def sync(self, registry: Registry, report: Callable[[ImportReport], None] | None = None,
             progress: Callable[[CodeScheme, Path], Progress | None] | None = None) -> list[ImportReport]:
        """Import each scheme's `issued` files that changed since they were last imported (size, mtime)."""
        products = {p.id for p in registry.products}
        done = []
        for scheme in registry.code_schemes:
            for path in scheme.issued:
                if not path.is_file():
                    raise CodesFileError(f"{path}: the issued codes file of code scheme {scheme.id!r} is gone")
                stat = path.stat()
                with self._lock:
                    seen = self._db.execute("SELECT size, mtime_ns FROM imports WHERE scheme = ? AND file = ?",
                                            (self._scheme(scheme.id), str(path))).fetchone()
                if seen == (stat.st_size, stat.st_mtime_ns):
                    continue
                result = self.import_file(scheme, path, products, progress(scheme, path) if progress else None)
                done.append(result)
                if report:
                    report(result)
        return done

    def import_file(self, scheme: CodeScheme, path: str | Path, products: set[str] | None = None,
                    progress: Progress | None = None) -> ImportReport:
        """Import a CSV (`serial[,product,batch,issued_on,revoked]`, a header row naming them) or a TXT file (one
        serial a line). Good rows are imported, bad ones listed as file:line; a serial imported again is updated
        (a corrected file is imported again as it is)."""
        path = Path(path)
        start = time.perf_counter()
        result = ImportReport(path)
        pattern = re.compile(scheme.pattern) if scheme.pattern else None
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise CodesFileError(f"{path}: cannot read the issued codes file: {exc.strerror}") from None
        total = path.stat().st_size
        lots: dict[tuple, int] = {}
        with self._lock:
            sid = self._scheme(scheme.id)
            for row in self._db.execute("SELECT id, product, batch, issued_on FROM lots"):
                lots[row[1:]] = row[0]
            self._db.execute("PRAGMA cache_size = -262144")  # 256 MB while importing: the B-tree stays in memory
            self._db.execute("BEGIN")
            try:
                batch: list[tuple] = []
                check = _checker(pattern, products)
                last_lot: tuple | None = None
                lot_id = None
                for line, fields, problem in _rows(handle, path):
                    if problem is None:
                        row, problem = check(fields)
                    if problem is not None:
                        result.bad_rows += 1
                        if len(result.errors) < MAX_ERRORS_SHOWN:
                            result.errors.append(f"{path}:{line}: {problem}")
                        continue
                    serial, lot, revoked = row
                    if lot != last_lot:  # rows of one batch come together: one lookup per batch, not per row
                        last_lot, lot_id = lot, lots.get(lot) if lot is not None else None
                        if lot is not None and lot_id is None:
                            lot_id = lots[lot] = self._db.execute(
                                "INSERT INTO lots (product, batch, issued_on) VALUES (?, ?, ?)", lot).lastrowid
                    batch.append((sid, serial, lot_id, revoked))
                    if len(batch) >= BATCH_ROWS:
                        self._insert(batch)
                        result.accepted += len(batch)
                        batch = []
                        if progress:
                            progress(handle.tell(), total)
                self._insert(batch)
                result.accepted += len(batch)
                stat = path.stat()
                self._db.execute("INSERT OR REPLACE INTO imports VALUES (?, ?, ?, ?, ?, ?)",
                                 (sid, str(path), stat.st_size, stat.st_mtime_ns, result.accepted, time.time()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                handle.close()
                self._db.execute("PRAGMA cache_size = -2000")
        if progress:
            progress(total, total)
        result.seconds = time.perf_counter() - start
        return result

    def _insert(self, rows: list[tuple]) -> None:
        rows.sort(key=itemgetter(1))  # in key order the B-tree is filled page by page, not at random
        self._db.executemany("INSERT OR REPLACE INTO issued (scheme, serial, lot, revoked) VALUES (?, ?, ?, ?)", rows)


def _rows(handle, path: Path) -> Iterator[tuple[int, list[str], str | None]]:
    """(line, fields, problem) per data row of a CSV with a header, or of a TXT file of serials."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    try:
        first = text.readline()
    except UnicodeDecodeError:
        raise CodesFileError(f"{path}:1: not UTF-8 text") from None
    header = [h.strip().lower() for h in next(csv.reader([first]))] if first.strip() else []
    if header and header[0] == "serial":
        unknown = [h for h in header if h not in COLUMNS]
        if unknown:
            raise CodesFileError(f"{path}:1: unknown column(s) {', '.join(unknown)}; the columns are "
                               f"{', '.join(COLUMNS)} (serial first)")
        order = [COLUMNS.index(h) for h in header]
        in_order = order == list(range(len(order)))
        reader = csv.reader(text)
        line = 1
        try:
            for fields in reader:
                line = reader.line_num + 1
                if not fields or fields == [""]:
                    continue
                if len(fields) > len(order):
                    yield line, [], f"{len(fields)} fields, the header names {len(order)}"
                    continue
                if in_order:  # the usual header: the columns in their own order, the last ones maybe left out
                    yield line, fields + PAD[len(fields)], None
                    continue
                row = [""] * len(COLUMNS)
                for i, value in zip(order, fields):
                    row[i] = value
                yield line, row, None
        except UnicodeDecodeError:
            raise CodesFileError(f"{path}:{line + 1}: not UTF-8 text") from None
        except csv.Error as exc:
            raise CodesFileError(f"{path}:{line + 1}: {exc}") from None
        return
    line = 1
    try:
        if first.strip():
            yield 1, [first.strip(), "", "", "", ""], None
        for line, raw in enumerate(text, start=2):
            if raw.strip():
                yield line, [raw.strip(), "", "", "", ""], None
    except UnicodeDecodeError:
        raise CodesFileError(f"{path}:{line + 1}: not UTF-8 text") from None


def _checker(pattern: re.Pattern | None, products: set[str] | None):
    """check(fields) -> ((serial, lot, revoked), None) for a good row, (None, what is wrong) for a bad one.
    Issue dates repeat for a whole batch: each one is parsed once."""
    dates: dict[str, bool] = {}

    def check(fields: list[str]):
        serial, product, batch, issued_on, revoked = fields
        serial = serial.strip()
        if not serial:
            return None, "the serial is empty"
        if len(serial) > 128:
            return None, f"the serial is {len(serial)} characters long (at most 128)"
        if pattern is not None and not pattern.fullmatch(serial):
            return None, f"serial {serial!r} does not match the scheme's pattern {pattern.pattern!r}"
        product, batch, issued_on = product.strip(), batch.strip(), issued_on.strip()
        if product and products is not None and product not in products:
            return None, f"unknown product {product!r}"
        if issued_on:
            ok = dates.get(issued_on)
            if ok is None:
                try:
                    dt.date.fromisoformat(issued_on)
                    ok = True
                except ValueError:
                    ok = False
                if len(dates) < 100_000:
                    dates[issued_on] = ok
            if not ok:
                return None, f"issued_on {issued_on!r} is not a date (YYYY-MM-DD)"
        flag = revoked.strip().lower() if revoked else ""
        if flag not in TRUE and flag not in FALSE:
            return None, f"revoked {revoked!r} is not true/false"
        lot = (product or None, batch or None, issued_on or None) if product or batch or issued_on else None
        return (serial, lot, int(flag in TRUE)), None

    return check


def bank_for(settings) -> IssuedCodes:
    """The bank of the settings' data directory (the same file for the pipeline, the server and the CLI)."""
    return IssuedCodes(Path(settings.store.data_dir) / "codes.db")
